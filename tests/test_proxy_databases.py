"""Real database clients through the fault proxy: MariaDB (MySQL's protocol, where the server speaks
first), Redis and PostgreSQL — with no toxic (the data byte for byte), with latency (per turn, turns
counted), and with every other toxic the proxy offers."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dbservers import MariaDB, Redis

from uxchaos.demo.db import PostgresServer
from uxchaos.proxy import ProxyHub, ToxicError

BLOB = os.urandom(200_000)  # every byte value, in no pattern a slip could hide in


@dataclass
class Protocol:
    """One database behind the proxy, through its real client: `turn` is one request the client
    awaits the answer of; `blob` reads BLOB back (one turn)."""

    name: str
    direct: str  # host:port of the server itself
    open: Callable[[str], Any]
    turn: Callable[[Any], object]
    blob: Callable[[Any], bytes]
    close: Callable[[Any], None]
    errors: tuple[type[BaseException], ...]


def _mariadb(server: MariaDB) -> Protocol:
    import pymysql

    with server.connect(server.address, database=None) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS uxtest")
        cur.execute("CREATE TABLE IF NOT EXISTS uxtest.blobs (id INT PRIMARY KEY, data LONGBLOB)")
        cur.execute("REPLACE INTO uxtest.blobs VALUES (1, %s)", (BLOB,))

    def query(conn: Any, sql: str) -> Any:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()

    return Protocol("mariadb", server.address, server.connect, lambda c: query(c, "SELECT 1"),
                    lambda c: bytes(query(c, "SELECT data FROM blobs WHERE id = 1")[0]), lambda c: c.close(),
                    (pymysql.err.OperationalError, pymysql.err.InterfaceError, ConnectionError))


def _redis(server: Redis) -> Protocol:
    import redis

    server.connect(server.address).set("blob", BLOB)
    return Protocol("redis", server.address, server.connect, lambda c: c.ping(), lambda c: c.get("blob"),
                    lambda c: c.close(), (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError))


def _postgres(server: PostgresServer) -> Protocol:
    import psycopg

    def connect(address: str) -> Any:
        host, port = address.rsplit(":", 1)
        # psycopg prepares a statement on its sixth use, a turn of its own: not in these counts
        return psycopg.connect(PostgresServer.dsn_for(host, int(port)), autocommit=True, prepare_threshold=None)

    with connect(f"127.0.0.1:{server.port}") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS blobs (id INT PRIMARY KEY, data BYTEA)")
        conn.execute("INSERT INTO blobs VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET data = excluded.data", (BLOB,))
    return Protocol("postgres", f"127.0.0.1:{server.port}", connect,
                    lambda c: c.execute("SELECT 1").fetchone(),
                    lambda c: bytes(c.execute("SELECT data FROM blobs WHERE id = 1").fetchone()[0]),
                    lambda c: c.close(), (psycopg.OperationalError, psycopg.InterfaceError))


@pytest.fixture(scope="module", params=["mariadb", "redis", "postgres"])
def protocol(request: pytest.FixtureRequest) -> Iterator[Protocol]:
    servers = {"mariadb": MariaDB, "redis": Redis, "postgres": PostgresServer}
    server = servers[request.param]()
    try:
        server.start()
        yield {"mariadb": _mariadb, "redis": _redis, "postgres": _postgres}[request.param](server)  # type: ignore[operator]
    finally:
        server.stop()


@pytest.fixture
def db(hub: ProxyHub, protocol: Protocol) -> Iterator[tuple[Protocol, str]]:
    """A proxy in front of the database: (the protocol, the proxy's listen address)."""
    listen = hub.create(protocol.name, protocol.direct)["listen"]
    yield protocol, listen


def _timed_turn(protocol: Protocol, conn: Any) -> float:
    t = time.perf_counter()
    protocol.turn(conn)
    return time.perf_counter() - t


def test_client_works_byte_for_byte_without_toxics(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)
        assert protocol.blob(conn) == BLOB
    finally:
        protocol.close(conn)
    assert hub.describe(protocol.name)["total_connections"] == 1


def test_turns_counted_equal_the_awaited_answers(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)  # the connection and its set-up are behind us
        before = hub.describe(protocol.name)["round_trips"]
        for _ in range(12):
            protocol.turn(conn)
        protocol.blob(conn)  # 200 kB answered in many pieces: still one turn
        counted = hub.describe(protocol.name)["round_trips"] - before
    finally:
        protocol.close(conn)
    assert counted == 13


@pytest.mark.timing
def test_latency_is_added_to_every_turn(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)
        base = statistics.median(_timed_turn(protocol, conn) for _ in range(11))
        hub.add_toxic(protocol.name, {"type": "latency", "attributes": {"latency": 50}})
        before = hub.describe(protocol.name)["round_trips"]
        delayed = statistics.median(_timed_turn(protocol, conn) for _ in range(11))
        counted = hub.describe(protocol.name)["round_trips"] - before
    finally:
        protocol.close(conn)
    added_ms = (delayed - base) * 1000
    assert abs(added_ms - 50) <= 2, f"{protocol.name}: requested 50 ms per turn, measured {added_ms:.2f} ms"
    assert counted == 11


def test_latency_on_connect_and_every_turn_keeps_queries_working(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    """Generous bounds, for any machine: the set-up and the queries are delayed, and nothing breaks."""
    protocol, listen = db
    hub.add_toxic(protocol.name, {"type": "latency", "stream": "both", "attributes": {"latency": 20, "jitter": 5}})
    conn = protocol.open(listen)
    try:
        assert _timed_turn(protocol, conn) >= 0.025
        assert protocol.blob(conn) == BLOB
    finally:
        protocol.close(conn)


def test_bandwidth_slows_a_big_answer_and_keeps_it_whole(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)
        hub.add_toxic(protocol.name, {"type": "bandwidth", "attributes": {"rate": 500}})  # 500 KB/s
        t = time.perf_counter()
        assert protocol.blob(conn) == BLOB
        took = time.perf_counter() - t
    finally:
        protocol.close(conn)
    assert took >= 0.9 * len(BLOB) / 500_000, f"{protocol.name}: 200 kB at 500 KB/s took {took:.3f} s"


def test_slicer_cuts_answers_into_pieces_and_keeps_them_whole(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    hub.add_toxic(protocol.name, {"type": "slicer", "attributes": {"average_size": 7, "size_variation": 5,
                                                                    "delay": 0}})
    hub.add_toxic(protocol.name, {"type": "slicer", "stream": "upstream",
                                  "attributes": {"average_size": 3, "size_variation": 2, "delay": 10}})
    conn = protocol.open(listen)  # the handshake itself arrives in pieces of a few bytes
    try:
        protocol.turn(conn)
        assert protocol.blob(conn) == BLOB
    finally:
        protocol.close(conn)


@pytest.mark.parametrize("toxic", [
    {"type": "timeout", "attributes": {"timeout": 300}},
    {"type": "reset_peer", "attributes": {"timeout": 0}},
    {"type": "limit_data", "attributes": {"bytes": 5000}},
], ids=["timeout", "reset_peer", "limit_data"])
def test_breaking_toxics_end_the_clients_connection(db: tuple[Protocol, str], hub: ProxyHub,
                                                     toxic: dict[str, Any]) -> None:
    """The client sees a broken connection (its own error), in time; without the toxic all is well again."""
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)
        added = hub.add_toxic(protocol.name, toxic)
        t = time.perf_counter()
        with pytest.raises(protocol.errors):
            protocol.blob(conn)
            protocol.turn(conn)
        assert time.perf_counter() - t < 5
    finally:
        protocol.close(conn)
    hub.remove_toxic(protocol.name, added["name"])
    again = protocol.open(listen)
    try:
        assert protocol.blob(again) == BLOB
    finally:
        protocol.close(again)


def test_http_toxics_are_refused_once_the_proxy_has_carried_another_protocol(
        db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    conn = protocol.open(listen)
    try:
        protocol.turn(conn)
    finally:
        protocol.close(conn)
    with pytest.raises(ToxicError, match=r"needs HTTP/1\.x traffic"):
        hub.add_toxic(protocol.name, {"type": "http_status", "attributes": {"status_code": 503}})


def test_http_toxics_added_first_are_a_no_op_that_says_so(db: tuple[Protocol, str], hub: ProxyHub) -> None:
    protocol, listen = db
    hub.add_toxic(protocol.name, {"type": "http_status"})
    hub.add_toxic(protocol.name, {"type": "http_slow_headers", "attributes": {"delay": 500}})
    hub.add_toxic(protocol.name, {"type": "http_drop_body"})
    conn = protocol.open(listen)
    try:
        t = time.perf_counter()
        protocol.turn(conn)
        assert protocol.blob(conn) == BLOB
        assert time.perf_counter() - t < 2
    finally:
        protocol.close(conn)
    events = [e for e in hub.describe(protocol.name)["events"] if e["event"] == "not_http"]
    assert len(events) == 1 and "passes untouched by" in events[0]["message"]

"""The fault proxy carries any TCP protocol byte for byte, and counts request → answer turns for any
of them: synthetic servers that speak first or in pieces, and HTTP read as it is written."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import TcpServer, connect, recv_exactly

from uxchaos.proxy import ProxyHub, ToxicError
from uxchaos.proxy.control import ControlClient, ControlServer
from uxchaos.results.records import ActionTiming, GeneratorState, Sample
from uxchaos.run.turns import TurnCounter

GREETING = b"\x4a\x00\x00\x00\x0a5.5.5-synthetic\x00greeting-without-line-break"


def greet_then_echo(conn: socket.socket) -> None:
    """A server-first protocol: a greeting on accept (no line break), then each message up to its
    `;` echoed — in two pieces, a moment apart, for a message that asks for it with `split`."""
    conn.sendall(GREETING)
    buf = b""
    while data := conn.recv(65536):
        buf += data
        while b";" in buf:
            message, _, buf = buf.partition(b";")
            answer = message + b";"
            if b"split" in message:
                conn.sendall(answer[:2])
                time.sleep(0.01)
                answer = answer[2:]
            conn.sendall(answer)


@pytest.fixture
def server_first() -> Iterator[TcpServer]:
    server = TcpServer(greet_then_echo)
    yield server
    server.close()


def test_a_server_that_speaks_first_is_heard(hub: ProxyHub, server_first: TcpServer) -> None:
    p = hub.create("greeter", server_first.address)
    with connect(p["listen"], timeout=3) as s:
        assert recv_exactly(s, len(GREETING)) == GREETING
        s.sendall(b"hello;")
        assert recv_exactly(s, 6) == b"hello;"


def test_a_server_that_speaks_first_is_heard_with_http_toxics_waiting(hub: ProxyHub,
                                                                        server_first: TcpServer) -> None:
    """HTTP toxics look for HTTP; on another protocol they are a no-op that says so, never a hold."""
    p = hub.create("greeter", server_first.address)
    hub.add_toxic("greeter", {"type": "http_status", "attributes": {"status_code": 503}})
    with connect(p["listen"], timeout=3) as s:
        assert recv_exactly(s, len(GREETING)) == GREETING
        s.sendall(b"GET / HTTP/1.1\r\n\r\n;")  # looks like HTTP, but this connection is not
        assert recv_exactly(s, 19) == b"GET / HTTP/1.1\r\n\r\n;"
    events = [e["event"] for e in hub.describe("greeter")["events"]]
    assert "not_http" in events
    with pytest.raises(ToxicError, match=r"needs HTTP/1\.x traffic"):
        hub.add_toxic("greeter", {"type": "http_slow_headers", "attributes": {"delay": 100}})


@pytest.mark.parametrize("first", [b"G", b"GET", b"GET /", b"GET /x HTTP/1.", b"PO"])
def test_an_http_request_in_pieces_is_forwarded_as_it_arrives(hub: ProxyHub, first: bytes) -> None:
    """Without HTTP toxics nothing waits for a complete request head: the server sees each piece."""
    seen: list[bytes] = []
    got_piece = threading.Event()

    def record(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            seen.append(data)
            got_piece.set()

    server = TcpServer(record)
    try:
        p = hub.create("web", server.address)
        with connect(p["listen"], timeout=3) as s:
            s.sendall(first)
            assert got_piece.wait(2), f"the server never received {first!r}"
            assert b"".join(seen) == first
    finally:
        server.close()


def test_bytes_that_are_not_http_pass_at_once_with_http_toxics(hub: ProxyHub) -> None:
    """With HTTP toxics waiting, a client that does not speak HTTP is recognised from its first bytes."""
    seen = threading.Event()

    def record(conn: socket.socket) -> None:
        if conn.recv(100):
            seen.set()
            conn.sendall(b"+PONG\r\n")

    server = TcpServer(record)
    try:
        p = hub.create("redisish", server.address)
        hub.add_toxic("redisish", {"type": "http_status", "attributes": {"status_code": 503}})
        with connect(p["listen"], timeout=3) as s:
            s.sendall(b"PING")  # a method-like word, but no space follows
            s.sendall(b"\r\n")
            assert recv_exactly(s, 7) == b"+PONG\r\n"
            assert seen.is_set()
    finally:
        server.close()


@pytest.mark.parametrize("split", [False, True])
def test_turns_are_counted_for_any_protocol(hub: ProxyHub, server_first: TcpServer, split: bool) -> None:
    """A turn is the client speaking and the server answering — the greeting answers the connect —
    and a message or an answer in several pieces is still one."""
    p = hub.create("greeter", server_first.address)
    with connect(p["listen"], timeout=3) as s:
        recv_exactly(s, len(GREETING))
        for i in range(7):
            message = f"query {i} {'split' if split else 'whole'};".encode()
            if split:
                s.sendall(message[:3])
                time.sleep(0.01)
                s.sendall(message[3:])
            else:
                s.sendall(message)
            recv_exactly(s, len(message))
    assert hub.describe("greeter")["round_trips"] == 1 + 7


def _turns(s: socket.socket, n: int) -> None:
    for i in range(n):
        message = f"q{i};".encode()
        s.sendall(message)
        recv_exactly(s, len(message))


def _count(counter: TurnCounter, sample: Sample) -> dict[str, dict[str, int]] | None:
    """The turns the counter gives one attempt, as the runner asks for them after it."""
    counter.fill(sample)
    return sample.captured.service_turns


@pytest.mark.parametrize("via", ["hub", "control API"])
def test_turns_per_action_leave_out_a_background_client(hub: ProxyHub, server_first: TcpServer, via: str) -> None:
    """A journey's turns are counted per action; a client that also talks between attempts (a queue
    worker polling the database) is told apart and left out."""
    p = hub.create("db", server_first.address)
    control = ControlServer(hub) if via == "control API" else None
    counter = TurnCounter(ControlClient(control.address) if control else hub)
    stop, talking = threading.Event(), threading.Event()

    def background() -> None:  # a worker: a turn every 20 ms, the whole time
        with connect(p["listen"], timeout=3) as s:
            recv_exactly(s, len(GREETING))
            while not stop.is_set():
                _turns(s, 1)
                talking.set()
                time.sleep(0.02)

    worker = threading.Thread(target=background, daemon=True)
    worker.start()
    try:
        assert talking.wait(10)
        time.sleep(0.3)  # the worker talks while no journey runs
        samples = []
        for attempt in (1, 2):
            started = time.time()
            with connect(p["listen"], timeout=3) as s:
                recv_exactly(s, len(GREETING))  # a turn too: it answers the connect
                _turns(s, 2)
                middle = time.time()
                time.sleep(0.05)
                _turns(s, 5)
                ended = time.time()
            samples.append(Sample("before", attempt, started, ended, ended - started, True, actions=[
                ActionTiming("first", middle - started, True, None, started, middle),
                ActionTiming("second", ended - middle, True, None, middle, ended)]))
            time.sleep(0.1)
        counts = [_count(counter, sample) for sample in samples]
    finally:
        stop.set()
        worker.join(5)
        if control:
            control.close()
    assert counts == [{"db": {"first": 3, "second": 5}}] * 2
    assert hub.describe("db")["round_trips"] > 16  # the worker's turns were there, and left out


def test_turns_are_not_counted_for_an_attempt_beside_other_users(hub: ProxyHub) -> None:
    now = time.time()
    sample = Sample("during", 1, now, now + 1, 1.0, True, generator=GeneratorState(concurrency=2),
                    actions=[ActionTiming("a", 1.0, True, None, now, now + 1)])
    assert _count(TurnCounter(hub), sample) is None


def test_turns_of_a_connection_opened_before_the_attempts_are_the_journeys(hub: ProxyHub,
                                                                           server_first: TcpServer) -> None:
    """An app's pool connects before the first attempt (its set-up is a burst between attempts);
    its turns during the attempts are still the journey's."""
    p = hub.create("db", server_first.address)
    counter = TurnCounter(hub)
    counts = []
    with connect(p["listen"], timeout=3) as pool:
        recv_exactly(pool, len(GREETING))
        _turns(pool, 2)  # e.g. the pool's session set-up
        time.sleep(0.2)
        for attempt in (1, 2):
            started = time.time()
            _turns(pool, 4)
            ended = time.time()
            counts.append(_count(counter, Sample("before", attempt, started, ended, ended - started, True, actions=[
                ActionTiming("a", ended - started, True, None, started, ended)])))
            time.sleep(0.1)
    assert counts == [{"db": {"a": 4}}] * 2

"""Service turns per action (uxchaos/run/turns.py) through a real proxy: a background client that polls
the service slower than the attempts are short is found only later, and the turns it put into the
attempts counted before then are taken out afterwards, from the turns kept per connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from uxchaos.proxy import ProxyHub
from uxchaos.results.records import ActionTiming, Sample
from uxchaos.results.rundata import RunData
from uxchaos.run.turns import TurnCounter

TURNS_PER_ACTION = 3


def turn(sock: socket.socket) -> None:
    sock.sendall(b"ping\n")
    assert sock.recv(64) == b"ping\n"


@pytest.fixture
def poller(svc: ProxyHub) -> Iterator[tuple[str, int]]:
    """A queue worker: one connection, a turn every 0.45 s, for as long as the test runs."""
    host, port = svc.describe("svc")["listen"].rsplit(":", 1)
    stop = threading.Event()

    def poll() -> None:
        with socket.create_connection((host, int(port))) as sock:
            while not stop.wait(0.45):
                turn(sock)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    yield host, int(port)
    stop.set()
    thread.join(5)


@pytest.fixture
def svc(hub: ProxyHub, echo) -> ProxyHub:  # type: ignore[no-untyped-def]
    hub.create("svc", f"127.0.0.1:{echo.port}")
    return hub


def attempt(number: int, address: tuple[str, int]) -> Sample:
    """A journey of one action on a connection of its own (as PHP opens one per request), 0.3 s long."""
    started = time.time()
    with socket.create_connection(address) as sock:
        for _ in range(TURNS_PER_ACTION):
            turn(sock)
            time.sleep(0.1)
    ended = time.time()
    action = ActionTiming("Logging in", ended - started, True, started_at=started, ended_at=ended)
    return Sample("before", number, started, ended, ended - started, True, actions=[action])


def test_a_slow_poller_found_late_is_taken_out_of_every_attempt(svc: ProxyHub, poller: tuple[str, int]) -> None:
    records: list[dict] = []
    counter = TurnCounter(svc, records.append)
    samples = []
    for number in range(1, 7):  # back to back: the gaps are too short to catch a poll twice
        sample = attempt(number, poller)
        counter.fill(sample)
        samples.append(sample)
    live = [s.captured.service_turns["svc"]["Logging in"] for s in samples if s.captured.service_turns]
    assert len(live) == 6
    assert max(live) > TURNS_PER_ACTION, live  # the poller's turns landed in some attempts
    time.sleep(1.2)  # the gap after the last attempt: the poller talks in it twice, 0.45 s apart
    counter.finish()
    assert [r["type"] for r in records] == ["turn_background"] and records[0]["proxy"] == "svc"
    # The report rebuilds the run from its records: every attempt holds its own turns only.
    run = RunData.from_records({}, [s.to_record() for s in samples] + records)
    rebuilt = [s.captured.service_turns for s in run.samples]
    assert [t["svc"]["Logging in"] for t in rebuilt if t] == [TURNS_PER_ACTION] * 6


def test_a_journey_connection_heard_once_after_its_attempt_stays_counted(svc: ProxyHub) -> None:
    """A request the browser left behind is served after its attempt ended: one burst in one gap is
    not enough to call the connection (a pool's, reused by the next attempts) another client's."""
    host, port = svc.describe("svc")["listen"].rsplit(":", 1)
    records: list[dict] = []
    counter = TurnCounter(svc, records.append)
    with socket.create_connection((host, int(port))) as pooled:
        started = time.time()
        for _ in range(TURNS_PER_ACTION):
            turn(pooled)
        ended = time.time()
        time.sleep(0.01)
        turn(pooled)  # late: after the attempt's end, in the gap before the next one
        action = ActionTiming("Logging in", ended - started, True, started_at=started, ended_at=ended)
        sample = Sample("before", 1, started, ended, ended - started, True, actions=[action])
        counter.fill(sample)
        counter.finish()
    assert sample.captured.service_turns == {"svc": {"Logging in": TURNS_PER_ACTION}}
    assert records == []

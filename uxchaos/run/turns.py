"""Service turns per action: how many request → answer turns each fault proxy counted for the journey
while each action of an attempt ran — "Logging in: 11 database turns", what a per-turn delay multiplies.

Counted after the attempt, outside its clocks: the proxies log the time and connection of every turn,
and one question per proxy and attempt fetches the turns from the end of the previous attempt to the
end of this one. Other clients talk to the same services at the same time (a queue worker polling
the database, a health check). A connection that keeps talking while no journey runs — in the
gaps between attempts, over more than a moment or in two gaps — is theirs. (A connection's set-up
alone, a pool opening before the first attempt or a journey's connection greeted just before its
attempt began, is a burst of a few milliseconds: not enough. Nor is a journey's connection seen in one
gap after its attempt: a request the browser left behind may still be served then.)
A worker that sleeps a second or more between polls may not have been caught when the first attempts
are counted, so each attempt keeps its turns per connection as well, and every connection found to be
another client's is written as a `turn_background` record, also in the gap after the last attempt; the
report then leaves out that connection's turns from every attempt (results/rundata.py).
Only an attempt that ran alone is counted: with other users busy at once, turns cannot be told apart."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from uxchaos.results.records import Sample

log = logging.getLogger("uxchaos.run.turns")
BURST_S = 0.1  # turns in one gap spread over longer than this: a client of its own, not a set-up


class TurnCounter:
    """Asks the run's proxies (a ProxyHub or a ControlClient) for the journey's turns per action.
    `record` receives a `turn_background` record for every background connection, when found."""

    def __init__(self, proxies: Any, record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.proxies = proxies
        self.record = record
        self.names: list[str] | None = None  # the proxies that log turns; found on first use
        self.background: dict[str, set[int]] = {}  # per proxy: connections that talk between attempts
        self.between: dict[str, dict[int, list[float]]] = {}  # per proxy and connection: its first and
        # last turn in gaps between attempts, and the number of gaps it talked in
        self.idle_since = time.time()  # when no journey ran any more (the target was up)

    def _proxy_names(self) -> list[str]:
        if self.names is None:
            try:
                self.names = [p["name"] for p in self.proxies.list()]
            except Exception as e:  # a proxy API we cannot list: nothing to count, said once
                log.info("service turns not counted: cannot list the proxies: %s", e)
                self.names = []
        return self.names

    def _turns(self, name: str, since: float, until: float) -> list[tuple[float, int]] | None:
        try:
            return [(at, conn) for at, conn in self.proxies.turns(name, since, until)]
        except Exception as e:  # e.g. a Toxiproxy, which logs no turns: stop asking it
            log.info("service turns not counted for proxy %s: %s", name, e)
            assert self.names is not None
            self.names.remove(name)
            return None

    def fill(self, sample: Sample) -> None:
        """Sets the sample's turns per proxy and action (without the background connections known
        now) and per connection, for an attempt that ran alone; leaves them None when it cannot be told."""
        idle_since, self.idle_since = self.idle_since, max(self.idle_since, sample.ended_at)
        concurrency = sample.generator.concurrency
        if concurrency is not None and concurrency > 1:
            return
        spans = [(a.name, a.started_at, a.ended_at) for a in sample.actions
                 if a.started_at is not None and a.ended_at is not None]
        if not spans:
            return
        totals: dict[str, dict[str, int]] = {}
        per_connection: dict[str, dict[str, dict[str, int]]] = {}
        for name in list(self._proxy_names()):
            turns = self._turns(name, min(idle_since, sample.started_at), sample.ended_at)
            if turns is None:
                continue
            background = self._learn(name, [(at, conn) for at, conn in turns if at < sample.started_at])
            counts: dict[str, Counter[int]] = {action: Counter() for action, _, _ in spans}
            for at, conn in turns:
                for action, start, end in spans:
                    if start <= at <= end:
                        counts[action][conn] += 1
                        break
            totals[name] = {action: sum(n for conn, n in c.items() if conn not in background)
                            for action, c in counts.items()}
            per_connection[name] = {action: {str(conn): n for conn, n in c.items()} for action, c in counts.items()}
        if totals:
            sample.captured.service_turns, sample.captured.turn_connections = totals, per_connection

    def finish(self) -> None:
        """After the last attempt: the gap since it ended names the connections still talking."""
        until = time.time()
        for name in list(self._proxy_names()):
            turns = self._turns(name, self.idle_since, until)
            if turns is not None:
                self._learn(name, turns)
        self.idle_since = until

    def _learn(self, proxy: str, gap: list[tuple[float, int]]) -> set[int]:
        """The proxy's background connections, with the turns of a gap while no journey ran."""
        between = self.between.setdefault(proxy, {})
        background = self.background.setdefault(proxy, set())
        for conn in {c for _, c in gap} - background:
            times = [at for at, c in gap if c == conn]
            first, last, gaps = between.get(conn, [min(times), max(times), 0])
            between[conn] = [min(first, *times), max(last, *times), gaps + 1]
            if between[conn][1] - between[conn][0] >= BURST_S or between[conn][2] >= 2:
                background.add(conn)
                if self.record is not None:
                    self.record({"type": "turn_background", "proxy": proxy, "connection": conn, "time": time.time()})
        return background


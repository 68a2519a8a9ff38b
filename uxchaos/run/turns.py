"""Service turns per action: how many request → answer turns each fault proxy counted for the journey
while each action of an attempt ran — "Logging in: 11 database turns", what a per-turn delay multiplies.

Counted after the attempt, outside its clocks: the proxies log the time and connection of every turn,
and one question per proxy and attempt fetches the turns from the end of the previous attempt to the
end of this one. Other clients talk to the same services at the same time (a queue worker polling
the database, a health check): a connection that keeps talking while no journey runs — in the
gaps before attempts, over more than a moment or in two gaps — is theirs, and its turns are left out
from then on. (A connection's set-up alone, a pool opening before the first attempt or a journey's
connection greeted just before its attempt began, is a burst of a few milliseconds: not enough.)
Only an attempt that ran alone is counted: with other users busy at once, turns cannot be told apart."""

from __future__ import annotations

import logging
import time
from typing import Any

from uxchaos.results.records import Sample

log = logging.getLogger("uxchaos.run.turns")
BURST_S = 0.1  # turns between attempts spread over longer than this: a client of its own, not a set-up


class TurnCounter:
    """Asks the run's proxies (a ProxyHub or a ControlClient) for the journey's turns per action."""

    def __init__(self, proxies: Any) -> None:
        self.proxies = proxies
        self.names: list[str] | None = None  # the proxies that log turns; found on first use
        self.background: dict[str, set[int]] = {}  # per proxy: connections that talk between attempts
        self.between: dict[str, dict[int, list[float]]] = {}  # per proxy and connection: first, last turn
        # between attempts, and the number of gaps it talked in
        self.idle_since = time.time()  # when no journey ran any more (the target was up)

    def _proxy_names(self) -> list[str]:
        if self.names is None:
            try:
                self.names = [p["name"] for p in self.proxies.list()]
            except Exception as e:  # a proxy API we cannot list: nothing to count, said once
                log.info("service turns not counted: cannot list the proxies: %s", e)
                self.names = []
        return self.names

    def count(self, sample: Sample) -> dict[str, dict[str, int]] | None:
        """{proxy: {action: turns}} for an attempt that ran alone; None when it cannot be told."""
        idle_since, self.idle_since = self.idle_since, max(self.idle_since, sample.ended_at)
        if sample.concurrency is not None and sample.concurrency > 1:
            return None
        spans = [(a.name, a.started_at, a.ended_at) for a in sample.actions
                 if a.started_at is not None and a.ended_at is not None]
        if not spans:
            return None
        out: dict[str, dict[str, int]] = {}
        for name in list(self._proxy_names()):
            try:
                turns = self.proxies.turns(name, min(idle_since, sample.started_at), sample.ended_at)
            except Exception as e:  # e.g. a Toxiproxy, which logs no turns: stop asking it
                log.info("service turns not counted for proxy %s: %s", name, e)
                assert self.names is not None
                self.names.remove(name)
                continue
            background = self._background(name, [(at, conn) for at, conn in turns if at < sample.started_at])
            out[name] = {action: sum(1 for at, conn in turns if start <= at <= end and conn not in background)
                         for action, start, end in spans}
        return out or None

    def _background(self, proxy: str, gap: list[tuple[float, int]]) -> set[int]:
        """The proxy's background connections, with the turns of the gap before this attempt."""
        seen = self.between.setdefault(proxy, {})
        background = self.background.setdefault(proxy, set())
        for conn in {c for _, c in gap}:
            times = [at for at, c in gap if c == conn]
            first, last, gaps = seen.get(conn, [min(times), max(times), 0])
            seen[conn] = [min(first, *times), max(last, *times), gaps + 1]
            if seen[conn][1] - seen[conn][0] >= BURST_S or seen[conn][2] >= 2:
                background.add(conn)
        return background

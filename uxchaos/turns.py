"""Service turns per action: how many request → answer turns each fault proxy counted for the journey
while each action of an attempt ran — "Logging in: 11 database turns", what a per-turn delay multiplies.

Counted after the attempt, outside its clocks: the proxies log the time and connection of every turn,
and one question per proxy and attempt fetches the turns from the end of the previous attempt to the
end of this one. Other clients talk to the same services at the same time (a queue worker polling
the database, a health check): a connection with a turn while no journey ran — in the gap before an
attempt — is theirs, and its turns are left out from then on. Only an attempt that ran alone is
counted: with other users busy at the same time, their turns cannot be told apart."""

from __future__ import annotations

import logging
import time
from typing import Any

from uxchaos.results import Sample

log = logging.getLogger("uxchaos.turns")


class TurnCounter:
    """Asks the run's proxies (a ProxyHub or a ControlClient) for the journey's turns per action."""

    def __init__(self, proxies: Any) -> None:
        self.proxies = proxies
        self.names: list[str] | None = None  # the proxies that log turns; found on first use
        self.background: dict[str, set[int]] = {}  # per proxy: connections seen talking between attempts
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
            background = self.background.setdefault(name, set())
            background.update(conn for at, conn in turns if at < sample.started_at)
            out[name] = {action: sum(1 for at, conn in turns if start <= at <= end and conn not in background)
                         for action, start, end in spans}
        return out or None

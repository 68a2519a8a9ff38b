"""The services' turns per action and phase, from the counts each attempt carries (run/turns.py), and how
much of an action's slowdown a per-turn delay explains: "Logging in: 11 database turns × 2 s".

Pure functions over samples: no Playwright, no proxy."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from uxchaos.results.records import Sample

PHASES = ("before", "during", "after")


@dataclass
class ServiceTurns:
    action: str
    service: str  # the proxy's name: "database"
    turns: dict[str, float | None]  # median turns per phase (None: no attempt counted)
    counted: dict[str, int]  # attempts counted per phase (successful, measuring their phase)
    uncounted: int = 0  # attempts run beside other users: their turns cannot be told apart
    per_turn_s: float | None = None  # what the fault adds to each of this service's turns
    slowdown_s: float | None = None  # the action's median during − median before

    @property
    def explained_s(self) -> float | None:
        """The slowdown the turns account for: median during turns × the delay per turn."""
        during = self.turns.get("during")
        return None if during is None or self.per_turn_s is None else during * self.per_turn_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "explained_s": self.explained_s}


@dataclass
class TurnsReport:
    rows: list[ServiceTurns] = field(default_factory=list)

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]


def per_turn_delay(fault: dict[str, Any] | None, service: str) -> float | None:
    """Seconds a proxy delay fault adds to each turn of `service` (twice when both ways are delayed);
    None for other faults, and for a sweep (its levels differ: the slope says it instead)."""
    if not fault or fault.get("sweep") or fault.get("driver") not in ("proxy", "toxiproxy"):
        return None
    if fault.get("kind") != "delay" or fault.get("target") != service:
        return None
    params = fault.get("params") or {}
    delay = params.get("delay")
    if not isinstance(delay, (int, float)):
        return None
    return float(delay) * (2 if params.get("direction") == "both" else 1)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def service_turns(samples: list[Sample], actions: list[str], fault: dict[str, Any] | None) -> TurnsReport:
    """A row per action and service that had any turn: medians per phase of the turns counted in
    the successful attempts that measured their phase."""
    services = sorted({svc for s in samples for svc in (s.captured.service_turns or {})})
    rows = []
    for service in services:
        for action in actions:
            turns: dict[str, float | None] = {}
            counted: dict[str, int] = {}
            durations: dict[str, float | None] = {}
            for phase in PHASES:
                measured = [s for s in samples if s.phase == phase and s.ok and not s.excluded]
                counts = [s.captured.service_turns for s in measured]
                values = [float(c[service][action]) for c in counts if c and action in c.get(service, {})]
                turns[phase] = _median(values)
                counted[phase] = len(values)
                durations[phase] = _median([a.duration_s for s in measured for a in s.actions
                                            if a.name == action and a.ok and a.duration_s is not None])
            if not any(turns.values()):
                continue
            uncounted = sum(1 for s in samples if s.captured.service_turns is None
                            and s.generator.concurrency and s.generator.concurrency > 1)
            before, during = durations["before"], durations["during"]
            rows.append(ServiceTurns(action, service, turns, counted, uncounted, per_turn_delay(fault, service),
                                     None if before is None or during is None else during - before))
    return TurnsReport(rows)

"""The load per phase, from the `load` records of results.jsonl: requests, rate, failure rate and
response-time percentiles per request name (and over all of them). Percentiles come from merging
the records' histograms (Locust's own, response times rounded as Locust rounds them: to 10 ms above
100 ms, to 100 ms above 1 s), so a phase's p95 is a percentile of its requests, not an average of
per-second percentiles. A record whose second straddles an inject or a revert counts for no phase, nor
one taken while the fault's state did not match its phase's (a surge ramping before the during phase)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from uxchaos.util.durations import format_level

ALL = "All requests"
BOUNDARIES = ("injected", "reverted", "level_changed")


@dataclass
class LoadRow:
    phase: str
    name: str  # a request name (METHOD /path), or ALL
    n: int
    failures: int
    rps: float
    failure_rate: float  # 0..1
    p50: float | None  # seconds
    p95: float | None
    max: float | None
    users: int | None  # the most Locust users seen in the phase (ALL only)
    level: float | None = None  # a swept fault's level, for a row of the during phase's seconds at one level
    label: str = ""  # how the phase is shown: "during · users 16" for a level's row

    def __post_init__(self) -> None:
        self.label = self.label or self.phase

    def value(self, stat: str) -> float | None:
        value: float | None = getattr(self, stat)
        return value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile_ms(hist: dict[int, int], q: float) -> int | None:
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return ms
    return max(hist)


def _straddles(record: dict[str, Any], boundaries: list[float]) -> bool:
    end = float(record["time"])
    start = end - float(record.get("interval_s") or 0.0)
    return any(start < t <= end for t in boundaries)


def _row(phase: str, name: str, records: list[dict[str, Any]], span_s: float, users: int | None) -> LoadRow:
    hist: dict[int, int] = {}
    n = failures = 0
    for r in records:
        n += int(r["n"])
        failures += int(r["failures"])
        for ms, count in r.get("hist", {}).items():
            hist[int(ms)] = hist.get(int(ms), 0) + int(count)

    def seconds(ms: int | None) -> float | None:
        return None if ms is None else ms / 1000

    return LoadRow(phase, name, n, failures, round(n / span_s, 2) if span_s else 0.0,
                   failures / n if n else 0.0, seconds(percentile_ms(hist, 0.5)), seconds(percentile_ms(hist, 0.95)),
                   seconds(max(hist) if hist else None), users)


def load_rows(records: list[dict[str, Any]], events: list[dict[str, Any]], phases: tuple[str, ...],
              sweep: dict[str, Any] | None = None) -> list[LoadRow]:
    """Per phase: one row over all requests, then one per request name (most requests first). With a
    swept fault, the during phase also gets a row over all requests per level: pooled, a traffic
    sweep's levels blur into one rate and one p95 that no level had."""
    boundaries = [float(e["time"]) for e in events if e.get("event") in BOUNDARIES]
    faulty = any(e.get("event") == "injected" for e in events)

    def counts(r: dict[str, Any], phase: str) -> bool:
        # between an inject or revert and the phase that follows it (a surge's ramp, the after phase's
        # settle) the phase name lags the fault: such seconds count for no phase
        matches = not faulty or r.get("fault_active", phase == "during") == (phase == "during")
        return r.get("phase") == phase and matches and not _straddles(r, boundaries)

    rows = []
    for phase in phases:
        mine = [r for r in records if counts(r, phase)]
        if not mine:
            continue
        span = sum(float(r.get("interval_s") or 0.0) for r in mine)
        users = max((int(r.get("users") or 0) for r in mine), default=None)
        per_name: dict[str, list[dict[str, Any]]] = {}
        for r in mine:
            for name, stats in r.get("requests", {}).items():
                per_name.setdefault(name, []).append(stats)
        rows.append(_row(phase, ALL, [s for group in per_name.values() for s in group], span, users))
        for name, group in sorted(per_name.items(), key=lambda item: -sum(s["n"] for s in item[1])):
            rows.append(_row(phase, name, group, span, None))
        if phase == "during" and sweep:
            rows += _level_rows(mine, sweep)
    return rows


def _level_rows(during: list[dict[str, Any]], sweep: dict[str, Any]) -> list[LoadRow]:
    rows = []
    for level in (float(x) for x in sweep.get("levels", [])):
        mine = [r for r in during if r.get("level") is not None and float(r["level"]) == level]
        if not mine:
            continue
        row = _row("during", ALL, [s for r in mine for s in r.get("requests", {}).values()],
                   sum(float(r.get("interval_s") or 0.0) for r in mine), max(int(r.get("users") or 0) for r in mine))
        row.level = level
        row.label = f"during · {sweep.get('param', 'level')} {format_level(level, str(sweep.get('unit', '')))}"
        rows.append(row)
    return rows


def find_row(rows: list[LoadRow], phase: str, name: str | None) -> LoadRow | None:
    """The phase's row (pooled over a sweep's levels) for expectations such as `during.load.p95`."""
    return next((r for r in rows if r.phase == phase and r.level is None and r.name == (name or ALL)), None)

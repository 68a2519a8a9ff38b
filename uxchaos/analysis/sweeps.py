"""Dose–response: an action's time against the size of a swept fault.

Per action: the median (with a bootstrap 95% interval) at each level; a robust straight line
through every successful attempt (Theil–Sen, SciPy), whose slope — for a delay — reads as the
number of *sequential* round trips the action makes to the faulty service; the levels where the
medians leave that line (timeouts, retries, a pool running dry); and the level at which the action
crosses a limit, interpolated between the measured levels, with an interval from the medians'
intervals. SciPy does the statistics; only the reading is ours."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from uxchaos.results.rundata import RunData

BEND_SHARE = 0.25  # a median this far off the line (and…)
BEND_MIN_S = 0.2  # …at least this many seconds) bends the curve


@dataclass
class Level:
    level: float
    n: int
    median: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass
class Threshold:
    limit_s: float
    level: float | None  # where the median crosses the limit; None: not within the measured levels
    low: float | None  # the interval, from where the medians' upper / lower bounds cross
    high: float | None
    note: str = ""


@dataclass
class Curve:
    action: str
    param: str
    unit: str  # "s" for durations
    levels: list[Level]
    slope: float | None = None  # seconds of action time per unit of the parameter
    slope_low: float | None = None
    slope_high: float | None = None
    intercept: float | None = None
    bends: list[float] = field(default_factory=list)  # levels whose median leaves the line
    threshold: Threshold | None = None

    @property
    def round_trips(self) -> bool:
        """For a delay the slope is a count: each sequential round trip waits one delay."""
        return self.unit == "s"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "round_trips": self.round_trips}


def _median_ci(values: list[float]) -> tuple[float | None, float | None]:
    if len(values) < 3 or len(set(values)) < 2:
        return None, None
    res = sps.bootstrap((np.asarray(values),), np.median, confidence_level=0.95, n_resamples=2000,
                        method="percentile", random_state=0)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _crossing(xs: list[float], ys: list[float | None], limit: float) -> float | None:
    """The first level where the line through consecutive points reaches the limit."""
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if not points:
        return None
    if points[0][1] >= limit:
        return points[0][0]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if y1 >= limit > y0:
            return x0 + (limit - y0) * (x1 - x0) / (y1 - y0)
    return None


def threshold(levels: list[Level], limit: float) -> Threshold:
    xs = [lv.level for lv in levels]
    at = _crossing(xs, [lv.median for lv in levels], limit)
    # The upper bounds cross first (the earliest the limit can be reached), the lower bounds last.
    low = _crossing(xs, [lv.ci_high if lv.ci_high is not None else lv.median for lv in levels], limit)
    high = _crossing(xs, [lv.ci_low if lv.ci_low is not None else lv.median for lv in levels], limit)
    note = ""
    if at is None:
        note = "not reached within the measured levels"
    elif levels and at == levels[0].level and (levels[0].median or 0) >= limit:
        note = "already reached at the lowest level"
    return Threshold(limit, at, low, high, note)


def curve(run: RunData, action: str, param: str, unit: str, levels: list[float],
          limit: float | None = None) -> Curve:
    points: list[tuple[float, float]] = []
    stats = []
    for level in levels:
        values = [a.duration_s for s in run.attempts("during") if s.fault.level == level and not s.excluded
                  for a in s.actions if a.name == action and a.ok and a.duration_s is not None]
        points += [(level, v) for v in values]
        low, high = _median_ci(values)
        stats.append(Level(level, len(values), float(np.median(values)) if values else None, low, high))
    result = Curve(action, param, unit, stats)
    if len({x for x, _ in points}) >= 2:
        x = np.asarray([p[0] for p in points])
        y = np.asarray([p[1] for p in points])
        slope, intercept, low, high = sps.theilslopes(y, x, alpha=0.95)
        result.slope, result.intercept = float(slope), float(intercept)
        result.slope_low, result.slope_high = float(low), float(high)
        for lv in stats:
            if lv.median is None:
                continue
            fitted = intercept + slope * lv.level
            if abs(lv.median - fitted) > max(BEND_SHARE * abs(fitted), BEND_MIN_S):
                result.bends.append(lv.level)
    if limit is not None:
        result.threshold = threshold(stats, limit)
    return result


def analyze_sweep(run: RunData) -> list[Curve]:
    """One curve per action, for a run whose fault was swept; [] otherwise."""
    sweep = (run.fault or {}).get("sweep")
    if not sweep:
        return []
    limits = sweep.get("thresholds", {})
    return [curve(run, action, sweep["param"], sweep.get("unit", ""), [float(x) for x in sweep["levels"]],
                  limits.get(action)) for action in run.actions]


def compare_slopes(a: list[Curve], b: list[Curve]) -> list[str]:
    """For `uxchaos compare` of two sweeps: "Logging in: 11.0 → 14.1 round trips: slower, significant"
    (significant when the two slopes' 95% intervals do not overlap)."""
    lines = []
    for ca in a:
        cb = next((c for c in b if c.action == ca.action), None)
        if cb is None or ca.slope is None or cb.slope is None:
            continue
        unit = " round trips" if ca.round_trips else f" s per unit of {ca.param}"
        apart = None not in (ca.slope_low, ca.slope_high, cb.slope_low, cb.slope_high) and (
            cb.slope_low > ca.slope_high or cb.slope_high < ca.slope_low)  # type: ignore[operator]
        verdict = ("slower" if cb.slope > ca.slope else "faster") + ", significant" if apart \
            else "no detectable difference"
        lines.append(f"{ca.action}: {ca.slope:.1f} → {cb.slope:.1f}{unit}: {verdict}")
    return lines

"""What the numbers support: per action × phase statistics, slowdown with a bootstrap confidence
interval, a rank test with an effect size, words for the result, and recovery time.

All formulas come from NumPy/SciPy; only the glue is ours."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
# Cliff's delta magnitudes (Romano et al. 2006), as sitespeed.io's compare uses them.
MAGNITUDES = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"), (math.inf, "large"))


@dataclass
class Describe:
    n: int
    failures: int
    straddled: int
    median: float | None = None
    p90: float | None = None
    p95: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(values: list[float], failures: int = 0, straddled: int = 0) -> Describe:
    if not values:
        return Describe(0, failures, straddled)
    a = np.asarray(values, dtype=float)
    return Describe(
        n=len(a), failures=failures, straddled=straddled,
        median=float(np.median(a)), p90=float(np.percentile(a, 90)), p95=float(np.percentile(a, 95)),
        min=float(a.min()), max=float(a.max()), mean=float(a.mean()),
        std=float(a.std(ddof=1)) if len(a) > 1 else 0.0,
    )


@dataclass
class Comparison:
    """`other` compared with `base` (e.g. during vs before)."""

    ratio: float | None  # median(other) / median(base)
    ci_low: float | None  # bootstrap 95% CI of that ratio
    ci_high: float | None
    p_value: float | None  # Mann–Whitney U, two-sided
    cliffs_delta: float | None  # > 0: other is slower
    magnitude: str | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def magnitude(delta: float) -> str:
    return next(word for limit, word in MAGNITUDES if abs(delta) < limit)


def samples_needed(delta: float, alpha: float = ALPHA) -> int | None:
    """Smallest equal group size at which an overlap like the observed one (Cliff's delta) would be
    significant, by the normal approximation of U; never below the exact test's floor (the
    smallest n at which even complete separation can reach alpha). None: no effect to detect."""
    if abs(delta) < 0.01:
        return None
    floor = next(n for n in range(1, 100) if 2 / math.comb(2 * n, n) < alpha)
    z_needed = sps.norm.ppf(1 - alpha / 2)
    for n in range(2, 10_001):
        z = abs(delta) * n / 2 * math.sqrt(12 / (2 * n + 1))
        if z >= z_needed:
            return max(n, floor)
    return None


def _ratio_of_medians(other: np.ndarray, base: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(other, axis=axis) / np.median(base, axis=axis)


def compare(base: list[float], other: list[float], alpha: float = ALPHA, seed: int = 0) -> Comparison:
    if not base or not other:
        return Comparison(None, None, None, None, None, None, "no data")
    b, o = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    ratio = float(np.median(o) / np.median(b)) if np.median(b) > 0 else None
    ci_low = ci_high = None
    if len(b) >= 2 and len(o) >= 2 and ratio is not None:
        res = sps.bootstrap((o, b), _ratio_of_medians, paired=False, vectorized=True, n_resamples=2000,
                            confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
        ci_low, ci_high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    test = sps.mannwhitneyu(o, b, alternative="two-sided")
    p = float(test.pvalue)
    delta = float(2 * test.statistic / (len(o) * len(b)) - 1)
    if p < alpha:
        verdict = f"{'slower' if delta > 0 else 'faster'}, significant"
    else:
        needed = samples_needed(delta, alpha)
        if magnitude(delta) != "negligible" and needed is not None and min(len(o), len(b)) < needed:
            verdict = f"too few samples: n ≥ {needed} needed for this spread"
        else:
            verdict = "no detectable difference"
    return Comparison(ratio, ci_low, ci_high, p, delta, magnitude(delta), verdict)


@dataclass
class Recovery:
    seconds: float | None  # from the revert to the first attempt of the first window back in tolerance
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recovery_time(
    before: list[float],
    after: list[tuple[float, float]],  # (started_at epoch, duration) of successful after-phase attempts
    reverted_at: float | None,
    tolerance: float = 1.2,
    window: int = 3,
) -> Recovery:
    """How long after the revert until attempts are back near the baseline: in the first sliding
    window of `window` consecutive after-phase attempts whose median is ≤ tolerance × the
    before-phase median, the start of its first attempt that is itself within tolerance.
    Measured from the revert to that attempt's start: an upper bound, as fine as the attempts."""
    if reverted_at is None:
        return Recovery(None, "no revert recorded")
    if not before or not after:
        return Recovery(None, "no data")
    limit = tolerance * float(np.median(before))
    ordered = sorted(after)
    w = min(window, len(ordered))
    for i in range(len(ordered) - w + 1):
        chunk = [d for _, d in ordered[i : i + w]]
        if float(np.median(chunk)) <= limit:
            # Recovered at the window's first attempt that is itself within tolerance.
            first_good = next(start for start, d in ordered[i : i + w] if d <= limit)
            return Recovery(max(0.0, first_good - reverted_at), f"recovered (median of {w} ≤ {tolerance:g}× before)")
    return Recovery(None, "not recovered within the after phase")

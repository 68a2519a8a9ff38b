"""The Web Vitals a run records per navigation: the metrics, their units, web.dev's thresholds and
ratings, and the statistics' names that expectations use (lcp_p75, …). No Playwright: the browser
side is journey/vitals.py, the statistics over attempts analysis/vitals.py."""

from __future__ import annotations

METRICS = ("ttfb", "fcp", "lcp", "cls", "inp")
TIME_METRICS = ("ttfb", "fcp", "lcp", "inp")  # in ms in results.jsonl, in seconds in expectations
# web.dev's published thresholds: good up to the first, poor above the second (ms; CLS unitless).
THRESHOLDS: dict[str, tuple[float, float]] = {
    "ttfb": (800, 1800), "fcp": (1800, 3000), "lcp": (2500, 4000), "cls": (0.1, 0.25), "inp": (200, 500),
}
PERCENTILES = ("p50", "p75")  # web.dev assesses a page at the 75th percentile
STATS = {f"{m}_{p}" for m in METRICS for p in PERCENTILES}  # names in expectations: lcp_p50, cls_p75, …


def rating(metric: str, value: float) -> str:
    good, poor = THRESHOLDS[metric]
    return "good" if value <= good else "needs improvement" if value <= poor else "poor"

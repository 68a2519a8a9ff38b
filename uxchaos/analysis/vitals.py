"""Web Vitals per action × phase: the metrics, web.dev's thresholds and the statistics over attempts.

No Playwright here (the expectation language and the reports use it). The browser side is
journey/vitals.py. Per attempt, an action's value of a metric is the largest among the pages it
loaded (usually one); INP counts for the action in which the interaction happened. Attempts kept
out of the timing statistics (straddled, fault missing, saturated) are kept out here too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from uxchaos.results.records import Sample
from uxchaos.results.vitals import METRICS, TIME_METRICS, rating


@dataclass
class MetricStats:
    n: int
    p50: float
    p75: float
    rating: str  # of p75, as web.dev assesses

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VitalsRow:
    action: str
    phase: str
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    client_side: bool = False  # the action changed the route without loading a new document

    def value(self, stat: str) -> float | None:
        """An expectation's `lcp_p50` etc.: seconds for times, unitless for CLS; None: not measured."""
        metric, _, pct = stat.partition("_")
        found = self.metrics.get(metric)
        if found is None:
            return None
        value = float(getattr(found, pct))
        return value / 1000 if metric in TIME_METRICS else value

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "phase": self.phase, "client_side": self.client_side,
                **{m: s.to_dict() for m, s in self.metrics.items()}}


def per_attempt(sample: Sample, action: str, metric: str) -> float | None:
    """The action's value of one metric in one attempt: the largest of its pages'."""
    key = "inp_action" if metric == "inp" else "action"
    values = [float(v[metric]) for v in sample.captured.vitals or []
              if v.get(key) == action and v.get(metric) is not None]
    return max(values) if values else None


def vitals_rows(samples: list[Sample], actions: list[str], phases: tuple[str, ...]) -> list[VitalsRow]:
    """One row per action × phase that has any Web Vitals value."""
    rows = []
    for action in actions:
        for phase in phases:
            row = VitalsRow(action, phase)
            for metric in METRICS:
                values = [v for s in samples if s.phase == phase and not s.excluded
                          if (v := per_attempt(s, action, metric)) is not None]
                if values:
                    import numpy as np  # here: the expectation language imports this module, and stays light

                    p50, p75 = (float(np.percentile(values, q)) for q in (50, 75))
                    row.metrics[metric] = MetricStats(len(values), p50, p75, rating(metric, p75))
            row.client_side = client_side(samples, action, phase)
            if row.metrics or row.client_side:
                rows.append(row)
    return rows


def client_side(samples: list[Sample], action: str, phase: str) -> bool:
    """Did the action, in the phase's attempts, change the route without a new document (a
    client-side navigation, and no page loaded)?"""
    used = [s for s in samples if s.phase == phase and not s.excluded]
    docs = [v for s in used for v in s.captured.vitals or []
            if v.get("action") == action and not v.get("unavailable")]
    return bool(docs) and all(v.get("navigation") == "client-side" for v in docs)


NO_DOCUMENT = "client-side navigation: no new document"


def cell(row: VitalsRow, metric: str) -> str:
    """A report's cell: "p50 / p75 unit (rating of p75)", or – when not measured, or for what a
    client-side navigation cannot have (TTFB; FCP and LCP where the browser made no soft-navigation
    entry for it) that it made no new document."""
    found = row.metrics.get(metric)
    if found is None:
        return NO_DOCUMENT if row.client_side and metric in ("ttfb", "fcp", "lcp") else "–"
    if metric == "cls":
        return f"{found.p50:.3f} / {found.p75:.3f} ({found.rating})"
    return f"{found.p50:.0f} / {found.p75:.0f} ms ({found.rating})"


def unavailable(samples: list[Sample]) -> list[str]:
    """Why Web Vitals could not be measured, once per reason and URL, e.g. a page whose CSP or crash
    kept the script from running."""
    seen: dict[str, None] = {}
    for s in samples:
        for v in s.captured.vitals or []:
            if v.get("unavailable"):
                seen[f"{v['url']}: {v['unavailable']}"] = None
    return list(seen)

"""report.html: one self-contained file (no scripts, no fonts, no network) with the charts, the
statistics, the expectations and the fault timeline — rendered from templates/report.html.j2 with
autoescape on, so every text from a scenario, the app or the browser is escaped. This module draws
the charts and prepares table cells; it builds no HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uxchaos.analysis.summary import Analysis
from uxchaos.analysis.vitals import cell as vitals_cell
from uxchaos.report import charts
from uxchaos.report.markdown import common_context, slope_text, threshold_text
from uxchaos.report.templating import event_details, fmt_ratio, fmt_s, fmt_s3, format_level, render, utc
from uxchaos.report.users import Figures, UsersReport, users_report
from uxchaos.results.rundata import RunData
from uxchaos.results.vitals import METRICS


def _charts(run: RunData, analysis: Analysis) -> dict[str, Any]:
    waterfalls = {a.action: charts.waterfall(run, a.action) for a in analysis.attribution}
    return {"timeline": charts.timeline(run, analysis), "distributions": charts.distributions(run),
            "dose_response": charts.dose_response(analysis) if analysis.curves else "",
            "waterfalls": {k: v for k, v in waterfalls.items() if v}}


def _figures(f: Figures) -> list[str]:
    return [str(f.attempts), str(f.ok), fmt_s(f.median_s), fmt_s(f.p95_s)]


def _users_rows(users: UsersReport) -> dict[str, list[list[str]]]:
    return {
        "phases": [[r.phase, r.model, *_figures(r.figures), str(r.saturated), "–" if r.late is None else str(r.late)]
                   for r in users.phases],
        "concurrency": [[r.phase, str(r.busy), str(r.figures.attempts), str(r.saturated), fmt_s(r.figures.median_s),
                         fmt_s(r.figures.p95_s), "–" if r.host_cpu is None else f"{r.host_cpu:.0%}"]
                        for r in users.concurrency],
        "endpoints": [[e.url + (" (lost)" if e.lost else ""), *_figures(e.figures)[:2], str(e.failed),
                       str(e.lost_attempts), *_figures(e.figures)[2:],
                       "–" if e.round_trip_ms is None else f"{e.round_trip_ms:.1f}"] for e in users.endpoints],
    }


def _recovery_cell(analysis: Analysis, action: str) -> list[str]:
    r = analysis.recovery[action]
    if not analysis.affected(action):
        return [action, "not affected", "the fault did not slow it down (during vs before)"]
    return [action, fmt_s(r.seconds), r.verdict]


def _left_out(analysis: Analysis, phase: str) -> int:
    load = analysis.busy.phase(phase) if analysis.busy else None
    return load.left_out if load else 0


def _busy_rows(analysis: Analysis) -> list[list[str]]:
    """The "Machine load" table; [] when no phase's host CPU was measured."""
    phases = analysis.busy.phases if analysis.busy else []
    if not any(p.host_cpu is not None for p in phases):
        return []
    return [[p.phase, str(p.attempts), "–" if p.host_cpu is None else f"{p.host_cpu:.0%}", str(p.left_out),
             "–" if p.bound_ms is None else f"{p.bound_ms:.0f}"] for p in phases]


def render_html(run: RunData, analysis: Analysis, templates: Path | None = None) -> str:
    start = run.meta.get("started_at") or 0
    stats_rows = [
        [r.action, r.phase, str(r.stats.n), str(_left_out(analysis, r.phase)), str(r.stats.failures),
         fmt_s(r.stats.median), "–" if r.bound_ms is None else f"{r.bound_ms:.0f}", fmt_s(r.stats.p90),
         fmt_s(r.stats.p95), fmt_s(r.stats.min), fmt_s(r.stats.max), fmt_s(r.stats.std), fmt_ratio(r.vs_before),
         r.vs_before.verdict if r.vs_before else "baseline"]
        for r in analysis.rows
    ]
    first = analysis.curves[0] if analysis.curves else None
    dose_headers = [f"{first.param} {format_level(lv.level, first.unit)}" for lv in first.levels] if first else []
    dose_rows = [[c.action, *[fmt_s(lv.median) for lv in c.levels], slope_text(c), threshold_text(c) or "–"]
                 for c in analysis.curves]
    attribution_rows = {
        a.action: [[r.key, r.calls().strip() or "×1", fmt_s3(r.before_s), fmt_s3(r.during_s), f"{r.share_s:+.3f}",
                    f"{r.wait_s:+.3f}", f"{r.transfer_s:+.3f}", f"only {r.only}" if r.only else ""]
                   for r in a.requests]
        + [["browser-side", "", "", "", "", f"{a.rest_s:+.3f} s of {a.delta_s:+.3f} s"]]
        for a in analysis.attribution}
    vitals_table_rows = [[r.action, r.phase, *[vitals_cell(r, m) for m in METRICS]] for r in analysis.vitals]
    event_rows = [[utc(e["time"]), f"{e['time'] - start:.2f}", str(e["event"]), event_details(e)]
                  for e in run.events]
    load_rows = [[r.label, r.name, str(r.n), f"{r.rps:.1f}", str(r.failures), f"{100 * r.failure_rate:.1f}",
                  fmt_s3(r.p50), fmt_s3(r.p95), fmt_s3(r.max), "" if r.users is None else str(r.users)]
                 for r in analysis.load]
    users = users_report(run)
    return render("report.html.j2", templates, **common_context(run, analysis), charts=_charts(run, analysis),
                  stats_rows=stats_rows, recovery_rows=[_recovery_cell(analysis, a) for a in analysis.recovery],
                  dose_headers=dose_headers, dose_rows=dose_rows, attribution_rows=attribution_rows,
                  event_rows=event_rows, users_rows=_users_rows(users) if users else {},
                  vitals_table_rows=vitals_table_rows, busy_rows=_busy_rows(analysis), load_rows=load_rows)

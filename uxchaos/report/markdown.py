"""report.md: the hand-made report's "During / After" table, measured, plus a summary and the
fault timeline — rendered from templates/report.md.j2 (tables: templates/_tables.md.j2, also used for
the table printed at the end of a run). This module prepares what the templates cannot say simply."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from uxchaos.analysis.summary import Analysis, ExpectationResult
from uxchaos.analysis.sweeps import Curve
from uxchaos.report.loadinfo import load_info
from uxchaos.report.turns import TURNS_INTRO, turns_rows, turns_sentence
from uxchaos.report.users import many_attempts, medians_table, users_report
from uxchaos.report.users import mark as load_mark
from uxchaos.results.rundata import RunData
from uxchaos.util.durations import format_duration

__all__ = ["attempts_table", "expectations_list", "format_level", "render_markdown", "render_terminal_table"]
from uxchaos.analysis.vitals import cell as vitals_cell
from uxchaos.report.templating import cell, environment, fmt_value, format_level, readable, render
from uxchaos.results.records import MAX_REQUESTS_PER_ACTION
from uxchaos.results.vitals import METRICS as VITALS_METRICS
from uxchaos.scenario.model import PHASES

VITALS_INTRO = ("Google's web-vitals library in every page of the journey (values scored on web.dev's thresholds: "
                "LCP 2.5 s / 4 s, FCP 1.8 s / 3 s, TTFB 0.8 s / 1.8 s, CLS 0.1 / 0.25, INP 200 ms / 500 ms). "
                "Each cell: median / 75th percentile over the attempts, rated at the 75th as web.dev does. A "
                "page counts for the action that navigated to it; its INP (its slowest interaction) for the "
                "action that made that interaction. An interaction that navigates away may be reported too "
                "late to count, and `fill` types without one. A client-side navigation (the URL changed, no new "
                "document: a single-page app's route) has no TTFB; its FCP and LCP are those of the new view "
                "from Chromium's soft-navigation entries (its first and largest paint after the interaction), "
                "its CLS the layout shifts after the route change, and the click's INP counts for its action.")
ATTRIBUTION_INTRO = ("Each action's median slowdown (during − before) split over the requests behind it, in parts "
                     "that add up to it. Requests are matched by method and path (ids collapsed; a path called "
                     "several times is summed over its calls). *Part of Δ* is the change in the request's share "
                     "of the action's time: requests in flight at once share that time equally, so parallel "
                     "calls are not counted twice. *Server wait* (request sent → first byte) and *transfer* "
                     "(connect + download) say what changed, counted in full per call. *Browser-side* is the rest "
                     "(rendering, scripts, the time no request was in flight, and the noise between medians).")

ALTERNATING = ("alternating — before and during attempts took turns (fault off, on, off, on …), the fault "
               "injected before each during attempt and reverted after it, so a drift in the machine's speed "
               "falls on both phases alike; then the after phase")


def attempt_rounds(run: RunData) -> int:
    return max((len(run.attempts(p)) for p in PHASES), default=0)


def attempt_cell(run: RunData, phase: str, index: int, action: str) -> str:
    """One cell of the attempts table: seconds (with † straddled, ‡ fault missing), ✗ reason, or empty."""
    samples = run.attempts(phase)
    if index >= len(samples):
        return ""
    sample = samples[index]
    timing = next((a for a in sample.actions if a.name == action), None)
    if timing is None:
        return ""
    if not timing.ok:
        return cell(f"✗ {timing.failure or 'failed'}")
    mark = " †" if sample.fault.straddled else " ‡" if sample.fault.fault_missing else load_mark(sample)
    return f"{timing.duration_s:.2f}{mark}"


def measured(e: ExpectationResult) -> str:
    return ", ".join(f"{k} = {fmt_value(v)}" for k, v in e.values.items()) or e.message


def slope_text(c: Curve) -> str:
    if c.slope is None:
        return "–"
    interval = f" [{c.slope_low:.1f}–{c.slope_high:.1f}]" if c.slope_low is not None else ""
    if c.round_trips:
        return f"{c.slope:.1f}{interval} sequential round trips"
    return f"{c.slope:.3g}{interval} s per unit of {c.param}"


def threshold_text(c: Curve) -> str:
    t = c.threshold
    if t is None:
        return ""
    if t.level is None:
        return f"over {format_duration(t.limit_s)}: {t.note}"
    interval = f" [{format_level(t.low, c.unit)}–{format_level(t.high, c.unit)}]" if t.low is not None else ""
    return (f"over {format_duration(t.limit_s)} from {c.param} ≈ {format_level(t.level, c.unit)}{interval}"
            + (f" ({t.note})" if t.note else ""))


def fault_text(run: RunData) -> str | None:
    """What was broken, as text: the driver's own description, or kind, target and parameters."""
    fault = run.fault
    injected = next((e for e in run.events if e["event"] == "inject_requested"), None)
    if injected and injected.get("fault"):
        return readable(injected["fault"])
    if fault:
        params = f" ({readable(fault['params'])})" if fault.get("params") else ""
        return f"{fault['kind']} on {fault['target']}{params}"
    return None


def _python_journey(run: RunData) -> dict[str, str] | None:
    """How a Python journey was timed: its step() blocks, the time outside them, or the whole call."""
    ref = run.meta.get("scenario", {}).get("python_journey")
    if not ref:
        return None
    whole = {st.action for s in run.samples for st in s.steps if st.kind == "python-whole"}
    if whole:
        how = (f"it never calls `step()`, so each attempt is timed as one action named after the function "
               f"({', '.join(f'`{cell(a)}`' for a in sorted(whole))})")
    else:
        how = ("each `with step(...)` block is one action; the time spent outside every block is shown as "
               "its own row, `(outside steps)`, and added to no action")
    return {"ref": ref, "how": how}


def _service_tasks(analysis: Analysis, run: RunData) -> list[dict[str, Any]]:
    if analysis.kill is None:
        return []
    now = max((s.ended_at for s in run.samples), default=0.0)
    return [{**t, "ago": f" {now - t['since']:.0f} seconds ago" if t.get("since") else "",
             "error": f'"{t["error"]}"' if t.get("error") else ""}
            for t in sorted(analysis.kill.tasks, key=lambda t: -(t.get("since") or 0))]


def _capped(run: RunData) -> str:
    totals: dict[str, int] = {}
    for s in run.samples:
        for action, n in (s.captured.requests_capped or {}).items():
            totals[action] = totals.get(action, 0) + n
    return ", ".join(f"{a}: {n}" for a, n in totals.items())


def traces(run: RunData) -> list[dict[str, str]]:
    """The Playwright traces still in the run folder, with what each attempt was."""
    slowest: dict[int, list[str]] = {}
    for action in run.actions:
        timed = [(a.duration_s, s.attempt) for s in run.attempts("during") if not s.excluded
                 for a in s.actions if a.name == action and a.ok and a.duration_s is not None]
        if timed:
            slowest.setdefault(max(timed)[1], []).append(action)
    out = []
    for s in run.samples:
        trace = s.captured.trace
        if trace and run.run_dir is not None and (run.run_dir / trace).is_file():
            if not s.ok:
                what = f"failed: {s.failure}"
            elif s.phase == "during" and s.attempt in slowest:
                what = "slowest during attempt of " + ", ".join(slowest[s.attempt])
            else:
                what = "passed"
            out.append({"file": trace, "phase": s.phase, "attempt": str(s.attempt), "what": what})
    return out


def common_context(run: RunData, analysis: Analysis) -> dict[str, Any]:
    """What both report.md.j2 and report.html.j2 receive."""
    started = run.meta.get("started_at")
    return {
        "run": run, "analysis": analysis, "phases": PHASES, "fault": run.fault,
        "fault_text": fault_text(run), "fault_choice": run.meta.get("fault_choice"),
        "started_text": f"{dt.datetime.fromtimestamp(started, dt.UTC):%Y-%m-%d %H:%M:%S}" if started else None,
        "timeline_start": started or (run.events[0]["time"] if run.events else 0.0),
        "attribution_intro": ATTRIBUTION_INTRO, "capped": _capped(run), "cap": MAX_REQUESTS_PER_ACTION,
        "attempt_rounds": attempt_rounds, "attempt_cell": attempt_cell, "measured": measured,
        "many_attempts": many_attempts, "medians_table": medians_table, "users": users_report(run),
        "slope_text": slope_text, "threshold_text": threshold_text,
        "vitals_intro": VITALS_INTRO, "vitals_metrics": VITALS_METRICS, "vitals_cell": vitals_cell,
        "traces": traces(run),
        "turns_intro": TURNS_INTRO, "turns_sentence": turns_sentence, "turns_rows": turns_rows(analysis.turns.rows),
        "turns_uncounted": max((r.uncounted for r in analysis.turns.rows), default=0),
        "load_info": load_info(run),
        "alternating": ALTERNATING if run.meta.get("scenario", {}).get("phase_order") == "alternating" else None,
    }


def render_markdown(run: RunData, analysis: Analysis, templates: Path | None = None) -> str:
    return render("report.md.j2", templates, **common_context(run, analysis),
                  python_journey=_python_journey(run),
                  effect=next((e for e in run.events if e["event"] == "effect_verified"), None),
                  browser=run.meta.get("browser", {}),
                  straddled=sum(1 for s in run.samples if s.fault.straddled),
                  missing=sum(1 for s in run.samples if s.fault.fault_missing),
                  service_tasks=_service_tasks(analysis, run))


def render_terminal_table(run: RunData, analysis: Analysis, templates: Path | None = None) -> str:
    return render("terminal.md.j2", templates, **common_context(run, analysis)).rstrip("\n")


def _macro(name: str, *args: Any) -> str:
    env = environment()
    env.globals.update(phases=PHASES, attempt_rounds=attempt_rounds, attempt_cell=attempt_cell, measured=measured,
                       many_attempts=many_attempts, medians_table=medians_table)
    return str(getattr(env.get_template("_tables.md.j2").module, name)(*args)).rstrip("\n")


def attempts_table(run: RunData) -> str:
    return _macro("attempts_table", run)


def expectations_list(analysis: Analysis) -> str:
    return _macro("expectations_list", analysis)

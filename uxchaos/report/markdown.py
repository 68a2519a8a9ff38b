"""report.md: the hand-made report's "During / After" table, measured, plus a summary and the
fault timeline. Also used for the table printed at the end of a run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from uxchaos.analysis import Analysis
from uxchaos.doseresponse import Curve
from uxchaos.durations import format_duration
from uxchaos.report.data import RunData
from uxchaos.scenario import PHASES
from uxchaos.stats import Comparison


def cell(value: Any) -> str:
    """Escape text for a markdown table cell: pipes and line breaks would break the table, and
    markdown viewers render raw HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def attempts_table(run: RunData) -> str:
    lines = ["| Action | Attempt | Before (s) | During (s) | After (s) |", "|---|---:|---:|---:|---:|"]
    rounds = max((len(run.attempts(p)) for p in PHASES), default=0)
    for action in run.actions:
        for i in range(rounds):
            cells = []
            for phase in PHASES:
                samples = run.attempts(phase)
                if i >= len(samples):
                    cells.append("")
                    continue
                sample = samples[i]
                timing = next((a for a in sample.actions if a.name == action), None)
                if timing is None:
                    cells.append("")
                elif not timing.ok:
                    cells.append(cell(f"✗ {timing.failure or 'failed'}"))
                else:
                    mark = " †" if sample.straddled else " ‡" if sample.fault_missing else ""
                    cells.append(f"{timing.duration_s:.2f}{mark}")
            lines.append(f"| {cell(action)} | {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def fmt_value(value: float | int | None) -> str:
    """Counts as counts, times with two decimals."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else fmt_s(value)


def fmt_ratio(c: Comparison | None) -> str:
    if c is None or c.ratio is None:
        return "–"
    ci = f" [{c.ci_low:.2f}–{c.ci_high:.2f}]" if c.ci_low is not None and c.ci_high is not None else ""
    return f"{c.ratio:.2f}×{ci}"


def summary_table(analysis: Analysis) -> str:
    lines = ["| Action | Phase | n | Failures | Median (s) | p90 (s) | Min (s) | Max (s) | Std (s) "
             "| Slowdown vs before [95% CI] | p | Cliff's δ | Verdict |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in analysis.rows:
        c, st = r.vs_before, r.stats
        p = f"{c.p_value:.3f}" if c and c.p_value is not None else "–"
        effect = f"{c.cliffs_delta:+.2f} {c.magnitude}" if c and c.cliffs_delta is not None else "–"
        lines.append(f"| {cell(r.action)} | {r.phase} | {st.n} | {st.failures} | {fmt_s(st.median)} | "
                     f"{fmt_s(st.p90)} | {fmt_s(st.min)} | {fmt_s(st.max)} | {fmt_s(st.std)} | "
                     f"{fmt_ratio(c) if c else 'baseline'} | {p} | {effect} | {cell(c.verdict) if c else ''} |")
    return "\n".join(lines)


def recovery_table(analysis: Analysis) -> str:
    lines = ["| Action | Recovery after revert (s) | Verdict |", "|---|---:|---|"]
    lines += [f"| {cell(a)} | {fmt_s(r.seconds)} | {cell(r.verdict)} |" for a, r in analysis.recovery.items()]
    return "\n".join(lines)


def expectations_list(analysis: Analysis) -> str:
    out = []
    for e in analysis.expectations:
        measured = ", ".join(f"{k} = {fmt_value(v)}" for k, v in e.values.items()) or e.message
        out.append(f"- {'✅ pass' if e.passed else '❌ FAIL'} `{e.text.replace('`', '')}` — {cell(measured)}")
    return "\n".join(out)


def timeline_table(run: RunData) -> str:
    if not run.events:
        return "No fault events."
    start = run.meta.get("started_at") or run.events[0]["time"]
    lines = ["| Time (UTC) | +s | Event | Details |", "|---|---:|---|---|"]
    for e in run.events:
        details = {k: v for k, v in e.items() if k not in ("event", "time")}
        text = ", ".join(f"{k}: {v}" for k, v in details.items())
        lines.append(f"| {_utc(e['time'])} | {e['time'] - start:.2f} | {cell(e['event'])} | {cell(text)} |")
    return "\n".join(lines)


def kill_section(analysis: Analysis, run: RunData) -> str:
    k = analysis.kill
    if k is None:
        return ""
    lines = ["## Recovery after the kill", "",
             "Seconds after the kill, from Docker's (or the supervisor's) own timestamps.", "",
             "| Failure seen | Replacement running | First good journey | Restart-policy delay | Exit code | State "
             "| Error |",
             "|---:|---:|---:|---:|---:|---|---|",
             f"| {fmt_s(k.failure_seen_s)} | {fmt_s(k.replacement_running_s)} | {fmt_s(k.first_good_journey_s)} | "
             f"{fmt_s(k.restart_delay_s)} | {k.exit_code if k.exit_code is not None else '–'} | {cell(k.state)} | "
             f"{cell(k.error) if k.error else ''} |", ""]
    if k.tasks:
        now = max((s.ended_at for s in run.samples), default=0.0)
        lines += ["Service tasks (as `docker service ps` shows them):", "", "```",
                  f"{'ID':<14}{'NAME':<34}{'IMAGE':<30}{'DESIRED STATE':<15}{'CURRENT STATE':<28}ERROR"]
        for t in sorted(k.tasks, key=lambda t: -(t.get("since") or 0)):
            ago = f" {now - t['since']:.0f} seconds ago" if t.get("since") else ""
            error = f'"{t["error"]}"' if t.get("error") else ""
            lines.append(f"{t['id']:<14}{t['name'][:33]:<34}{t['image'][:29]:<30}{t['desired_state']:<15}"
                         f"{(t['current_state'] + ago):<28}{error}")
        lines += ["```", ""]
    return "\n".join(lines)


def format_level(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return format_duration(value) if unit == "s" else f"{value:g}"


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


def dose_response_section(analysis: Analysis) -> str:
    """The seed's table with one column per level, then what the curve says per action."""
    curves = analysis.curves
    if not curves:
        return ""
    first = curves[0]
    head = "| Action | " + " | ".join(f"{first.param} {format_level(lv.level, first.unit)} (s)"
                                      for lv in first.levels) + " |"
    lines = ["## Dose–response", "",
             f"Median seconds per action at each level of {first.param} (95% interval where n ≥ 3); slope from a "
             "Theil–Sen fit through every successful attempt"
             + (" — for a delay, the number of sequential round trips the action makes to the faulty service."
                if first.round_trips else "."), "",
             head, "|---|" + "---:|" * len(first.levels)]
    for c in curves:
        cells = []
        for lv in c.levels:
            ci = f" [{lv.ci_low:.2f}–{lv.ci_high:.2f}]" if lv.ci_low is not None and lv.ci_high is not None else ""
            cells.append(f"{fmt_s(lv.median)}{ci}")
        lines.append(f"| {cell(c.action)} | " + " | ".join(cells) + " |")
    lines += ["", "| Action | Slope | Bends at | Threshold |", "|---|---|---|---|"]
    for c in curves:
        bends = ", ".join(format_level(b, c.unit) for b in c.bends) or "–"
        lines.append(f"| {cell(c.action)} | {slope_text(c)} | {bends} | {cell(threshold_text(c)) or '–'} |")
    return "\n".join(lines) + "\n"


ATTRIBUTION_INTRO = ("Each action's median slowdown (during − before) split over the requests behind it, matched "
                     "by method and path (ids collapsed): *server wait* = request sent → first byte, *transfer* = "
                     "connect + download; *browser-side* is the rest (rendering, scripts — and, for requests "
                     "that ran in parallel, their overlap, which can make it negative).")


def fmt_opt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def attribution_section(analysis: Analysis) -> str:
    if not analysis.attribution:
        return ""
    lines = ["## Why it got slower", "", ATTRIBUTION_INTRO, ""]
    lines += [f"- **{cell(a.head())}**: {cell(a.detail())}" for a in analysis.attribution]
    lines += ["", "| Action | Request | Before (s) | During (s) | Server wait Δ (s) | Transfer Δ (s) | Note |",
              "|---|---|---:|---:|---:|---:|---|"]
    for a in analysis.attribution:
        for r in a.requests:
            note = f"only {r.only}" if r.only else ""
            lines.append(f"| {cell(a.action)} | {cell(r.key)} | {fmt_opt(r.before_s)} | {fmt_opt(r.during_s)} | "
                         f"{r.wait_s:+.3f} | {r.transfer_s:+.3f} | {note} |")
        lines.append(f"| {cell(a.action)} | browser-side | | | | | {a.rest_s:+.3f} s of {a.delta_s:+.3f} s |")
    return "\n".join(lines) + "\n"


def python_journey_lines(run: RunData) -> list[str]:
    """How a Python journey was timed: its step() blocks, the time outside them, or the whole call."""
    ref = run.meta.get("scenario", {}).get("python_journey")
    if not ref:
        return []
    whole = {st.action for s in run.samples for st in s.steps if st.kind == "python-whole"}
    if whole:
        how = (f"it never calls `step()`, so each attempt is timed as one action named after the function "
               f"({', '.join(f'`{cell(a)}`' for a in sorted(whole))})")
    else:
        how = ("each `with step(...)` block is one action; the time spent outside every block is shown as "
               "its own row, `(outside steps)`, and added to no action")
    return [f"- **Journey:** Python `{cell(ref)}` — {how}"]


def render_markdown(run: RunData, analysis: Analysis) -> str:
    scenario = run.meta.get("scenario", {})
    fault = scenario.get("fault")
    started = run.meta.get("started_at")
    browser = run.meta.get("browser", {})
    parts = [f"# uxchaos report: {cell(scenario.get('name', '?'))}", ""]
    if scenario.get("description"):
        parts += [cell(scenario["description"]), ""]
    parts += [
        f"- **Run:** {dt.datetime.fromtimestamp(started, dt.UTC):%Y-%m-%d %H:%M:%S} UTC, "
        f"status **{run.meta.get('status', '?')}**" if started else "- **Run:** ?",
        f"- **Target:** {cell(run.meta.get('base_url', scenario.get('target', {}).get('base_url', '?')))}",
    ]
    parts += python_journey_lines(run)
    injected = next((e for e in run.events if e["event"] == "inject_requested"), None)
    if fault:
        described = injected["fault"] if injected else f"{fault['kind']} on {fault['target']}"
        parts.append(f"- **Fault:** {cell(described)} — driver `{fault['driver']}`, "
                     f"max duration {fault['max_duration_s']:g}s")
    else:
        parts.append("- **Fault:** none (baseline run)")
    effect = next((e for e in run.events if e["event"] == "effect_verified"), None)
    if effect:
        verdict = "✓" if effect["ok"] else "⚠ less than half of the request: is the fault reaching the target?"
        parts.append(f"- **Effect:** requested {effect['requested_ms']} ms, observed +{effect['observed_ms']:.0f} ms "
                     f"per round trip {verdict}")
    if browser:
        parts.append(f"- **Browser:** Chromium {cell(browser.get('version', '?'))}, "
                     f"uxchaos {run.meta.get('uxchaos_version', '?')}")
    straddled = sum(1 for s in run.samples if s.straddled)
    parts += [
        "", "## Timings per attempt", "",
        "Seconds per action, measured in a real browser; a new browser context (no cookies) per attempt.",
        "", attempts_table(run), "",
    ]
    if straddled:
        parts += [f"† {straddled} attempt(s) straddled an inject or revert: shown, but left out of the summary.", ""]
    missing = sum(1 for s in run.samples if s.fault_missing)
    if missing:
        parts += [f"‡ {missing} during attempt(s) were measured while the fault was **not in force** (it was removed "
                  "behind the run's back, or ended early): shown, but left out of the summary.", ""]
    expectations = analysis.expectations
    if expectations:
        verdict = "all passed" if analysis.passed else f"{sum(not e.passed for e in expectations)} FAILED"
        parts += [f"## Expectations: {verdict}", "", expectations_list(analysis), ""]
    parts += ["## Summary", "",
              "Successful, non-straddled attempts. Slowdown = median / before-phase median with a bootstrap 95% "
              "interval; p from a Mann–Whitney U test; effect = Cliff's delta.", "",
              summary_table(analysis), "", "## Recovery", "", recovery_table(analysis), "",
              kill_section(analysis, run), dose_response_section(analysis), attribution_section(analysis),
              "## Fault timeline", "", timeline_table(run), ""]
    failures = [s for s in run.samples if not s.ok]
    if failures:
        parts += ["## Failures", ""]
        for s in failures:
            shot = f" (screenshot: `screenshots/{s.screenshot}`)" if s.screenshot else ""
            parts.append(f"- {s.phase} #{s.attempt}, {cell(s.failed_action or '?')}: {cell(s.failure)}{shot}")
        parts.append("")
    return "\n".join(parts)


def render_terminal_table(run: RunData, analysis: Analysis) -> str:
    text = attempts_table(run) + "\n\n" + summary_table(analysis)
    if analysis.expectations:
        text += "\n\n" + expectations_list(analysis)
    return text

"""report.md: the hand-made report's "During / After" table, measured, plus a summary and the
fault timeline. Also used for the table printed at the end of a run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from uxchaos.report.data import RunData, slowdown, summarize
from uxchaos.scenario import PHASES


def cell(value: Any) -> str:
    """Escape text for a markdown table cell: pipes and line breaks would break the table."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


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
                    mark = " †" if sample.straddled else ""
                    cells.append(f"{timing.duration_s:.2f}{mark}")
            lines.append(f"| {cell(action)} | {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(run: RunData) -> str:
    lines = ["| Action | Phase | n | Failures | Median (s) | Min (s) | Max (s) | Slowdown vs before |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in summarize(run):
        ratio = slowdown(run, row.action, row.phase) if row.phase != "before" else None
        ratio_text = f"{ratio:.2f}×" if ratio is not None else ("1.00×" if row.phase == "before" and row.n else "–")
        lines.append(f"| {cell(row.action)} | {row.phase} | {row.n} | {row.failures} | {_seconds(row.median)} | "
                     f"{_seconds(row.minimum)} | {_seconds(row.maximum)} | {ratio_text} |")
    return "\n".join(lines)


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


def render_markdown(run: RunData) -> str:
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
    injected = next((e for e in run.events if e["event"] == "inject_requested"), None)
    if fault:
        described = injected["fault"] if injected else f"{fault['kind']} on {fault['target']}"
        parts.append(f"- **Fault:** {cell(described)} — driver `{fault['driver']}`, "
                     f"max duration {fault['max_duration_s']:g}s")
    else:
        parts.append("- **Fault:** none (baseline run)")
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
    parts += ["## Summary", "", "Successful attempts only; slowdown is the ratio of medians.", "",
              summary_table(run), "", "## Fault timeline", "", timeline_table(run), ""]
    failures = [s for s in run.samples if not s.ok]
    if failures:
        parts += ["## Failures", ""]
        for s in failures:
            shot = f" (screenshot: `screenshots/{s.screenshot}`)" if s.screenshot else ""
            parts.append(f"- {s.phase} #{s.attempt}, {cell(s.failed_action or '?')}: {cell(s.failure)}{shot}")
        parts.append("")
    expectations = scenario.get("expect") or []
    if expectations:
        parts += ["## Expectations", "", "Stored; evaluated by a later version of uxchaos:", ""]
        parts += [f"- `{e}`" for e in expectations]
        parts.append("")
    return "\n".join(parts)


def render_terminal_table(run: RunData) -> str:
    return attempts_table(run) + "\n\n" + summary_table(run)

"""`uxchaos compare RUN_A RUN_B`: two runs of the same scenario side by side (e.g. before and
after a fix): medians, ratio B/A with a bootstrap interval, significance per action × phase."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from uxchaos.errors import BadInput
from uxchaos.report.data import RunData
from uxchaos.report.markdown import cell, fmt_ratio, fmt_s
from uxchaos.scenario import PHASES
from uxchaos.stats import Comparison, compare, describe


@dataclass
class CompareRow:
    action: str
    phase: str
    n_a: int
    n_b: int
    median_a: float | None
    median_b: float | None
    b_vs_a: Comparison


def scenario_name(run: RunData) -> str | None:
    return run.meta.get("scenario", {}).get("name")


def check_same_scenario(a: RunData, b: RunData) -> None:
    """Two runs of different scenarios time different journeys under different faults: a ratio
    between them means nothing, so it is refused rather than printed."""
    name_a, name_b = scenario_name(a), scenario_name(b)
    if name_a != name_b:
        raise BadInput(f"these are runs of two different scenarios: A ({_name(a)}) ran {name_a!r}, B ({_name(b)}) "
                       f"ran {name_b!r}; compare compares two runs of the same scenario")


def compare_runs(a: RunData, b: RunData) -> list[CompareRow]:
    check_same_scenario(a, b)
    actions = [x for x in a.actions if x in b.actions] + [x for x in b.actions if x not in a.actions]
    rows = []
    for action in actions:
        for phase in PHASES:
            va, vb = a.action_durations(action, phase), b.action_durations(action, phase)
            if not va and not vb:
                continue
            rows.append(CompareRow(action, phase, len(va), len(vb), describe(va).median, describe(vb).median,
                                   compare(va, vb)))
    return rows


def _name(run: RunData) -> str:
    return str(run.run_dir or run.meta.get("scenario", {}).get("name", "?"))


def render_compare_markdown(a: RunData, b: RunData, rows: list[CompareRow]) -> str:
    lines = ["# uxchaos compare", "", f"- **A:** {cell(_name(a))}", f"- **B:** {cell(_name(b))}", "",
             "| Action | Phase | n A | n B | Median A (s) | Median B (s) | B / A [95% CI] | p | Verdict (B vs A) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        p = f"{r.b_vs_a.p_value:.3f}" if r.b_vs_a.p_value is not None else "–"
        lines.append(f"| {cell(r.action)} | {r.phase} | {r.n_a} | {r.n_b} | {fmt_s(r.median_a)} | "
                     f"{fmt_s(r.median_b)} | {fmt_ratio(r.b_vs_a)} | {p} | {cell(r.b_vs_a.verdict)} |")
    return "\n".join(lines) + "\n"


def render_compare_html(a: RunData, b: RunData, rows: list[CompareRow]) -> str:
    body = "".join(
        f"<tr><td>{escape(r.action)}</td><td>{escape(r.phase)}</td><td>{r.n_a}</td><td>{r.n_b}</td>"
        f"<td>{fmt_s(r.median_a)}</td><td>{fmt_s(r.median_b)}</td><td>{escape(fmt_ratio(r.b_vs_a))}</td>"
        f"<td>{escape(r.b_vs_a.verdict)}</td></tr>" for r in rows)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>uxchaos compare</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em}"
            "table{border-collapse:collapse}</style></head><body><h1>uxchaos compare</h1>"
            f"<p>A: <code>{escape(_name(a))}</code><br>B: <code>{escape(_name(b))}</code></p>"
            "<table><tr><th>Action</th><th>Phase</th><th>n A</th><th>n B</th><th>Median A (s)</th>"
            f"<th>Median B (s)</th><th>B / A [95% CI]</th><th>Verdict (B vs A)</th></tr>{body}</table>"
            "</body></html>\n")

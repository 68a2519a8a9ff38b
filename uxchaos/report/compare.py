"""`uxchaos compare RUN_A RUN_B`: two runs of the same scenario side by side (e.g. before and
after a fix): medians, ratio B/A with a bootstrap interval, significance per action × phase.
Rendered from templates/compare.md.j2 and compare.html.j2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from uxchaos.analysis.stats import Comparison, compare, describe
from uxchaos.errors import BadInput
from uxchaos.report.templating import fmt_ratio, fmt_s, render
from uxchaos.results.rundata import RunData
from uxchaos.scenario.model import PHASES


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


def render_compare_markdown(a: RunData, b: RunData, rows: list[CompareRow], slopes: list[str] | None = None,
                            templates: Path | None = None) -> str:
    return render("compare.md.j2", templates, a_name=_name(a), b_name=_name(b), rows=rows, slopes=slopes or [])


def render_compare_html(a: RunData, b: RunData, rows: list[CompareRow], slopes: list[str] | None = None,
                        templates: Path | None = None) -> str:
    cells = [[r.action, r.phase, str(r.n_a), str(r.n_b), fmt_s(r.median_a), fmt_s(r.median_b), fmt_ratio(r.b_vs_a),
              f"{r.b_vs_a.p_value:.3f}" if r.b_vs_a.p_value is not None else "–", r.b_vs_a.verdict] for r in rows]
    return render("compare.html.j2", templates, a_name=_name(a), b_name=_name(b), rows_cells=cells,
                  slopes=slopes or [])

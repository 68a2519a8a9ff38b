"""Renderers: pure functions from a run's records to text; `write_reports` puts them on disk.

report.md, report.html, junit.xml and summary.json are all rebuilt from run.json + results.jsonl,
so `uxchaos report RUN_DIR` can re-render any run, also a partial one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from uxchaos.errors import EnvironmentProblem

if TYPE_CHECKING:  # analysis imports report.data: import it only when rendering
    from uxchaos.analysis.summary import Analysis
    from uxchaos.results.rundata import RunData


def write_reports(run_dir: Path, secrets: set[str] | None = None,
                  templates: Path | None = None) -> tuple[RunData, Analysis]:
    """`templates`: a folder whose *.j2 files replace the package's (uxchaos/report/templates/)."""
    from uxchaos.analysis.summary import analyze
    from uxchaos.report.html import render_html
    from uxchaos.report.junit import render_junit
    from uxchaos.report.markdown import render_markdown
    from uxchaos.results.records import scrub_text
    from uxchaos.results.rundata import RunData

    run = RunData.load(run_dir)
    analysis = analyze(run)
    outputs = {
        "report.md": render_markdown(run, analysis, templates),
        "report.html": render_html(run, analysis, templates),
        "junit.xml": render_junit(run, analysis),
        "summary.json": json.dumps({"scenario": run.meta.get("scenario", {}).get("name"),
                                    "status": run.meta.get("status"), **analysis.to_dict()}, indent=2) + "\n",
    }
    for name, text in outputs.items():
        text = scrub_text(text, secrets or set())
        try:
            (run_dir / name).write_text(text, encoding="utf-8")
        except OSError as e:  # a full disk or a read-only folder: results.jsonl keeps the run, re-render later
            raise EnvironmentProblem(f"cannot write {name} in {run_dir}: {e.strerror or e}. Free space there, then "
                                     f"`uxchaos report {run_dir}` renders it again") from None
    return run, analysis

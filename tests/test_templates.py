"""Reports from Jinja2 templates (uxchaos/report/templates/, uxchaos/report/templating.py): overrides,
escaping, readable fault details, "not affected"; generated run folders, no browser."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from test_analysis import make_run

from uxchaos.cli import main
from uxchaos.report import write_reports
from uxchaos.results.records import ActionTiming, Captured, ResultsStore, Sample

ROOT = Path(__file__).parent.parent


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out, err), out.getvalue(), err.getvalue()


def test_an_action_the_fault_never_slowed_shows_not_affected(tmp_path: Path) -> None:
    same = make_run(tmp_path / "same", {"before": [1.0, 1.02, 0.98, 1.01, 0.99],
                                        "during": [1.0, 1.01, 0.99, 1.02, 0.98], "after": [1.0, 1.01, 0.99]})
    slowed = make_run(tmp_path / "slowed", {"before": [1.0] * 5, "during": [3.0, 3.1, 2.9, 3.05, 3.0],
                                            "after": [1.0, 1.01, 0.99]})
    _, analysis = write_reports(same)
    assert not analysis.affected("Logging in")
    md = (same / "report.md").read_text()
    assert "| Logging in | not affected |" in md
    assert "<td>Logging in</td><td class=\"n\">not affected</td>" in (same / "report.html").read_text()
    assert json.loads((same / "summary.json").read_text())["recovery"]["Logging in"]["affected"] is False
    _, analysis = write_reports(slowed)
    assert analysis.affected("Logging in")
    md = (slowed / "report.md").read_text()
    assert "not affected" not in md and re.search(r"\| Logging in \| \d+\.\d\d \| recovered", md), md


def test_fault_details_are_readable_text_and_verdicts_left_aligned(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"before": [1.0] * 3, "during": [2.0] * 3, "after": [1.0] * 3})
    store = ResultsStore(run_dir)
    store.append({"type": "fault_event", "event": "injected", "time": 1e9 + 5,
                  "details": {"toxic": {"name": "uxchaos-delay", "type": "latency",
                                        "attributes": {"latency": "200ms", "connect": False}}}})
    store.append({"type": "fault_event", "event": "effect_verified", "time": 1e9 + 6, "requested_ms": 200,
                  "observed_ms": 189.6, "ok": True})
    store.append(Sample("after", 9, 1e9 + 50, 1e9 + 51, 1.0, True, [ActionTiming("Logging in", 1.0, True)],
                        captured=Captured(requests=[], requests_capped={"Logging in": 7})).to_record())
    store.close()
    write_reports(run_dir)
    md, html = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    assert ("toxic (name uxchaos-delay, type latency, attributes (latency 200ms, connect no))" in md
            and "requested 200 ms; observed 189.6 ms; ok yes" in md)
    for text in (md, html):
        timeline = text[text.index("Fault timeline"):]
        assert "{" not in timeline and "'" not in timeline and "False" not in timeline, timeline
    for text in (md, html):  # the cap is said
        assert "capped at 200 per action and attempt; left out (all attempts): Logging in: 7" in text
    # words are left-aligned (only numeric columns get class n), the verdict among them
    verdict = re.search(r"<td( class=\"n\")?>slower, significant</td>", html)
    assert verdict and verdict.group(1) is None
    assert re.search(r"<td class=\"n\">2\.00</td>", html)  # numbers right-aligned


def test_templates_dir_overrides_file_by_file_and_html_stays_escaped(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run", {"before": [1.0] * 3, "during": [2.0] * 3, "after": [1.0] * 3},
                       name="<b>bold</b>")
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "report.md.j2").write_text("CUSTOM {{ run.meta.scenario.name }} {{ analysis.rows|length }} rows\n")
    (custom / "report.html.j2").write_text("<p>{{ run.meta.scenario.name }}</p>\n")
    code, out, err = run_cli("report", str(run_dir), "--templates", str(custom))
    assert code == 0, err
    assert (run_dir / "report.md").read_text() == "CUSTOM <b>bold</b> 3 rows\n"  # markdown: not HTML-escaped
    assert (run_dir / "report.html").read_text() == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"  # autoescape on
    assert "| Action | Attempt |" in out  # the terminal table still comes from the package
    # compare takes the same option
    (custom / "compare.md.j2").write_text("A={{ a_name }} rows={{ rows|length }}\n")
    code, out, err = run_cli("compare", str(run_dir), str(run_dir), "--templates", str(custom),
                             "--html", str(tmp_path / "c.html"))
    assert code == 0, err
    assert out.startswith(f"A={run_dir} rows=3"), out
    assert "<h1>uxchaos compare</h1>" in (tmp_path / "c.html").read_text()  # not overridden: the package's
    # a broken template or a missing folder is the user's input problem, named
    (custom / "report.md.j2").write_text("{% if %}\n")
    code, _, err = run_cli("report", str(run_dir), "--templates", str(custom))
    assert code != 0 and "template report.md.j2" in err and str(custom) in err, err
    code, _, err = run_cli("report", str(run_dir), "--templates", str(tmp_path / "nope"))
    assert code != 0 and "not a folder" in err, err


def test_no_html_is_built_by_string_concatenation_in_the_renderers() -> None:
    tags = re.compile(r"<(table|tr|td|th|h[1-6]|p|ul|li|div|html|body|code|b)[ >]")
    for path in (ROOT / "uxchaos" / "report").glob("*.py"):
        assert not tags.search(path.read_text()), f"{path.name} builds HTML; use a template"

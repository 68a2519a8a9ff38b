"""Statistics, verdicts, recovery, expectations and the renderers, on runs with known, generated
timings written as real run folders (run.json + results.jsonl). Reference values are computed
independently here with NumPy/SciPy or by brute force."""

from __future__ import annotations

import io
import itertools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from uxchaos.analysis.stats import compare, recovery_time
from uxchaos.analysis.summary import analyze
from uxchaos.cli import main
from uxchaos.report import write_reports
from uxchaos.results.records import ActionTiming, FaultState, ResultsStore, Sample
from uxchaos.results.rundata import RunData
from uxchaos.scenario.expect import Expectation, ExpectationError, evaluate
from uxchaos.scenario.loading import parse_scenario
from uxchaos.scenario.model import ScenarioError

T0 = 1_800_000_000.0


def make_run(tmp: Path, timings: dict[str, list[float]], expect: list[str] | None = None,
             action: str = "Logging in", revert_gap_s: float = 1.0, failed: dict[str, int] | None = None,
             name: str = "generated") -> Path:
    """A run folder with one action; attempts follow each other back to back."""
    store = ResultsStore(tmp)
    t = T0
    events = []
    for phase in ("before", "during", "after"):
        if phase == "during":
            events.append({"event": "injected", "time": t})
            store.append({"type": "fault_event", **events[-1]})
        if phase == "after":
            events.append({"event": "reverted", "time": t, "reason": "test"})
            store.append({"type": "fault_event", **events[-1]})
            t += revert_gap_s
        for i, d in enumerate(timings.get(phase, []), start=1):
            s = Sample(phase, i, t, t + d, d, True, [ActionTiming(action, d, True)],
                       fault=FaultState(fault_active_at_start=phase == "during", fault_active_at_end=phase == "during"))
            store.append(s.to_record())
            t += d + 0.1
        for j in range((failed or {}).get(phase, 0)):
            s = Sample(phase, 100 + j, t, t + 1, 1, False, [ActionTiming(action, 1.0, False, "boom")],
                       failure="boom", failed_action=action)
            store.append(s.to_record())
            t += 1.1
    meta = {"status": "completed", "started_at": T0,
            "scenario": {"name": name, "journey": [{"action": action, "steps": []}], "expect": expect or []}}
    store.write_json("run.json", meta)
    store.close()
    return tmp


def test_statistics_match_numpy_and_scipy(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    before, during = list(rng.normal(0.5, 0.05, 12)), list(rng.normal(2.0, 0.3, 12))
    after = list(rng.normal(0.55, 0.05, 12))
    analysis = analyze(RunData.load(make_run(tmp_path, {"before": before, "during": during, "after": after},
                                             failed={"during": 2})))
    row = analysis.row("Logging in", "during")
    assert row is not None and row.vs_before is not None
    st = row.stats
    assert (st.n, st.failures) == (12, 2)
    assert st.median == pytest.approx(np.median(during))
    assert st.p90 == pytest.approx(np.percentile(during, 90))
    assert st.p95 == pytest.approx(np.percentile(during, 95))
    assert (st.min, st.max) == (pytest.approx(min(during)), pytest.approx(max(during)))
    assert st.mean == pytest.approx(np.mean(during))
    assert st.std == pytest.approx(np.std(during, ddof=1))
    c = row.vs_before
    assert c.ratio == pytest.approx(np.median(during) / np.median(before))
    assert c.p_value == pytest.approx(sps.mannwhitneyu(during, before).pvalue)
    brute = sum(int(a > b) - int(a < b) for a, b in itertools.product(during, before)) / (len(during) * len(before))
    assert c.cliffs_delta == pytest.approx(brute)
    ref = sps.bootstrap((np.array(during), np.array(before)),
                        lambda o, b, axis=-1: np.median(o, axis=axis) / np.median(b, axis=axis),
                        vectorized=True, n_resamples=2000, method="percentile", rng=np.random.default_rng(0))
    assert c.ci_low == pytest.approx(ref.confidence_interval.low)
    assert c.ci_high == pytest.approx(ref.confidence_interval.high)
    assert c.ci_low < c.ratio < c.ci_high
    assert c.verdict == "slower, significant" and c.magnitude == "large"


@pytest.mark.parametrize("base,other,verdict", [
    ([1.0, 1.1, 0.9, 1.05, 1.0, 0.95], [3.0, 3.2, 2.9, 3.1, 3.3, 2.8], "slower, significant"),
    ([3.0, 3.2, 2.9, 3.1, 3.3, 2.8], [1.0, 1.1, 0.9, 1.05, 1.0, 0.95], "faster, significant"),
    ([1.0, 1.1, 0.9], [3.0, 3.2, 2.9], "too few samples: n ≥ 4 needed for this spread"),
    (list(np.linspace(1, 2, 30)), list(np.linspace(1.01, 2.01, 30)), "no detectable difference"),
    ([], [1.0], "no data"),
])
def test_verdict_words(base: list[float], other: list[float], verdict: str) -> None:
    assert compare(base, other).verdict == verdict


def test_too_few_samples_grows_with_overlap() -> None:
    overlap = compare([1.0, 1.2, 1.4, 1.1], [1.3, 1.5, 1.25, 1.6]).verdict
    assert overlap.startswith("too few samples: n ≥ ")
    assert int(overlap.split("≥ ")[1].split()[0]) > 4


def test_recovery_time(tmp_path: Path) -> None:
    before = [1.0, 1.0, 1.0]
    after = [(T0 + 10, 5.0), (T0 + 16, 3.0), (T0 + 20, 1.1), (T0 + 22, 1.0), (T0 + 24, 1.1)]
    r = recovery_time(before, after, reverted_at=T0 + 9)
    assert r.seconds == pytest.approx(11.0)  # first window (1.1, 1.0, 1.1) starts at +20
    slow = recovery_time(before, [(T0 + 10, 5.0), (T0 + 16, 3.0)], reverted_at=T0 + 9)
    assert slow.seconds is None and slow.verdict == "not recovered within the after phase"
    assert recovery_time(before, after, None).verdict == "no revert recorded"
    # and through a whole run: after-phase samples start 1 s after the revert
    run = RunData.load(make_run(tmp_path, {"before": [1, 1, 1], "during": [5, 5], "after": [1, 1.1, 1]}))
    assert analyze(run).recovery["Logging in"].seconds == pytest.approx(1.0)


VALUES = {("during", "Logging in", "p50"): 22.0, ("before", "Logging in", "p50"): 0.5,
          ("during", None, "failures"): 0, ("recovery", "Logging in", None): 4.0}


@pytest.mark.parametrize("text,expected", [
    ('during["Logging in"].p50 < 30s', True),
    ('during["Logging in"].p50 < 20000ms', False),
    ('during["Logging in"].p50 <= 22s', True),
    ('during["Logging in"].p50 > 1m', False),
    ('during["Logging in"].p50 >= 22', True),
    ("during.failures == 0", True),
    ("during.failures != 0", False),
    ('during["Logging in"].p50 <= 50 * before["Logging in"].p50', True),
    ('during["Logging in"].p50 - before["Logging in"].p50 >= 21.5s', True),
    ('during["Logging in"].p50 / before["Logging in"].p50 < 10', False),
    ('recovery["Logging in"] < 20s and during.failures == 0', True),
    ('recovery["Logging in"] > 20s or during.failures == 1', False),
    ('not during.failures > 0', True),
    ('0 < recovery["Logging in"] < 5s', True),
])
def test_every_expectation_operator(text: str, expected: bool) -> None:
    passed, used = evaluate(Expectation.parse(text), lambda p, a, s: VALUES.get((p, a, s)))
    assert passed is expected
    assert used


@pytest.mark.parametrize("text,message", [
    ('__import__("os").system("id") == 0', "is not allowed"),
    ("during.p50 < 1s", "unknown statistic"),
    ('during["Nope"].p50 < 1s', "no action named 'Nope'"),
    ("recovery < 1s", "recovery is per action"),
    ('during["Logging in"].p50', "is not a comparison"),
    ("during.failures is 0", "not allowed"),
    ("during.failures <", "cannot read expression"),
])
def test_bad_expectations_are_refused_on_load(text: str, message: str) -> None:
    with pytest.raises(ExpectationError, match=None) as info:
        Expectation.parse(text, ["Logging in"])
    assert message in str(info.value)
    scenario = f"""name: x
target: {{base_url: demo}}
journey:
  - action: Logging in
    steps:
      - goto: /
expect:
  - during.failures == 0
  - '{text.replace("'", "''")}'
"""
    with pytest.raises(ScenarioError) as err:
        parse_scenario(scenario, "x.yaml", env={})
    assert "x.yaml:9: expect[1]:" in str(err.value)


def test_reports_from_a_generated_run(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"before": [1.0] * 4, "during": [3.0] * 4, "after": [1.0] * 4},
                       expect=['during["Logging in"].p50 < 2s', "during.failures == 0"], failed={"after": 1})
    _run, analysis = write_reports(run_dir)
    assert [e.passed for e in analysis.expectations] == [False, True]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["passed"] is False
    assert summary["actions"][1]["vs_before"]["verdict"] == "slower, significant"
    suite = ET.parse(run_dir / "junit.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert suite.find("testcase/failure").get("message") == 'expectation failed: during["Logging in"].p50 < 2s'
    md = (run_dir / "report.md").read_text()
    assert "❌ FAIL `during[\"Logging in\"].p50 < 2s`" in md and "1 FAILED" in md
    out = io.StringIO()
    assert main(["report", str(run_dir)], out, io.StringIO()) == 1  # re-rendered; expectation still fails


def test_partial_run_with_torn_last_line_is_reported(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, {"before": [1.0, 1.1], "during": [2.0]})
    with (run_dir / "results.jsonl").open("a") as f:
        f.write('{"type": "sample", "phase": "dur')  # the crash happened mid-write
    run, _ = write_reports(run_dir)
    assert len(run.samples) == 3
    assert (run_dir / "report.html").stat().st_size > 1000


def test_hostile_names_are_escaped_in_markdown_and_junit(tmp_path: Path) -> None:
    name = "Log | in\n<b>now</b> & `x`"
    run_dir = make_run(tmp_path, {"before": [1.0], "during": [2.0], "after": [1.0]}, action=name)
    write_reports(run_dir)
    row = next(line for line in (run_dir / "report.md").read_text().splitlines() if line.startswith("| Log"))
    assert len(re.split(r"(?<!\\)\|", row)) == 7  # 5 cells: the name's pipe and newline did not split it
    assert "Log \\| in &lt;b&gt;now&lt;/b&gt; &amp;" in row
    ET.parse(run_dir / "junit.xml")  # still well-formed XML
    html = (run_dir / "report.html").read_text()
    assert "<b>now</b>" not in html and "&lt;b&gt;now&lt;/b&gt;" in html


def test_compare_generated_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", {"before": [1.0] * 5, "during": [2.0, 2.1, 1.9, 2.05, 2.0], "after": [1.0] * 5})
    b = make_run(tmp_path / "b", {"before": [1.0] * 5, "during": [4.0, 4.2, 3.9, 4.1, 4.0], "after": [1.0] * 5})
    out = io.StringIO()
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "cmp.html")], out, io.StringIO()) == 0
    during = next(line for line in out.getvalue().splitlines() if "| during |" in line)
    assert "2.00× [" in during and "slower, significant" in during
    assert "no detectable difference" in next(line for line in out.getvalue().splitlines() if "| before |" in line)
    assert "slower, significant" in (tmp_path / "cmp.html").read_text()


def test_compare_refuses_runs_of_two_different_scenarios(tmp_path: Path) -> None:
    timings = {"before": [1.0] * 3, "during": [2.0] * 3, "after": [1.0] * 3}
    a = make_run(tmp_path / "a", timings, name="login-under-db-delay")
    b = make_run(tmp_path / "b", timings, name="backend-latency")
    out, err = io.StringIO(), io.StringIO()
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "cmp.html")], out, err) == 2
    assert "two different scenarios" in err.getvalue()
    assert "'login-under-db-delay'" in err.getvalue() and "'backend-latency'" in err.getvalue()
    assert out.getvalue() == "" and not (tmp_path / "cmp.html").exists()  # no table that looks like an answer

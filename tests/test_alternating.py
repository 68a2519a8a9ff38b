"""Alternating phases (`phases: {order: alternating}`): what the loader accepts, and a real run on the
demo (PostgreSQL behind the fault proxy, real Chromium) whose before and during attempts take turns."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from scenario_builder import DEMO_CREDENTIALS, scenario_yaml

from uxchaos.cli import main
from uxchaos.demo.login import login_action
from uxchaos.results.rundata import RunData

# The scenario's head; each test adds its `fault:` and `phases:` as text (the messages name their lines).
JOURNEY = scenario_yaml("alt", target={"base_url": "demo", "credentials": DEMO_CREDENTIALS},
                        journey=[login_action(expect_url=False)], phases=None)


@pytest.mark.parametrize("tail,message", [
    ("fault: {driver: proxy, kind: delay, target: database, params: {delay: 1s}}\nphases: {order: zigzag}\n",
     "must be one of sequential, alternating, got 'zigzag'"),
    ("fault: {driver: docker, kind: pause, target: db}\nphases: {order: alternating}\n",
     "only for drivers whose inject and revert take milliseconds (proxy, toxiproxy), not docker"),
    ("fault: {driver: proxy, kind: delay, target: database, sweep: {delay: [0ms, 1s]}}\n"
     "phases: {order: alternating}\n", "cannot be combined with a sweep"),
    ("fault: {driver: proxy, kind: delay, target: database, params: {delay: 1s}}\n"
     "phases: {order: alternating, during: {users: 2, attempts: 2}}\n", "phases.during has more users"),
    ("phases: {order: alternating}\n", "alternating needs a fault to toggle"),
])
def test_alternating_is_refused_where_it_cannot_hold(tmp_path: Path, tail: str, message: str) -> None:
    path = tmp_path / "alt.yaml"
    path.write_text(JOURNEY + tail)
    err = io.StringIO()
    assert main(["validate", str(path)], io.StringIO(), err) == 2
    line = 1 + JOURNEY.count("\n") + tail.split("phases:")[0].count("\n")
    assert f"{path}:{line}:" in err.getvalue() and message in err.getvalue(), err.getvalue()


def test_alternating_with_users_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "alt.yaml"
    path.write_text(JOURNEY + "fault: {driver: proxy, kind: delay, target: database, params: {delay: 1s}}\n"
                    "phases: {order: alternating}\n")
    err = io.StringIO()
    assert main(["run", str(path), "--users", "2", "--out", str(tmp_path / "r")], io.StringIO(), err) == 2
    assert "alternating runs one user's attempts in turn" in err.getvalue()
    for results in (tmp_path / "r").glob("*/*/results.jsonl"):  # nothing measured, nothing injected
        assert "injected" not in results.read_text() and '"phase"' not in results.read_text()
    dry = io.StringIO()
    assert main(["run", str(path), "--dry-run"], dry, io.StringIO()) == 0
    assert "phases alternate: before, during (fault on), before (fault off)" in dry.getvalue()


@pytest.mark.timing
def test_before_and_during_attempts_take_turns_on_the_demo(tmp_path: Path) -> None:
    path = tmp_path / "alt.yaml"
    path.write_text(JOURNEY + """fault: {driver: proxy, kind: delay, target: database, params: {delay: 200ms}}
phases:
  order: alternating
  before: {attempts: 3}
  during: {attempts: 2}
  after: {attempts: 1}
""")
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", str(path), "--out", str(tmp_path / "r")], out, err) == 0, err.getvalue()
    (run_dir,) = (tmp_path / "r").glob("alt/*")
    run = RunData.load(run_dir)
    order = [(s.phase, s.attempt) for s in sorted(run.samples, key=lambda s: s.started_at)]
    assert order == [("before", 1), ("during", 1), ("before", 2), ("during", 2), ("before", 3), ("after", 1)]
    assert not any(s.fault.straddled or s.fault.fault_missing for s in run.samples)
    assert all(s.fault.fault_active_at_start and s.fault.fault_active_at_end for s in run.attempts("during"))
    assert not any(s.fault.fault_active_at_start or s.fault.fault_active_at_end for s in run.attempts("before"))
    events = [e["event"] for e in run.events if e["event"] in ("injected", "reverted")]
    assert events == ["injected", "reverted"] * 2
    assert any(e["event"] == "effect_verified" and e["ok"] for e in run.events)
    before, during = run.action_durations("Logging in", "before"), run.action_durations("Logging in", "during")
    assert min(during) > max(before), (before, during)  # several round trips of +200 ms each
    assert json.loads((run_dir / "run.json").read_text())["scenario"]["phase_order"] == "alternating"
    assert "- **Phases:** alternating — before and during attempts took turns" in (run_dir / "report.md").read_text()
    assert "Phases: alternating" in (run_dir / "report.html").read_text()

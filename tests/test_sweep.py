"""Dose–response: a fault swept over several sizes in one run, on the real demo (PostgreSQL behind
the fault proxy, real Chromium), and the sweep's bad inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from uxchaos.cli import main
from uxchaos.report.data import RunData

BASE = """name: sweep
target: {base_url: demo}
journey:
  - action: Logging in
    steps:
      - goto: /login
      - fill: "#email"
        value: "{{ username }}"
      - fill: "#password"
        value: "{{ password }}"
      - click: "#login"
      - expect_text: Welcome
"""


@pytest.mark.parametrize("fault,line,message", [
    ("{driver: proxy, kind: delay, target: database, sweep: {latency: [0ms, 1s]}}", 13,
     "unknown key 'latency'"),
    ("{driver: proxy, kind: bandwidth, target: database, params: {rate: 1mbit}, sweep: {rate: [1, 2]}}", 13,
     "'rate' is not a number, so it has no size to sweep"),
    ("{driver: proxy, kind: down, target: database, sweep: {delay: [0ms, 1s]}}", 13, "has no size to sweep"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [1s]}}", 13, "at least two levels"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [1s, 500ms]}}", 13, "levels must rise"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [1s, 1s]}}", 13, "without repeats"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [0ms, 2000]}}", 13, "has no unit"),
    ("{driver: proxy, kind: delay, target: database, max_duration: 5s, sweep: {delay: [1s, 2s, 3s]}}", 13,
     "beyond max_duration (5s)"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [0ms, 1s], threshold: {Nope: 1s}}}", 13,
     "no action named 'Nope'"),
    ("{driver: proxy, kind: delay, target: database, sweep: {delay: [0ms, 1s], jitter: [0ms, 1ms]}}", 13,
     "name exactly one parameter"),
])
def test_bad_sweeps_are_refused_with_file_and_line(tmp_path: Path, fault: str, line: int, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + f"fault: {fault}\n")
    err = io.StringIO()
    assert main(["validate", str(path)], io.StringIO(), err) == 2
    assert f"{path}:{line}:" in err.getvalue() and message in err.getvalue(), err.getvalue()


def _sweep(tmp_path: Path, levels: str, threshold_s: float, attempts: int = 2) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(BASE + f"""fault:
  driver: proxy
  kind: delay
  target: database
  sweep: {{delay: {levels}, mode: step, threshold: {{"Logging in": {threshold_s}s}}}}
phases:
  before: {{attempts: 1}}
  during: {{attempts: {attempts}}}
  after: {{attempts: 1}}
expect:
  - slope["Logging in"] > 3
  - threshold["Logging in"] > 0ms
""")
    return path


def _fixed(tmp_path: Path, delay_ms: int, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.replace("name: sweep", f"name: {name}") + f"""fault:
  driver: proxy
  kind: delay
  target: database
  params: {{delay: {delay_ms}ms}}
phases:
  before: {{attempts: 1}}
  during: {{attempts: 2}}
  after: {{attempts: 1}}
""")
    return path


def test_sweep_on_the_demo_gives_levels_slope_and_a_threshold_that_holds(tmp_path: Path) -> None:
    out = tmp_path / "r"
    err = io.StringIO()
    assert main(["run", str(_sweep(tmp_path, "[0ms, 150ms, 300ms]", 2.5)), "--out", str(out)],
                io.StringIO(), err) == 0, err.getvalue()
    (run_dir,) = out.glob("sweep/*")
    run = RunData.load(run_dir)
    during = run.attempts("during")
    assert [s.level for s in during] == [0.0, 0.0, 0.15, 0.15, 0.3, 0.3]
    assert all(s.level is None for s in run.attempts("before") + run.attempts("after"))
    assert [e["level"] for e in run.events if e["event"] == "level_changed"] == [0.15, 0.3]
    assert [e["requested_ms"] for e in run.events if e["event"] == "effect_verified"] == [0, 150, 300]
    assert sum(e["event"] == "injected" for e in run.events) == 1  # mode step: held, resized
    summary = json.loads((run_dir / "summary.json").read_text())
    (curve,) = summary["dose_response"]
    medians = [lv["median"] for lv in curve["levels"]]
    assert medians == sorted(medians) and curve["round_trips"] is True
    assert 3 < curve["slope"] < 30 and curve["slope_low"] <= curve["slope"] <= curve["slope_high"]
    report = (run_dir / "report.md").read_text()
    assert "## Dose–response" in report and "sequential round trips" in report
    assert 'id="dose-response"' in (run_dir / "report.html").read_text()
    # The threshold finder, checked against levels measured directly one level spacing either side.
    found = curve["threshold"]["level"]
    assert found is not None and 0.0 < found < 0.3, curve["threshold"]
    spacing = 0.15
    medians_direct = {}
    for side, delay in (("below", max(0.0, found - spacing)), ("above", found + spacing)):
        code = main(["run", str(_fixed(tmp_path, round(delay * 1000), side)), "--out", str(tmp_path / side)],
                    io.StringIO(), io.StringIO())
        assert code == 0
        (direct,) = (tmp_path / side).glob("*/*")
        values = RunData.load(direct).action_durations("Logging in", "during")
        medians_direct[side] = sorted(values)[len(values) // 2]
    assert medians_direct["below"] < 2.5 < medians_direct["above"], (found, medians_direct)

"""Dose–response: a fault swept over several sizes in one run, on the real demo (PostgreSQL behind
the fault proxy, real Chromium), and the sweep's bad inputs."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from scenario_builder import shared_demo_target, write_scenario

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.cli import main
from uxchaos.demo.login import login_journey
from uxchaos.demo.stack import DemoStack
from uxchaos.proxy.control import ControlServer
from uxchaos.results.rundata import RunData

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


@pytest.fixture
def stack_target(demo_stack: DemoStack) -> Iterator[str]:
    """The session's demo behind a control API, as a one-line `target:` (the runs need no demo of their own)."""
    assert demo_stack.info is not None
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    info = demo_stack.info
    yield (f"target: {{base_url: {info.base_url}, proxy_control: {control.address}, "
           f"credentials: {{username: {info.email}, password: {info.password}}}}}")
    control.close()


def _sweep(tmp_path: Path, target: str, levels: str, threshold_s: float, attempts: int = 2) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(BASE.replace("target: {base_url: demo}", target) + f"""fault:
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


def _fixed(tmp_path: Path, target: str, delay_ms: int, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.replace("name: sweep", f"name: {name}").replace("target: {base_url: demo}", target)
                    + f"""fault:
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


@pytest.mark.timing
def test_sweep_on_the_demo_gives_levels_slope_and_a_threshold_that_holds(tmp_path: Path, stack_target: str) -> None:
    out = tmp_path / "r"
    err = io.StringIO()
    assert main(["run", str(_sweep(tmp_path, stack_target, "[0ms, 150ms, 300ms]", 2.5)), "--out", str(out)],
                io.StringIO(), err) == 0, err.getvalue()
    (run_dir,) = out.glob("sweep/*")
    run = RunData.load(run_dir)
    during = run.attempts("during")
    assert [s.fault.level for s in during] == [0.0, 0.0, 0.15, 0.15, 0.3, 0.3]
    assert all(s.fault.level is None for s in run.attempts("before") + run.attempts("after"))
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
        fixed = _fixed(tmp_path, stack_target, round(delay * 1000), side)
        code = main(["run", str(fixed), "--out", str(tmp_path / side)], io.StringIO(), io.StringIO())
        assert code == 0
        (direct,) = (tmp_path / side).glob("*/*")
        values = RunData.load(direct).action_durations("Logging in", "during")
        medians_direct[side] = sorted(values)[len(values) // 2]
    assert medians_direct["below"] < 2.5 < medians_direct["above"], (found, medians_direct)


def _count_round_trips(stack: DemoStack) -> dict[str, int]:
    """The database round trips each action really makes, counted by the proxy (request → answer
    turns on its connections), with the demo's worker stopped so only the journey talks to it."""
    assert stack.info is not None and stack.supervisor is not None and stack.supervisor.pid is not None
    counts: dict[str, int] = {}

    def trips() -> int:
        return int(stack.hub.describe("database")["round_trips"])

    os.kill(stack.supervisor.pid, signal.SIGSTOP)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_browser(pw), args=launch_args())
            page = browser.new_context().new_page()
            page.goto(stack.info.base_url + "/login", wait_until="load")
            page.wait_for_selector("#email")
            before = trips()
            page.fill("#email", stack.info.email)
            page.fill("#password", stack.info.password)
            page.click("#login")
            page.wait_for_url("**/dashboard")
            page.get_by_text("Welcome").first.wait_for()
            counts["Logging in"] = trips() - before
            before = trips()
            page.goto(stack.info.base_url + "/dashboard", wait_until="load")
            page.get_by_text("Welcome").first.wait_for()
            counts["Opening the dashboard again"] = trips() - before
            browser.close()
    finally:
        os.kill(stack.supervisor.pid, signal.SIGCONT)
    return counts


@pytest.mark.timing
def test_slope_equals_the_round_trips_counted_by_the_proxy(tmp_path: Path, demo_stack: DemoStack) -> None:
    """The done-when of the sweep: for two actions with different numbers of sequential database
    round trips, the slope (seconds per second of delay) equals the count within ±10 %."""
    assert demo_stack.info is not None
    demo_stack.hub.reset()
    counted = _count_round_trips(demo_stack)
    assert counted["Logging in"] > counted["Opening the dashboard again"] > 0, counted
    control = ControlServer(demo_stack.hub)
    try:
        path = write_scenario(tmp_path, "count", target=shared_demo_target(demo_stack, control.address),
                              journey=[*login_journey(wait=True), {"action": "Opening the dashboard again",
                                                                   "steps": [{"goto": "/dashboard"},
                                                                             {"expect_text": "Welcome"}]}],
                              fault={"driver": "proxy", "kind": "delay", "target": "database",
                                     "sweep": {"delay": ["0ms", "150ms", "300ms"], "mode": "step"}},
                              phases=(1, 3, 1))
        err = io.StringIO()
        assert main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err) == 0, err.getvalue()
    finally:
        control.close()
    (run_dir,) = (tmp_path / "r").glob("*/*")
    summary = json.loads((run_dir / "summary.json").read_text())
    slopes = {c["action"]: c["slope"] for c in summary["dose_response"]}
    for action, count in counted.items():
        assert abs(slopes[action] - count) <= 0.1 * count, (action, slopes[action], counted)
    # The report counts the same turns itself (the worker's polling told apart), and its count
    # matches the slope too.
    reported = {t["action"]: t["turns"]["during"] for t in summary["service_turns"] if t["service"] == "database"}
    for action, count in counted.items():
        assert abs(reported[action] - count) <= 1, (action, reported, counted)
        assert abs(slopes[action] - reported[action]) <= 0.1 * reported[action], (action, slopes, reported)


def _sweep_run(tmp: Path, per_level_s: float) -> Path:
    """A run folder of a sweep whose login grows by `per_level_s` seconds per second of delay."""
    from uxchaos.results.records import ActionTiming, FaultState, ResultsStore, Sample

    store = ResultsStore(tmp)
    t = 1_800_000_000.0
    levels = [0.0, 0.25, 0.5, 1.0]
    for level in levels:
        for i, jitter in enumerate((-0.02, 0.0, 0.03)):
            d = 0.5 + per_level_s * level + jitter
            store.append(Sample("during", i + 1, t, t + d, d, True,
                                [ActionTiming("Logging in", d, True, bound_ms=5.0 + 20 * level + i)],
                                fault=FaultState(fault_active_at_start=True, fault_active_at_end=True, level=level)
                                ).to_record())
            t += d + 0.1
    store.write_json("run.json", {"status": "completed", "scenario": {
        "name": "sweep", "journey": [{"action": "Logging in", "steps": []}], "expect": [],
        "fault": {"driver": "proxy", "kind": "delay", "target": "database", "params": {"delay": 0.0},
                  "max_duration_s": 600.0, "sweep": {"param": "delay", "levels": levels, "unit": "s",
                                                     "thresholds": {"Logging in": 8.0}}}}})
    store.close()
    return tmp


def test_compare_reads_the_slopes_of_two_sweeps(tmp_path: Path) -> None:
    a, b = _sweep_run(tmp_path / "a", 9.0), _sweep_run(tmp_path / "b", 14.0)
    out = io.StringIO()
    assert main(["compare", str(a), str(b)], out, io.StringIO()) == 0
    assert "Logging in: 9.0 → 14.0 round trips: slower, significant" in out.getvalue()
    same = io.StringIO()
    assert main(["compare", str(a), str(_sweep_run(tmp_path / "c", 9.0))], same, io.StringIO()) == 0
    assert "Logging in: 9.0 → 9.0 round trips: no detectable difference" in same.getvalue()
    # the threshold of the steeper run comes earlier: 0.5 + 14 x = 8 → x ≈ 0.536 s
    summary = RunData.load(b)
    from uxchaos.analysis.sweeps import analyze_sweep

    (curve,) = analyze_sweep(summary)
    assert curve.threshold is not None and curve.threshold.level is not None
    assert abs(curve.threshold.level - 7.5 / 14) < 0.01


def test_dry_run_of_a_sweep_lists_its_levels(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(BASE + """fault:
  driver: proxy
  kind: delay
  target: database
  sweep: {delay: [0ms, 150ms, 1s], mode: reset}
phases:
  during: {attempts: 2}
""")
    out = io.StringIO()
    assert main(["run", str(path), "--dry-run"], out, io.StringIO()) == 0
    assert "sweep of delay over 3 levels: 0ms, 150ms, 1s (mode reset), 2 during attempt(s) at each" in out.getvalue()
    assert "nothing was touched" in out.getvalue()


def test_a_sweep_is_summarised_per_level_with_its_slope_on_the_terminal(tmp_path: Path) -> None:
    """Pooled, four levels gave one "during" row (n = 12) and one verdict that no level had."""
    from uxchaos.analysis.summary import analyze
    from uxchaos.results.records import ActionTiming, ResultsStore, Sample

    run_dir = _sweep_run(tmp_path / "r", 9.0)
    store = ResultsStore(run_dir)
    for i, d in enumerate((0.49, 0.5, 0.52, 0.51)):
        store.append(Sample("before", i + 1, 1_700_000_000.0 + i, 1_700_000_000.0 + i + d, d, True,
                            [ActionTiming("Logging in", d, True)]).to_record())
    store.close()
    out = io.StringIO()
    err = io.StringIO()
    assert main(["report", str(run_dir)], out, err) == 0, err.getvalue()
    text = out.getvalue()
    for label, n in (("during · delay 0ms", 3), ("during · delay 250ms", 3), ("during · delay 500ms", 3),
                     ("during · delay 1s", 3)):
        assert f"| Logging in | {label} | {n} |" in text, text
    assert "| Logging in | during |" not in text
    assert "- Logging in: slope 9.0 [" in text and "sequential round trips; threshold over 8s from delay ≈" in text
    report = (run_dir / "report.md").read_text()
    assert "| Logging in | during · delay 1s | 3 |" in report
    analysis = analyze(RunData.load(run_dir))
    top = analysis.row("Logging in", "during")  # the highest level stands for "during"
    assert top is not None and top.level == 1.0 and top.stats.median == pytest.approx(9.5)
    assert top.bound_ms == pytest.approx(27.0)  # each level's row has its attempts' generator bound
    assert top.vs_before is not None and top.vs_before.ratio == pytest.approx(9.5 / 0.505, rel=0.01)
    actions = json.loads((run_dir / "summary.json").read_text())["actions"]
    assert [a["level"] for a in actions if a["phase"].startswith("during")] == [0.0, 0.25, 0.5, 1.0]

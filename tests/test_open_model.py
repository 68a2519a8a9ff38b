"""The open model (`arrival_rate` + `max_users`): journeys start on a schedule, whatever is still
running. Real Chromium, the real demo, a real fault; timing bounds are generous (2 shared cores)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

import numpy
import pytest
from scenario_builder import opening_then_sleep, phases, proxy_fault, shared_demo_target, write_scenario
from test_run import only_run_dir, run_cli
from test_users import samples_of

from uxchaos.demo.stack import DemoStack
from uxchaos.proxy.control import ControlServer
from uxchaos.results.rundata import RunData
from uxchaos.util.durations import DurationError, parse_rate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "per_s"), [("2/s", 2.0), ("120/min", 2.0), ("0.5/s", 0.5), ("900/h", 0.25),
                                             (" 3 / m ", 0.05)])
def test_arrival_rates_parse(text: str, per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(per_s)


@pytest.mark.parametrize(("phase", "line", "where", "expected"), [
    ("{arrival_rate: 0/s, max_users: 2}", 5, "arrival_rate", "must be more than 0"),
    ("{arrival_rate: -2/s, max_users: 2}", 5, "arrival_rate", "cannot be negative"),
    ("{arrival_rate: 2, max_users: 2}", 5, "arrival_rate", "a bare number (2) has no unit: write '2/s'"),
    ("{arrival_rate: two per second, max_users: 2}", 5, "arrival_rate", "cannot read 'two per second' as an "
                                                                         "arrival rate"),
    ("{arrival_rate: 5000/s, max_users: 2}", 5, "arrival_rate", "at most 100/s"),
    ("{arrival_rate: 2/s, max_users: 0}", 5, "max_users", "must be at least 1 (got 0)"),
    ("{arrival_rate: 2/s, max_users: 1.5}", 5, "max_users", "must be a whole number"),
    ("{arrival_rate: 2/s, users: 4, max_users: 2}", 5, "users", "do not go together"),
    ("{arrival_rate: 2/s, max_users: 2, think: 1s}", 5, "think", "an open model (arrival_rate) starts each"),
    ("{arrival_rate: 2/s}", 5, "", "arrival_rate needs max_users"),
    ("{max_users: 4}", 5, "max_users", "give arrival_rate too"),
])
def test_bad_open_model_names_file_and_line(tmp_path: Path, phase: str, line: int, where: str,
                                            expected: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(f"name: o\ntarget: {{base_url: demo}}\nphases:\n  before: {{attempts: 1}}\n  during: {phase}\n")
    code, _, err = run_cli("validate", str(path))
    assert code == 2, err
    key = f"phases.during.{where}" if where else "phases.during"
    assert f"{path}:{line}: {key}:" in err and expected in err, err


def test_dry_run_says_the_schedule(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "e2e",
                          phases={"during": {"arrival_rate": "120/min", "max_users": 3, "attempts": 6}})
    code, out, err = run_cli("run", str(path), "--dry-run")
    assert code == 0, err
    assert "during 6 at 2/s on at most 3 users" in out, out


def test_users_busy_over_time_is_a_step_function() -> None:
    from uxchaos.report.charts import steps_over_time

    assert steps_over_time([(0.0, 2.0), (1.0, 3.0), (2.0, 4.0)]) == ([0.0, 1.0, 2.0, 3.0, 4.0], [1, 2, 2, 1, 0])


def test_rates_that_are_no_rate_raise() -> None:
    for bad in ("2/s/s", "/s", "2/d", True, None):
        with pytest.raises(DurationError):
            parse_rate(bad)


# A journey that holds its user at least 1 s: with one due every 250 ms, two users cannot keep up.
SLOW_JOURNEY = opening_then_sleep("1s")


@pytest.mark.browser
def test_arrivals_beyond_max_users_start_late_and_are_counted(tmp_path: Path, demo_stack: DemoStack) -> None:
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    path = write_scenario(tmp_path, "e2e", target=shared_demo_target(demo_stack, control.address),
                          journey=SLOW_JOURNEY, fault=proxy_fault(delay="100ms"),
                          phases=phases(during={"arrival_rate": "4/s", "max_users": 2, "attempts": 6}))
    try:
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    finally:
        control.close()
    assert demo_stack.hub.describe("database")["toxics"] == []
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "reports")
    samples = samples_of(run_dir)
    assert Counter(s["phase"] for s in samples) == {"before": 1, "during": 6, "after": 1}  # exactly as scheduled
    during = sorted((s for s in samples if s["phase"] == "during"), key=lambda s: s["attempt"])
    assert [s["attempt"] for s in during] == [1, 2, 3, 4, 5, 6]
    assert {s["user"] for s in during} == {1, 2} and all(s["ok"] for s in during), during
    # Due every 250 ms from the first, whatever happened; the lateness is when a user began it.
    due = [s["scheduled_at"] - during[0]["scheduled_at"] for s in during]
    assert due == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25], abs=0.002)
    assert all(s["late_ms"] is not None and s["late_ms"] >= 0 for s in during)
    assert all(s["started_at"] >= s["scheduled_at"] for s in during)
    # Two users, each busy ≥ 1 s: the third arrival (due at 0.5 s) waits until ≥ 1 s.
    late = [s for s in during if s["started_late"]]
    assert during[2]["late_ms"] >= 400 and during[2]["started_late"], during[2]
    assert all(s["started_late"] == (s["late_ms"] > 100) for s in during)
    assert f"⚠ {len(late)} of 6 during attempts started late by > 100 ms" in err, err
    assert "arrival rate 4/s needs more than max_users 2" in err, err
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    (counted,) = [r for r in records if r["type"] == "late_starts"]
    assert counted["late"] == len(late) and counted["attempts"] == 6 and counted["max_users"] == 2
    # The fault was held for every arrival and reverted after the last.
    run = RunData.load(run_dir)
    injected = next(e["time"] for e in run.events if e["event"] == "injected")
    reverted = next(e["time"] for e in run.events if e["event"] == "reverted")
    assert all(injected <= s["started_at"] and s["ended_at"] <= reverted for s in during)
    # The report counts the late starts and gives per-phase and per-endpoint figures that match the samples.
    ok = [s["duration_s"] for s in samples if s["ok"]]
    report = (run_dir / "report.md").read_text()
    assert f"⏱ **{len(late)} of 6 attempts started late** by more than 100 ms" in report, report
    durations = sorted(s["duration_s"] for s in during)
    assert (f"| during | 4/s on at most 2 users (open) | 6 | 6 | {statistics.median(durations):.2f} | "
            f"{numpy.percentile(durations, 95):.2f} | {sum(s['saturated'] for s in during)} | {len(late)} |") in report
    assert (f"| local | 8 | 8 | 0 | 0 | {statistics.median(ok):.2f} | {numpy.percentile(ok, 95):.2f} |") in report
    html = (run_dir / "report.html").read_text()
    assert f"{len(late)} of 6 attempts started late" in html and "users busy" in html
    assert "due, waiting for a free user" in html  # the late arrivals on the timeline's users chart


@pytest.mark.browser
def test_a_python_journey_runs_in_an_open_model(tmp_path: Path, demo_stack: DemoStack) -> None:
    journey = ROOT / "examples" / "journeys" / "login.py"
    demo_stack.hub.reset()
    path = write_scenario(tmp_path, "py-open", target=shared_demo_target(demo_stack),
                          journey={"python": f"{journey}:login"},
                          phases=phases(before={"arrival_rate": "120/min", "max_users": 2, "attempts": 2}))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    samples = samples_of(only_run_dir(tmp_path / "reports"))
    before = [s for s in samples if s["phase"] == "before"]
    assert len(before) == 2 and all(s["ok"] and s["scheduled_at"] is not None for s in before), before
    assert all(any(a["name"] == "Logging in" for a in s["actions"]) for s in before)
    assert Counter(s["phase"] for s in samples) == {"before": 2, "during": 1, "after": 1}

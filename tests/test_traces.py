"""Playwright traces (uxchaos/journey/traces.py): which attempts keep one, that no typed secret can be
read in any file of any trace, and that a failed attempt's trace holds its failing step — with real
Chromium and the real demo under a database delay that makes the during attempts time out."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from scenario_builder import DEMO_CREDENTIALS, scenario_yaml

from uxchaos.cli import main
from uxchaos.demo.login import login_journey
from uxchaos.demo.stack import DemoInfo
from uxchaos.journey.traces import TraceKeeper, default_mode, redact, secret_forms
from uxchaos.results.records import ActionTiming, Captured, Sample
from uxchaos.results.rundata import RunData
from uxchaos.run.options import RunOptions


def _traced(tmp_path: Path, phase: str, attempt: int, seconds: float, ok: bool = True) -> Sample:
    name = f"trace-{phase}-{attempt}.zip"
    (tmp_path / name).write_bytes(b"zip")
    return Sample(phase, attempt, 0.0, seconds, seconds, ok, [ActionTiming("A", seconds, ok, None if ok else "x"),
                                                              ActionTiming("B", 1.0 / seconds, True)],
                  captured=Captured(trace=name))


def test_slowest_keeps_failures_and_each_actions_slowest_during_attempt(tmp_path: Path) -> None:
    keeper = TraceKeeper("slowest", tmp_path)
    assert not keeper.keep(_traced(tmp_path, "before", 1, 1.0))  # passed, not during: discarded at once
    assert keeper.keep(_traced(tmp_path, "before", 2, 1.0, ok=False))  # failed: kept for good
    assert keeper.keep(_traced(tmp_path, "during", 1, 2.0))  # slowest of A and of B so far
    assert keeper.keep(_traced(tmp_path, "during", 2, 4.0))  # A's slowest now; B's is still during 1
    assert keeper.keep(_traced(tmp_path, "during", 3, 0.1))  # B's slowest (10 s): during 1 is needed by none
    assert not keeper.keep(_traced(tmp_path, "during", 4, 3.0))
    assert not keeper.keep(_traced(tmp_path, "after", 1, 9.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace-before-2.zip", "trace-during-2.zip",
                                                          "trace-during-3.zip"]
    on, failures = TraceKeeper("on", tmp_path), TraceKeeper("retain-on-failure", tmp_path)
    assert on.keep(_traced(tmp_path, "after", 2, 1.0))
    assert not failures.keep(_traced(tmp_path, "after", 3, 1.0))
    assert failures.keep(_traced(tmp_path, "after", 4, 1.0, ok=False))


def test_redact_replaces_every_form_of_a_secret_in_every_file(tmp_path: Path) -> None:
    secret = 'p&ss "wörd"/1'
    forms = secret_forms({secret})
    source, target = tmp_path / "in.zip", tmp_path / "out.zip"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("trace.trace", json.dumps({"params": {"value": secret}}) + json.dumps({"v": secret},
                                                                                          ensure_ascii=False))
        z.writestr("trace.network", "password=p%26ss+%22w%C3%B6rd%22%2F1&x=p%26ss%20%22w%C3%B6rd%22%2F1")
        z.writestr("resources/snap.html", "<input value=\"p&amp;ss &quot;wörd&quot;/1\">")
        z.writestr("resources/raw.dat", secret.encode())
    redact(source, target, {secret})
    with zipfile.ZipFile(target) as z:
        assert sorted(z.namelist()) == ["resources/raw.dat", "resources/snap.html", "trace.network", "trace.trace"]
        for name in z.namelist():
            data = z.read(name)
            assert not any(form in data for form in forms), (name, data)
            assert b"***" in data, name


SCENARIO = scenario_yaml("traced", target={"base_url": "demo", "credentials": DEMO_CREDENTIALS},
                         journey=[*login_journey(expect_url=False), {"action": "Reading the report", "steps": [
                             {"expect_text": {"text": "Quarterly report", "timeout": "1s"}}]}])


def _has_screencast(names: list[str], events: list[dict[str, Any]]) -> bool:
    """Whether a trace holds screencast frames: their events in trace.trace, and each frame's image."""
    frames = [e for e in events if e.get("type") == "screencast-frame"]
    images = {n for n in names if n.endswith((".jpeg", ".jpg"))}
    assert {f.get("file") for f in frames} <= {*images, None}, (frames, names)
    assert bool(frames) == bool(images), (len(frames), images)
    return bool(frames)


@pytest.mark.browser
@pytest.mark.parametrize("extra", [[], ["--trace-screenshots"]], ids=["default", "with-screenshots"])
def test_traces_hold_no_secret_and_a_failed_attempt_shows_its_failing_step(demo: DemoInfo, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          extra: list[str]) -> None:
    """Every attempt fails at its last action (the dashboard has no quarterly report), after typing
    the password: each keeps its trace (default --trace slowest keeps failures). Screenshots only
    with --trace-screenshots (the password field shows dots in them)."""
    monkeypatch.delenv("UXCHAOS_TRACE", raising=False)  # the real default (the tests' conftest sets off)
    assert demo.password == "demo-password"
    scenario = tmp_path / "traced.yaml"
    scenario.write_text(SCENARIO)
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(scenario), "--out", str(tmp_path / "reports"), "--base-url", demo.base_url, *extra],
                out, err)  # default: --trace slowest
    assert code == 0, err.getvalue()
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    run = RunData.load(run_dir)
    assert [(s.phase, s.ok, s.failed_action) for s in run.samples] == [
        (phase, False, "Reading the report") for phase in ("before", "during", "after")]
    traces = [s.captured.trace for s in run.samples]
    assert traces == ["trace-before-1.zip", "trace-during-1.zip", "trace-after-1.zip"]
    assert sorted(p.name for p in run_dir.glob("*.zip")) == sorted(t for t in traces if t)
    assert sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.suffix not in (".zip", ".png")) == [
        "junit.xml", "report.html", "report.md", "results.jsonl", "run.json", "summary.json"]  # no half-made file

    for trace in run_dir.glob("*.zip"):
        with zipfile.ZipFile(trace) as z:
            names = z.namelist()
            assert "trace.trace" in names and "trace.network" in names and len(names) > 3, names
            for name in names:
                assert b"demo-password" not in z.read(name), (trace.name, name)
            events = [json.loads(line) for line in z.read("trace.trace").decode().splitlines() if line.strip()]
        assert [e for e in events if e.get("type") == "frame-snapshot"]  # the DOM of each step, always
        assert _has_screencast(names, events) is bool(extra)  # they cost inside the clock: only when asked
        before = {e["callId"]: e for e in events if e.get("type") == "before"}
        fills = [e for e in before.values() if e.get("method") == "fill"]
        assert len(fills) == 2 and fills[1]["params"]["value"] == "***"  # the typed password, redacted
        failing = [before[e["callId"]] for e in events if e.get("type") == "after" and e.get("error")]
        assert len(failing) == 1 and failing[0]["method"] == "expect", failing
        assert "Quarterly report" in json.dumps(failing[0]["params"])  # the failing step, with its error
        groups = [e["title"] for e in before.values() if e.get("method") == "tracingGroup"]
        assert groups == ["Opening the login page", "Logging in", "Reading the report"]

    html = (run_dir / "report.html").read_text()
    assert '<a href="trace-during-1.zip">trace-during-1.zip</a>' in html
    assert "`trace-during-1.zip` — during #1, failed: " in (run_dir / "report.md").read_text()
    junit = (run_dir / "junit.xml").read_text()
    assert f"[[ATTACHMENT|{run_dir / 'trace-during-1.zip'}]]" in junit and "<system-out>" in junit
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"demo-password" not in path.read_bytes(), path


def test_trace_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("UXCHAOS_TRACE", raising=False)
    assert default_mode() == "slowest" and RunOptions().trace == "slowest"
    monkeypatch.setenv("UXCHAOS_TRACE", "retain-on-failure")
    assert default_mode() == "retain-on-failure" and RunOptions().trace == "retain-on-failure"
    monkeypatch.setenv("UXCHAOS_TRACE", "sometimes")
    assert main(["run", "login-under-db-delay"]) == 2  # bad input, before anything starts
    err = capsys.readouterr().err
    assert "UXCHAOS_TRACE='sometimes'" in err and "off, on, retain-on-failure, slowest" in err, err


def test_bad_trace_mode_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "login-under-db-delay", "--trace", "always"]) == 2
    assert "invalid choice: 'always'" in capsys.readouterr().err

"""`uxchaos run` end to end: real Chromium, the real demo (or a real app), real faults."""

from __future__ import annotations

import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import http_site
from scenario_builder import proxy_fault, write_scenario

from uxchaos.browser.launch import find_browser
from uxchaos.cli import main
from uxchaos.demo.login import open_action
from uxchaos.demo.stack import DemoStack
from uxchaos.errors import EnvironmentProblem
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.results.rundata import RunData
from uxchaos.util.netutil import wait_until


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.glob("*/*") if p.is_dir()]
    return run_dir


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.timing
def test_shortened_db_delay_run_shows_the_slowdown(tmp_path: Path, make_scenario: Callable[..., Path]) -> None:
    path = make_scenario("e2e", fault=proxy_fault(delay="300ms"), phases=(2, 2, 2))
    code, out, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "reports")
    run = RunData.load(run_dir)
    assert [s.phase for s in run.samples] == ["before"] * 2 + ["during"] * 2 + ["after"] * 2
    assert not any(s.fault.straddled for s in run.samples) and all(s.ok for s in run.samples)
    before = statistics.median(run.action_durations("Logging in", "before"))
    during = statistics.median(run.action_durations("Logging in", "during"))
    after = statistics.median(run.action_durations("Logging in", "after"))
    assert during - before >= 4 * 0.3, (before, during)
    assert after <= 1.5 * before + 0.2, (before, after)
    # Every step timed; navigations carry the browser's own Navigation Timing.
    click = next(s for s in run.samples[0].steps if s.kind == "click")
    assert click.navigation and click.navigation["status"] == 200
    assert click.navigation["url"].endswith("/dashboard")
    assert click.navigation["timing_ms"]["load"] > 0
    report = (run_dir / "report.md").read_text()
    assert "| Action | Attempt | Before (s) | During (s) | After (s) |" in report
    assert "| Logging in | 1 |" in report and "inject" in report and "reverted" in report
    assert "| Action | Attempt | Before (s) | During (s) | After (s) |" in out  # printed at the end too
    effect = next(e for e in run.events if e["event"] == "effect_verified")
    assert effect["requested_ms"] == 300 and effect["ok"] and 250 <= effect["observed_ms"] <= 400
    assert "requested 300 ms, observed +" in report
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["browser"]["version"]
    assert "demo-password" not in (run_dir / "run.json").read_text()
    assert "demo-password" not in (run_dir / "results.jsonl").read_text()
    # The database turns each action took, counted by the proxy without the worker's polling.
    turns = {(t["action"], t["service"]): t for t in json.loads((run_dir / "summary.json").read_text())[
        "service_turns"]}
    login = turns[("Logging in", "database")]
    assert login["turns"]["during"] == login["turns"]["before"] >= 5, login
    assert login["per_turn_s"] == 0.3 and login["explained_s"] == pytest.approx(0.3 * login["turns"]["during"])
    assert f"Logging in: {login['turns']['during']:.0f} database turns × 0.300 s" in report
    assert turns[("Logging in", "backend")]["turns"]["during"] >= 1


@pytest.mark.browser
def test_max_duration_reverts_and_flags_the_straddling_sample(tmp_path: Path,
                                                             make_scenario: Callable[..., Path]) -> None:
    path = make_scenario("e2e", fault=proxy_fault(delay="400ms", max_duration="1s"), phases=(1, 3, 1))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    run = RunData.load(only_run_dir(tmp_path / "reports"))
    during = run.attempts("during")
    assert len(during) == 1 and during[0].fault.straddled  # no further attempt once the fault was gone
    reverted = next(e for e in run.events if e["event"] == "reverted")
    assert "max duration" in reverted["reason"]
    assert run.action_durations("Logging in", "during") == []  # kept out of the statistics
    assert "straddled" in (only_run_dir(tmp_path / "reports") / "report.md").read_text()


@pytest.mark.browser
def test_failed_step_is_recorded_with_reason_and_screenshot(tmp_path: Path, make_scenario: Callable[..., Path],
                                                            demo_target: dict[str, Any]) -> None:
    path = make_scenario("e2e", target=demo_target, journey=[
        {"action": "Opening the home page", "steps": [{"goto": "/"}]},
        {"action": "Looking for a missing text",
         "steps": [{"expect_text": {"text": "There is no such text", "timeout": "1s"}}]},
        {"action": "Never reached", "steps": [{"goto": "/login"}]}])
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "reports")
    run = RunData.load(run_dir)
    assert len(run.samples) == 3 and not any(s.ok for s in run.samples)
    sample = run.samples[0]
    assert sample.failed_action == "Looking for a missing text"
    assert "There is no such text" in (sample.failure or "")
    assert sample.actions[0].ok and sample.actions[2].failure == "not run: an earlier action failed"
    assert sample.screenshot and (run_dir / "screenshots" / sample.screenshot).stat().st_size > 1000
    assert "✗ text 'There is no such text' not found" in (run_dir / "report.md").read_text()


@pytest.mark.browser
def test_worker_kill_records_exit_and_restart(tmp_path: Path) -> None:
    code, _, err = run_cli("run", "worker-kill", "--attempts", "1", "--out", str(tmp_path / "reports"))
    assert code == 0, err
    run = RunData.load(only_run_dir(tmp_path / "reports"))
    exited = next(e for e in run.events if e["event"] == "target_exited")
    assert exited["status"] == "killed by SIGKILL" and exited["returncode"] == -9
    replacement = next(e for e in run.events if e["event"] == "replacement_running")
    assert replacement["pid"] != exited["pid"] and 0 < replacement["after_kill_s"] < 10
    assert all(s.ok for s in run.samples), [s.failure for s in run.samples]


def test_app_answering_500_stops_the_run_before_any_fault(tmp_path: Path, make_scenario: Callable[..., Path]) -> None:
    error = b"SQLSTATE[42S02]: Base table or view not found: 1146 Table 'laravel.sessions' doesn't exist"
    with http_site(lambda path: (500, error)) as url:
        path = make_scenario("e2e", target=url, phases=None)
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 3
    assert "HTTP 500" in err and "Base table or view not found" in err
    assert not any(r.get("type") == "sample" for r in read_results(only_run_dir(tmp_path / "reports")))


def test_unreachable_target_is_an_environment_problem(tmp_path: Path, make_scenario: Callable[..., Path]) -> None:
    path = make_scenario("e2e", target="http://127.0.0.1:9", phases=None)
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 3 and "the target is unreachable" in err


def test_missing_browser_names_both_ways_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("UXCHAOS_BROWSER", raising=False)
    monkeypatch.setattr("uxchaos.browser.launch.SYSTEM_CHROMIUMS", ("no-such-chromium",))
    monkeypatch.setattr("uxchaos.browser.launch.HEADLESS_SHELLS", ("no-such-headless-shell",))
    with pytest.raises(EnvironmentProblem) as info:
        find_browser(None)
    assert "playwright install chromium" in str(info.value)
    assert "apt-get install chromium chromium-headless-shell" in str(info.value)


@pytest.mark.browser
def test_headless_pages_run_in_the_headless_shell_and_a_shown_window_in_the_full_browser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # make setup installs both (scripts/ensure-browser.sh); each must be the one its mode needs, and run
    monkeypatch.delenv("UXCHAOS_BROWSER", raising=False)
    shell, full = find_browser(None, headless=True), find_browser(None, headless=False)
    assert "headless-shell" in Path(shell).name and "headless" not in Path(full).name
    for path in (shell, full):
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and "Chromium" in done.stdout, (path, done.stdout, done.stderr)


@pytest.mark.browser
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_the_fault_reverts_it(tmp_path: Path, demo_stack: DemoStack, sig: signal.Signals,
                                               make_scenario: Callable[..., Path]) -> None:
    """A real `uxchaos run` process against the demo's proxies (over the control API), interrupted
    in the during phase: the database must be fast again and the measurements kept."""
    assert demo_stack.info is not None
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    path = make_scenario("e2e", target={
        "base_url": demo_stack.info.base_url, "proxy_control": control.address,
        "credentials": {"username": demo_stack.info.email, "password": demo_stack.info.password}},
        fault=proxy_fault(delay="1s"), phases=(1, 5, 1))
    out = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def injected() -> bool:
            runs = list(out.glob("*/*/results.jsonl"))
            return bool(runs) and any(r.get("event") == "injected" for r in read_results(runs[0].parent))

        wait_until(injected, 60, "the fault injection")
        assert demo_stack.hub.describe("database")["toxics"], "the fault should be active now"
        time.sleep(1.5)  # in the middle of a during-phase attempt
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        control.close()
    assert proc.returncode == 130, err
    assert demo_stack.hub.describe("database")["toxics"] == []
    with psycopg.connect(demo_stack.info.database_dsn, autocommit=True) as conn:
        t = time.perf_counter()
        conn.execute("SELECT 1").fetchone()
        assert time.perf_counter() - t < 0.5
    run_dir = only_run_dir(out)
    records = read_results(run_dir)
    assert any(r.get("event") == "reverted" for r in records)
    assert any(r.get("type") == "sample" and r["phase"] == "before" for r in records)
    assert records[-1] == {**records[-1], "type": "run_end", "status": "interrupted"}
    (interrupted,) = [r for r in records if r.get("type") == "interrupted"]
    assert interrupted["phase"] == "during" and interrupted["reason"] == f"signal {sig.name}"
    assert (run_dir / "report.md").exists()
    assert os.path.getsize(run_dir / "run.json") > 0


@pytest.mark.browser
def test_failing_expectation_exits_1(tmp_path: Path, make_scenario: Callable[..., Path],
                                     demo_target: dict[str, Any]) -> None:
    path = make_scenario("e2e", target=demo_target, journey=[open_action()],
                         expect=["during.failures == 0", 'during["Opening the login page"].p50 < 1ms'])
    code, out, _ = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 1
    assert "❌ FAIL `during[\"Opening the login page\"].p50 < 1ms`" in out
    assert "✅ pass `during.failures == 0`" in out
    suite = (only_run_dir(tmp_path / "reports") / "junit.xml").read_text()
    assert 'failures="1"' in suite


@pytest.mark.browser
def test_html_report_is_self_contained_with_charts_and_escaped(tmp_path: Path, make_scenario: Callable[..., Path],
                                                              demo_target: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from uxchaos.browser.launch import launch_args

    path = make_scenario("e2e", target=demo_target,
                         journey=[{"action": "<script>alert(1)</script>", "steps": [{"goto": "/login"}]}],
                         fault=proxy_fault(delay="100ms"), phases=(2, 2, 2))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    report = only_run_dir(tmp_path / "reports") / "report.html"
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(p), args=launch_args())
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri())
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert page.locator("#timeline svg").count() == 1
        assert page.locator("#distributions svg").count() == 1
        assert page.locator("#timeline svg path").count() > 5  # lines, markers, the shaded fault window
        assert page.get_by_text("<script>alert(1)</script>").count() >= 1  # shown as text
        assert page.locator("script").count() == 0
        browser.close()
    assert dialogs == []
    assert requests and all(url.startswith("file://") for url in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 20_000


@pytest.mark.browser
def test_compare_two_real_runs_finds_the_slower_one(tmp_path: Path, demo_target: dict[str, Any]) -> None:
    dirs = []
    for delay in ("200ms", "600ms"):  # one scenario, changed between runs (compare refuses two scenarios)
        (tmp_path / delay).mkdir()
        path = write_scenario(tmp_path / delay, "delay", target=demo_target, journey=[open_action()],
                              fault=proxy_fault(delay=delay), phases=(1, 5, 1))
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / delay))
        assert code == 0, err
        dirs.append(only_run_dir(tmp_path / delay))
    code, out, _ = run_cli("compare", str(dirs[0]), str(dirs[1]))
    assert code == 0
    during = next(line for line in out.splitlines() if "| during |" in line)
    assert "slower, significant" in during, out


@pytest.mark.browser
def test_a_fault_without_effect_is_flagged(tmp_path: Path, make_scenario: Callable[..., Path],
                                           demo_target: dict[str, Any]) -> None:
    """probability 0: the toxic is installed but touches no connection — the report's 'is the delay
    even working?' must be answered with a warning, not silence."""
    path = make_scenario("e2e", target=demo_target, journey=[open_action()],
                         fault=proxy_fault(delay="500ms", probability=0.0))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0
    assert "WARNING: requested 500 ms, observed +" in err
    run_dir = only_run_dir(tmp_path / "reports")
    effect = next(e for e in RunData.load(run_dir).events if e["event"] == "effect_verified")
    assert not effect["ok"] and effect["observed_ms"] < 100
    assert "less than half of the request" in (run_dir / "report.md").read_text()


FORM_PAGE = b"""<!doctype html><html><body>
<h1>Settings</h1>
<form action="/saved" method="get">
  <select id="color" name="color"><option value="red">Red</option><option value="blue">Blue</option></select>
  <label><input id="agree" name="agree" type="checkbox" value="yes"> I agree</label>
  <input id="who" name="who">
</form>
<p id="later" style="display:none">Loaded later</p>
<script>setTimeout(() => { document.getElementById('later').style.display = 'block'; }, 300);</script>
</body></html>"""


def form_site(path: str) -> tuple[int, bytes]:
    if path.startswith("/saved"):
        return 200, f"<html><body><h1>Saved: {path.split('?', 1)[1]}</h1></body></html>".encode()
    return 200, FORM_PAGE


@pytest.mark.browser
def test_every_step_type_in_a_real_browser(tmp_path: Path) -> None:
    path = tmp_path / "steps.yaml"
    with http_site(form_site) as url:
        path.write_text(f"""name: every-step
target:
  base_url: '{url}'
  credentials: {{username: ann}}
journey:
  - action: Filling the form
    steps:
      - http_get: /
        expect_status: 200
      - goto: /settings
      - wait_for: {{text: Loaded later}}
      - select: "#color"
        value: blue
      - check: "#agree"
      - fill: "#who"
        value: "{{{{ username }}}}"
      - screenshot: filled form
      - click: h1
        name: a click that does not navigate
      - press: "#who"
        key: Enter
      - wait_for: {{url: "**/saved*"}}
      - expect_url: "**/saved?color=blue&agree=yes&who=ann"
      - expect_text: {{text: "Saved:", selector: h1}}
      - wait_for: h1
      - sleep: 100ms
phases:
  before: {{attempts: 1}}
  during: {{attempts: 1}}
  after: {{attempts: 1}}
""")
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "r"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "r")
    run = RunData.load(run_dir)
    assert all(s.ok for s in run.samples), [s.failure for s in run.samples]
    steps = run.samples[0].steps
    from uxchaos.journey.steps import IMPLEMENTATIONS
    from uxchaos.scenario.steptypes import STEPS

    assert set(IMPLEMENTATIONS) == set(STEPS)  # every declared step type has its browser side…
    assert {s.kind for s in steps} == set(STEPS)  # …and every one ran for real
    by_kind = {s.kind: s for s in steps}
    assert by_kind["http_get"].http_status == 200
    assert by_kind["press"].navigation and by_kind["press"].navigation["url"].endswith("who=ann")
    assert by_kind["sleep"].duration_s >= 0.1
    assert by_kind["click"].navigation is None and by_kind["click"].label == "a click that does not navigate"
    (shot,) = by_kind["screenshot"].artifacts or []
    assert (run_dir / "screenshots" / shot).stat().st_size > 1000


def test_runs_of_one_scenario_started_together_each_claim_a_folder(tmp_path: Path) -> None:
    """Parallel runs into one --out within the same second (the dependency matrix starts several at once)
    each get a folder of their own, made when it is chosen."""
    from concurrent.futures import ThreadPoolExecutor

    from uxchaos.run.options import new_run_dir

    with ThreadPoolExecutor(8) as pool:
        dirs = list(pool.map(lambda _: new_run_dir(tmp_path, "same"), range(8)))
    assert len(set(dirs)) == 8 and all(d.is_dir() for d in dirs), dirs

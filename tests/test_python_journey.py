"""Python journeys (`journey: {python: FILE.py:FUNCTION}`): loading errors, timing records, failures,
secrets — real Chromium against the real demo."""

from __future__ import annotations

import io
import json
import statistics
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenario_builder import scenario_yaml

from uxchaos.browser.session import BrowserSession
from uxchaos.cli import main
from uxchaos.demo.stack import DemoInfo
from uxchaos.errors import BadInput
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.python import OUTSIDE_STEPS, JourneyMisuse, StepTimer
from uxchaos.results.records import Sample
from uxchaos.results.rundata import RunData
from uxchaos.scenario.loading import load_scenario, parse_scenario
from uxchaos.scenario.model import ScenarioError

LOGIN = '''
from playwright.sync_api import expect


def login(page, step, vars):
    with step("Opening the login page"):
        page.goto("/login")
    with step("Logging in"):
        page.fill("#email", vars["username"])
        page.fill("#password", vars["password"])
        page.click("#login")
        page.wait_for_url("**/dashboard")
        expect(page.get_by_text("Welcome")).to_be_visible()
'''


def scenario_file(tmp_path: Path, journey_src: str, ref: str = "journeys/j.py:login", extra: str = "",
                  name: str = "py", target: str = "{base_url: demo}") -> Path:
    (tmp_path / "journeys").mkdir(exist_ok=True)
    (tmp_path / "journeys" / "j.py").write_text(textwrap.dedent(journey_src))
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ntarget: {target}\njourney:\n  python: {ref}\n{extra}")
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


# -- loading: every problem is a file:line message, exit 2 ---------------------------------------

@pytest.mark.parametrize(("source", "ref", "expected"), [
    (LOGIN, "journeys/missing.py:login", "journey file journeys/missing.py does not exist"),
    (LOGIN, "journeys/j.py:logn", "no function 'logn' (did you mean 'login'?)"),
    (LOGIN, "journeys/j.py", "write the journey as FILE.py:FUNCTION"),
    ("def login(page, step):\n    pass\n", "journeys/j.py:login", "j.py:1: login(page, step) has the wrong signature"),
    ("def login(page, vars, step):\n    pass\n", "journeys/j.py:login", "j.py:1: login(page, vars, step) has"),
    ("import os\n\ndef login(page, step, vars)\n    pass\n", "journeys/j.py:login", "j.py:3: syntax error"),
    ("x = 1\nraise RuntimeError('no config')\n", "journeys/j.py:login",
     "j.py:2: importing it raised RuntimeError: no config"),
], ids=["file-missing", "function-missing", "no-function", "too-few-params", "params-swapped", "syntax-error",
        "raises-at-import"])
def test_bad_python_journeys_are_reported_with_file_and_line(tmp_path: Path, source: str, ref: str,
                                                              expected: str) -> None:
    path = scenario_file(tmp_path, source, ref)
    code, out, err = run_cli("validate", str(path))
    assert code == 2, out
    assert f"{path}:4: journey.python:" in err and expected in err, err


def test_a_bad_python_journey_stops_run_before_anything_starts(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "def login(page):\n    pass\n",
                         extra="fault: {driver: proxy, kind: delay, target: database, params: {delay: 200ms}}\n")
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 2 and "wrong signature" in err, err
    assert not (tmp_path / "reports").exists()  # no run folder: nothing was started, nothing injected


def test_expectations_may_name_actions_only_known_when_the_journey_runs(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, LOGIN, extra='expect:\n  - during["Anything at all"].p50 < 5s\n')
    assert load_scenario(path).python_journey is not None
    yaml_twin = tmp_path / "yaml.yaml"
    yaml_twin.write_text("name: y\ntarget: {base_url: demo}\njourney:\n  - action: A\n    steps: [{goto: /}]\n"
                         'expect:\n  - during["Anything at all"].p50 < 5s\n')
    with pytest.raises(ScenarioError, match="no action named 'Anything at all'"):
        load_scenario(yaml_twin)


def test_step_misuse_names_the_line() -> None:
    timer = StepTimer()
    with pytest.raises(JourneyMisuse, match=r"test_python_journey\.py:\d+: step\('inner'\) inside step\('outer'\)"), \
            timer("outer"):
        timer("inner")
    assert [(b.name, b.ok) for b in timer.blocks] == [("outer", False)]
    with pytest.raises(JourneyMisuse, match="needs a non-empty name"):
        timer("  ")
    with pytest.raises(JourneyMisuse, match="names the time outside every step"):
        timer(OUTSIDE_STEPS)


# -- a whole run: fault, reports, secrets (before the module's shared browser: one sync Playwright at a time) --

@pytest.mark.timing
def test_python_journey_run_under_db_delay(tmp_path: Path) -> None:
    source = LOGIN + "    raise ValueError('typed ' + vars['password'])\n"  # a failure quoting the secret
    target = "{base_url: demo, credentials: {username: demo@example.com, password: demo-password}}"
    path = scenario_file(tmp_path, source, target=target, extra=textwrap.dedent("""\
        fault: {driver: proxy, kind: delay, target: database, params: {delay: 200ms}}
        phases: {before: {attempts: 1}, during: {attempts: 1}, after: {attempts: 1}}
        expect:
          - during["Logging in"].p50 > before["Logging in"].p50 + 1s
          - during["Never measured"].p50 < 5s
    """))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 1, err  # the second expectation has no data
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    run = RunData.load(run_dir)
    assert [s.phase for s in run.samples] == ["before", "during", "after"]
    assert all(s.failed_action == OUTSIDE_STEPS and "ValueError: typed ***" in (s.failure or "") for s in run.samples)
    assert all(a.ok for s in run.samples for a in s.actions if a.name != OUTSIDE_STEPS)
    summary = json.loads((run_dir / "summary.json").read_text())
    results = [(e["passed"], e["message"]) for e in summary["expectations"]]
    assert results[0][0] is True and results[1][0] is False and "no action named 'Never measured'" in results[1][1]
    report = (run_dir / "report.md").read_text()
    assert "Python `journeys/j.py:login`" in report and "(outside steps)" in report
    for f in run_dir.rglob("*"):
        if f.is_file() and f.suffix != ".png":
            assert "demo-password" not in f.read_text(errors="replace"), f


# -- one attempt, real browser, shared demo -------------------------------------------------------

@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    with BrowserSession() as s:
        yield s


def attempt(session: BrowserSession, demo: DemoInfo, tmp_path: Path, source: str, function: str = "login",
            timeout_s: float = 10) -> Sample:
    scenario = load_scenario(scenario_file(tmp_path, source, f"journeys/j.py:{function}"))
    plan = AttemptPlan("before", 1, [], demo.base_url, {"username": demo.email, "password": demo.password},
                       timeout_s, tmp_path / "shots", scenario.python_journey)
    return run_attempt(session, plan, lambda: False)


@pytest.mark.browser
def test_steps_become_actions_and_time_outside_them_is_its_own_row(session: BrowserSession, demo: DemoInfo,
                                                                   tmp_path: Path) -> None:
    source = LOGIN.replace('    with step("Logging in"):', '    import time; time.sleep(0.3)\n'
                                                            '    with step("Logging in"):')
    sample = attempt(session, demo, tmp_path, source)
    assert sample.ok, sample.failure
    assert [a.name for a in sample.actions] == ["Opening the login page", "Logging in", OUTSIDE_STEPS]
    timings = {a.name: a.duration_s for a in sample.actions}
    assert 0.3 <= timings[OUTSIDE_STEPS] < 1.0, timings  # the sleep, never added to an action
    assert timings["Logging in"] < 0.3 + 10  # and not in the login either (a bound that could fail)
    assert sample.duration_s == pytest.approx(sum(a.duration_s or 0 for a in sample.actions), abs=1e-5)


@pytest.mark.browser
def test_a_journey_without_steps_is_one_action_named_after_the_function(session: BrowserSession, demo: DemoInfo,
                                                                        tmp_path: Path) -> None:
    sample = attempt(session, demo, tmp_path, "def home(page, step, vars):\n    page.goto('/')\n", "home")
    assert sample.ok, sample.failure
    assert [a.name for a in sample.actions] == ["home"]
    assert sample.steps[0].kind == "python-whole" and "never calls step()" in sample.steps[0].label


@pytest.mark.browser
@pytest.mark.parametrize(("body", "reason", "line", "action"), [
    ('    with step("Checking"):\n        page.goto("/login")\n'
     '        expect(page.get_by_text("Nowhere to be seen")).to_be_visible(timeout=500)\n',
     "assertion failed:", 7, "Checking"),
    ('    with step("Clicking"):\n        page.goto("/login")\n        page.click("#no-such-button")\n',
     "timeout:", 7, "Clicking"),
    ('    with step("Opening"):\n        page.goto("/login")\n    {}["missing"]\n',
     "KeyError: 'missing'", 7, OUTSIDE_STEPS),
], ids=["expect-fails", "playwright-timeout", "error-outside-steps"])
def test_failures_end_the_attempt_with_reason_line_and_screenshot(session: BrowserSession, demo: DemoInfo,
                                                                  tmp_path: Path, body: str, reason: str,
                                                                  line: int, action: str) -> None:
    source = "from playwright.sync_api import expect\n\n\ndef login(page, step, vars):\n" + body
    sample = attempt(session, demo, tmp_path, source, timeout_s=1)
    assert not sample.ok
    assert sample.failure is not None and reason in sample.failure and f"j.py:{line})" in sample.failure, \
        sample.failure
    assert sample.failed_action == action
    assert sample.screenshot and (tmp_path / "shots" / sample.screenshot).stat().st_size > 0


@pytest.mark.browser
def test_a_step_name_used_twice_is_a_usage_error_with_its_line(session: BrowserSession, demo: DemoInfo,
                                                               tmp_path: Path) -> None:
    source = "def login(page, step, vars):\n    with step('A'):\n        pass\n    with step('A'):\n        pass\n"
    with pytest.raises(BadInput, match=r"j\.py:4: step name 'A' is used twice in one attempt"):
        attempt(session, demo, tmp_path, source)


@pytest.mark.browser
def test_relative_urls_resolve_against_the_target(session: BrowserSession, demo: DemoInfo, tmp_path: Path) -> None:
    source = "def login(page, step, vars):\n    page.goto('login')\n    assert page.url == vars['expected'], page.url\n"
    scenario = load_scenario(scenario_file(tmp_path, source))
    plan = AttemptPlan("before", 1, [], demo.base_url, {"expected": demo.base_url + "/login"}, 10,
                       tmp_path, scenario.python_journey)
    sample = run_attempt(session, plan, lambda: False)
    assert sample.ok, sample.failure


@pytest.mark.timing
def test_same_login_as_python_and_as_yaml_gives_the_same_medians(session: BrowserSession, demo: DemoInfo,
                                                                 tmp_path: Path) -> None:
    yaml_scenario = parse_scenario(scenario_yaml("y", phases=None), "y.yaml", env={})  # the demo login
    py = load_scenario(scenario_file(tmp_path, LOGIN)).python_journey
    variables = {"username": demo.email, "password": demo.password}
    durations: dict[str, list[float]] = {"yaml": [], "python": []}
    for i in range(10):  # interleaved, alternating who goes first
        for kind in (("yaml", "python") if i % 2 == 0 else ("python", "yaml")):
            plan = AttemptPlan("before", i + 1, yaml_scenario.journey if kind == "yaml" else [], demo.base_url,
                               variables, 30, tmp_path, py if kind == "python" else None)
            sample = run_attempt(session, plan, lambda: False)
            assert sample.ok, sample.failure
            durations[kind].append(next(a.duration_s for a in sample.actions if a.name == "Logging in") or 0)
    ratio = statistics.median(durations["python"]) / statistics.median(durations["yaml"])
    assert 0.6 < ratio < 1.6, durations  # within noise; the exact figure is the benchmark's job

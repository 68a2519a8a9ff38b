"""uxchaos as a pytest plugin (entry point `pytest11: uxchaos`): your Playwright tests as journeys.

    @pytest.mark.uxchaos("login-under-db-delay")      # a scenario name or file: target, fault, phases, expect
    def test_login(page, uxchaos):
        with uxchaos.step("Logging in"):
            ...

The test body becomes the journey of every attempt of every phase: `uxchaos.Engine` runs the
scenario exactly as `uxchaos run` does (fault injected, always reverted; the usual run folder and
reports), calling the body once per attempt with a fresh context and page. A test that asks for
the `uxchaos` fixture without a marker uses `--uxchaos-scenario` (or the `uxchaos_scenario` ini
value). The scenario's own journey is not used.

With pytest-playwright the browser is its `browser` fixture (so `--browser-channel`, `--headed`,
`--slowmo` apply) and each attempt's context comes from its `new_context` fixture (so `--tracing`,
`--video`, `--output` and `browser_context_args` apply); without it uxchaos launches Chromium
itself. The test fails when an expectation fails (with the measured numbers) or when no attempt
of the before phase succeeded (the journey is broken without any fault). The attempts table is
printed in pytest's terminal summary."""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import pytest

SCENARIO_KEY = pytest.StashKey["Any"]()
RUNS_KEY = pytest.StashKey[list["RunSummary"]]()
PLUGIN_NAME_PLAYWRIGHT = "playwright"  # pytest-playwright's entry point name


@dataclasses.dataclass
class RunSummary:
    nodeid: str
    scenario: str
    run_dir: Path
    table: str
    expectations: str
    passed: bool


class Uxchaos:
    """What the `uxchaos` fixture gives the test body; renewed for every attempt."""

    def __init__(self) -> None:
        self.step: Any = None  # step("Name") -> a context manager timing one action
        self.vars: dict[str, str] = {}  # the target's credentials and variables (username, password, …)
        self.phase = ""  # before | during | after
        self.attempt = 0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("uxchaos", "uxchaos: tests as journeys under a fault")
    group.addoption("--uxchaos-attempts", type=int, default=None, metavar="N",
                    help="attempts per phase for every uxchaos test (overrides the scenarios)")
    group.addoption("--uxchaos-out", default="reports", metavar="DIR",
                    help="where uxchaos run folders go (default: reports/)")
    group.addoption("--uxchaos-scenario", default=None, metavar="NAME|FILE",
                    help="scenario of tests that ask for the uxchaos fixture without a marker")
    group.addoption("--uxchaos-deadline", default="2h", metavar="DURATION",
                    help="stop (and revert) a uxchaos run that takes longer than this (default 2h)")
    parser.addini("uxchaos_scenario", "scenario of tests that ask for the uxchaos fixture without a marker")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "uxchaos(scenario, attempts=None): run the test body as the journey of "
                                       "every attempt of a uxchaos scenario (name or file) under its fault")
    config.stash[RUNS_KEY] = []
    if not config.pluginmanager.hasplugin(PLUGIN_NAME_PLAYWRIGHT):
        config.pluginmanager.register(_WithoutPytestPlaywright(), "uxchaos-page-fixtures")


class _WithoutPytestPlaywright:
    """`page`, `context` and `browser` for uxchaos tests when pytest-playwright is not in use. The
    plugin hands the body a fresh page per attempt; these only let pytest resolve the names."""

    @staticmethod
    def _only_for_uxchaos(request: pytest.FixtureRequest) -> None:
        if SCENARIO_KEY not in request.node.stash:
            pytest.fail(f"fixture {request.fixturename!r} comes from pytest-playwright (pip install pytest-playwright);"
                        " uxchaos provides it only to tests marked @pytest.mark.uxchaos", pytrace=False)

    @pytest.fixture
    def page(self, request: pytest.FixtureRequest) -> None:
        self._only_for_uxchaos(request)

    @pytest.fixture
    def context(self, request: pytest.FixtureRequest) -> None:
        self._only_for_uxchaos(request)

    @pytest.fixture
    def browser(self, request: pytest.FixtureRequest) -> None:
        self._only_for_uxchaos(request)


@pytest.fixture
def uxchaos() -> Uxchaos:
    """The step timer, variables, phase and attempt of the running attempt (see `Uxchaos`)."""
    return Uxchaos()


# -- collection: every uxchaos test's scenario is loaded before anything runs -----------------------

def _scenario_ref(item: pytest.Item) -> tuple[str | None, dict[str, Any]]:
    marker = item.get_closest_marker("uxchaos")
    if marker is not None:
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: write @pytest.mark.uxchaos(\"scenario-name-or-file.yaml\")")
        return marker.args[0], dict(marker.kwargs)
    if "uxchaos" in getattr(item, "fixturenames", ()):
        ref = item.config.getoption("uxchaos_scenario") or item.config.getini("uxchaos_scenario") or None
        if not ref:
            raise pytest.UsageError(f"{item.nodeid} asks for the uxchaos fixture but names no scenario: mark it "
                                    "@pytest.mark.uxchaos(\"NAME\") or pass --uxchaos-scenario NAME")
        return str(ref), {}
    return None, {}


def _load(ref: str, item: pytest.Item) -> Any:
    from uxchaos.errors import BadInput
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import find_scenario

    beside_test = Path(str(item.path)).parent / ref
    try:
        return load_scenario(beside_test if beside_test.is_file() else find_scenario(ref))
    except BadInput as e:
        raise pytest.UsageError(f"{item.nodeid}: uxchaos scenario {ref!r}: {e}") from None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        ref, kwargs = _scenario_ref(item)
        if ref is None:
            continue
        if not isinstance(item, pytest.Function) or inspect.iscoroutinefunction(item.obj):
            raise pytest.UsageError(f"{item.nodeid}: a uxchaos test is a plain (sync) test function")
        unknown = set(kwargs) - {"attempts"}
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.uxchaos: unknown argument(s) {', '.join(unknown)}; "
                                    "allowed: attempts")
        item.stash[SCENARIO_KEY] = (_load(ref, item), kwargs)


# -- on a machine without Playwright's own browsers, give pytest-playwright the Chromium uxchaos finds ---

def _playwright_has_own_browsers() -> bool:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if root == "0":
        return True  # inside the package: assume Playwright knows what it has
    folder = Path(root) if root else Path.home() / ".cache" / "ms-playwright"
    return any(folder.glob("chromium*"))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Any:
    result = yield
    if (fixturedef.argname == "browser_type_launch_args" and isinstance(result, dict)
            and not {"executable_path", "channel"} & set(result)
            and set(request.config.getoption("browser", None) or ["chromium"]) == {"chromium"}
            and (os.environ.get("UXCHAOS_BROWSER") or not _playwright_has_own_browsers())):
        from uxchaos.browser.launch import find_browser, launch_args

        result["executable_path"] = find_browser(headless=result.get("headless") is not False)
        result["args"] = [*result.get("args", []), *launch_args()]
    return result


# -- running: the body as the journey ------------------------------------------------------------------

def _journey(item: pytest.Function, handle: Uxchaos) -> Any:
    from uxchaos.scenario.python_ref import PythonJourney

    names = item._fixtureinfo.argnames  # the function's own arguments, as pytest's own call uses them

    def call(page: Any, step: Any, variables: dict[str, str]) -> None:
        handle.step, handle.vars = step, variables
        handle.attempt += 1
        overrides = {"page": page, "context": page.context, "browser": page.context.browser, "uxchaos": handle}
        kwargs = {name: overrides[name] if name in overrides else item.funcargs[name] for name in names}
        try:
            item.obj(**kwargs)
        except pytest.fail.Exception as e:  # pytest.fail() in the body: a failed attempt like any assertion
            raise AssertionError(str(e)) from None

    code = item.obj.__code__
    return PythonJourney(item.nodeid, Path(code.co_filename).resolve(), item.name, code.co_firstlineno, call)


def _playwright_session(item: pytest.Function) -> Any:
    """pytest-playwright's browser and context factory, where it is in use."""
    if not item.config.pluginmanager.hasplugin(PLUGIN_NAME_PLAYWRIGHT):
        return None
    from uxchaos.browser.session import BrowserSession

    browser = item._request.getfixturevalue("browser")
    new_context = item._request.getfixturevalue("new_context")
    preset = set(item._request.getfixturevalue("browser_context_args"))
    marker = item.get_closest_marker("browser_context_args")
    preset |= set(marker.kwargs) if marker else set()

    def context(**options: Any) -> Any:  # its own context arguments (e.g. --base-url, a device) win
        return new_context(**{k: v for k, v in options.items() if k not in preset})

    return BrowserSession(browser=browser, new_context=context)


class _AttemptTracker:
    """An engine listener: keeps the Uxchaos handle's phase and attempt current."""

    def __init__(self, handle: Uxchaos) -> None:
        self.handle = handle

    def on_phase(self, phase: str, attempts: int) -> None:
        self.handle.phase, self.handle.attempt = phase, 0

    def on_sample(self, sample: Any) -> None:
        pass

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if SCENARIO_KEY not in pyfuncitem.stash:
        return None
    from uxchaos.errors import UxchaosError
    from uxchaos.run.engine import Engine
    from uxchaos.run.options import RunOptions
    from uxchaos.util.durations import DurationError, parse_duration

    config = pyfuncitem.config
    loaded, kwargs = pyfuncitem.stash[SCENARIO_KEY]
    given = pyfuncitem.funcargs.get("uxchaos")
    handle = given if isinstance(given, Uxchaos) else Uxchaos()
    scenario = dataclasses.replace(loaded, journey=[], python_journey=_journey(pyfuncitem, handle))
    try:
        deadline = parse_duration(config.getoption("uxchaos_deadline"))
    except DurationError as e:
        raise pytest.UsageError(f"--uxchaos-deadline: {e}") from None
    options = RunOptions(out_dir=Path(config.getoption("uxchaos_out")),
                         attempts=config.getoption("uxchaos_attempts") or kwargs.get("attempts"),
                         base_url=config.getoption("base_url", None) or None, deadline_s=deadline,
                         browser=_playwright_session(pyfuncitem))
    engine = Engine(scenario, options, [_AttemptTracker(handle)])
    pyfuncitem.user_properties.append(("uxchaos_run", str(engine.run_dir)))
    error = None
    try:
        engine.run()
    except UxchaosError as e:  # bad journey, environment problem: the test fails with uxchaos's message
        error = f"uxchaos: {e}"
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, the deadline: the fault is reverted; report what was measured
        _report(pyfuncitem, engine, scenario)
        raise
    summary = _report(pyfuncitem, engine, scenario)
    if error is not None:
        pytest.fail(error, pytrace=False)
    problems = _verdict(engine, summary)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    return True


def _report(item: pytest.Function, engine: Any, scenario: Any) -> RunSummary | None:
    from uxchaos.report import write_reports
    from uxchaos.report.markdown import attempts_table, expectations_list

    if not (engine.outcome.samples or engine.outcome.events):
        return None
    run, analysis = write_reports(engine.run_dir, scenario.secrets)
    summary = RunSummary(item.nodeid, scenario.name, engine.run_dir, attempts_table(run),
                         expectations_list(analysis) if analysis.expectations else "", analysis.passed)
    item.config.stash[RUNS_KEY].append(summary)
    return summary


def _verdict(engine: Any, summary: RunSummary | None) -> list[str]:
    problems = []
    before = [s for s in engine.outcome.samples if s.phase == "before"]
    if before and not any(s.ok for s in before):
        problems.append(f"the journey failed in every before-phase attempt, without any fault: {before[0].failure}")
    if summary is not None and not summary.passed:
        problems.append(f"uxchaos expectation(s) failed (run folder {summary.run_dir}):\n{summary.expectations}")
    return problems


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runs = config.stash.get(RUNS_KEY, [])
    if not runs:
        return
    terminalreporter.section("uxchaos")
    for run in runs:
        terminalreporter.write_line(f"{run.nodeid} — scenario {run.scenario}: {run.run_dir}/report.md")
        terminalreporter.write_line(run.table)
        if run.expectations:
            terminalreporter.write_line(run.expectations)
        terminalreporter.write_line("")

"""The pytest plugin in real pytest sessions (pytester, in a subprocess) against the real demo under a
proxy delay — with pytest-playwright and without it (-p no:playwright)."""

from __future__ import annotations

import importlib.metadata
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The plugin is found through its pytest11 entry point once uxchaos is installed with it; before
# that (a checkout on PYTHONPATH) it is named explicitly. Naming it twice would be an error.
_INSTALLED = any(ep.value == "uxchaos.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))
PLUGIN = [] if _INSTALLED else ["-p", "uxchaos.pytest_plugin"]

SCENARIO = """\
name: {name}
target: {{base_url: demo}}
{fault}
phases: {{before: {{attempts: 1}}, during: {{attempts: 1}}, after: {{attempts: 1}}}}
expect:
  - {expect}
step_timeout: 30s
"""
DELAY = "fault: {driver: proxy, kind: delay, target: database, params: {delay: 200ms}}"

LOGIN_BODY = """
    with uxchaos.step("Opening the login page"):
        page.goto("/login")
    with uxchaos.step("Logging in"):
        page.fill("#email", uxchaos.vars["username"])
        page.fill("#password", uxchaos.vars["password"])
        page.click("#login")
        page.wait_for_url("**/dashboard")
        expect(page.get_by_text("Welcome")).to_be_visible()
"""


def scenario(pytester: pytest.Pytester, name: str, expect: str, fault: str = DELAY) -> None:
    pytester.makefile(".yaml", **{name: SCENARIO.format(name=name, fault=fault, expect=expect)})


def junit_cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(path).getroot().iter("testcase")}


@pytest.mark.browser
def test_marked_tests_run_under_the_fault_without_pytest_playwright(pytester: pytest.Pytester) -> None:
    scenario(pytester, "slow-db", 'during["Logging in"].p50 > before["Logging in"].p50 + 0.8s')
    scenario(pytester, "strict", 'before["Logging in"].p50 < 1ms', fault="")
    pytester.makepyfile(test_login="import pytest\nfrom playwright.sync_api import expect\n\n\n"
                        '@pytest.mark.uxchaos("slow-db.yaml")\ndef test_login(page, uxchaos):' + LOGIN_BODY + "\n\n"
                        '@pytest.mark.uxchaos("strict.yaml")\ndef test_too_strict(page, uxchaos):' + LOGIN_BODY + "\n\n"
                        '@pytest.mark.uxchaos("slow-db.yaml")\ndef test_step_twice(page, uxchaos):\n'
                        '    with uxchaos.step("Opening"):\n        page.goto("/login")\n'
                        '    with uxchaos.step("Opening"):\n        pass\n')
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:playwright", "-p", "no:cacheprovider",
                                           "--uxchaos-out", "reports", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # The seed-form table in the terminal summary, for each run.
    assert "| Action | Attempt | Before (s) | During (s) | After (s) |" in out
    assert "✅ pass `during[\"Logging in\"].p50 > before[\"Logging in\"].p50 + 0.8s`" in out
    # A failed expectation fails the test with the expectation and the measured number.
    assert "uxchaos expectation(s) failed" in out
    assert "❌ FAIL `before[\"Logging in\"].p50 < 1ms` — before['Logging in'].p50 = " in out
    # A step name used twice: the file and line, and the fault never injected.
    lines = (pytester.path / "test_login.py").read_text().splitlines()
    twice = [i + 1 for i, line in enumerate(lines) if 'uxchaos.step("Opening")' in line][-1]
    assert f"test_login.py:{twice}: step name 'Opening' is used twice in one attempt" in out
    runs = sorted((pytester.path / "reports" / "slow-db").iterdir())
    assert len(runs) == 2
    events = [json.loads(line) for run in runs for line in (run / "results.jsonl").read_text().splitlines()]
    injected = [e for e in events if e.get("event") == "injected"]
    reverted = [e for e in events if e.get("event") == "reverted"]
    assert len(injected) == 1 and len(reverted) == 1  # only the good run injected, and it reverted
    assert "| Logging in | 1 |" in (runs[0] / "report.md").read_text()
    cases = junit_cases(pytester.path / "junit.xml")
    assert cases["test_login"].find("failure") is None
    failure = cases["test_too_strict"].find("failure")
    assert failure is not None and "before[\"Logging in\"].p50 < 1ms" in (failure.get("message", "") + (failure.text
                                                                                                        or ""))
    props = {p.get("name"): p.get("value") for p in cases["test_login"].iter("property")}
    assert props.get("uxchaos_run", "").startswith("reports/slow-db/")


@pytest.mark.browser
def test_uxchaos_fixture_with_pytest_playwright_traces_and_options(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_playwright")
    scenario(pytester, "slow-db", 'during["Logging in"].p50 > before["Logging in"].p50 + 0.8s')
    pytester.makepyfile(test_login="from playwright.sync_api import expect\n\n\ndef test_login(page, uxchaos):"
                        + LOGIN_BODY
                        + '    assert uxchaos.phase in ("before", "during", "after") and uxchaos.attempt == 1\n')
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider", "--uxchaos-scenario", "slow-db.yaml",
                                           "--uxchaos-attempts", "1", "--uxchaos-out", "reports",
                                           "--tracing", "on", "--output", "artifacts")
    result.assert_outcomes(passed=1)
    assert "| Logging in | 1 |" in result.stdout.str()
    # pytest-playwright's own context factory made each attempt's context: one trace per context.
    traces = list((pytester.path / "artifacts").rglob("trace*.zip"))
    assert len(traces) >= 3, traces
    (run,) = (pytester.path / "reports" / "slow-db").iterdir()
    samples = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [s["phase"] for s in samples if s["type"] == "sample"] == ["before", "during", "after"]


@pytest.mark.parametrize(("source", "args", "message"), [
    ("import pytest\n\n@pytest.mark.uxchaos('no-such-scenario')\ndef test_x(page):\n    pass\n", [],
     "*test_x*uxchaos scenario 'no-such-scenario': no scenario named 'no-such-scenario'*"),
    ("def test_x(page, uxchaos):\n    pass\n", [], "*test_x asks for the uxchaos fixture but names no scenario*"),
    ("import pytest\n\n@pytest.mark.uxchaos('s.yaml', attempt=2)\ndef test_x(page):\n    pass\n", [],
     "*unknown argument(s) attempt*"),
], ids=["no-such-scenario", "fixture-without-scenario", "unknown-marker-argument"])
def test_bad_uxchaos_tests_are_usage_errors_before_anything_runs(pytester: pytest.Pytester, source: str,
                                                                 args: list[str], message: str) -> None:
    scenario(pytester, "s", "during.failures == 0")
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:playwright", "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not (pytester.path / "reports").exists()

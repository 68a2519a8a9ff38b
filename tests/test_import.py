"""`uxchaos import`: codegen scripts (both targets, written here against the demo's real pages) become
scenarios that validate and run on the demo; locators are translated into selectors that match the
same elements in Chromium; what cannot be translated is reported by line, exit 2."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from uxchaos.browser.session import BrowserSession
from uxchaos.cli import main
from uxchaos.demo.stack import DemoInfo
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.results.rundata import RunData
from uxchaos.scenario.codegen import import_codegen
from uxchaos.scenario.loading import load_scenario

RECORDED_PASSWORD = "recorded-Pa55word"

PYTEST_TARGET = f'''import re
from playwright.sync_api import Page, expect


def test_example(page: Page) -> None:
    page.goto("http://127.0.0.1:8000/login")
    page.get_by_role("textbox", name="Email").click()
    page.get_by_role("textbox", name="Email").fill("demo@example.com")
    page.get_by_role("textbox", name="Password").click()
    page.get_by_role("textbox", name="Password").fill("{RECORDED_PASSWORD}")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("http://127.0.0.1:8000/dashboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
'''

LIBRARY_TARGET = f'''import re
from playwright.sync_api import Playwright, sync_playwright, expect


def run(playwright: Playwright) -> None:
    browser = playwright.chromium.launch(headless=False)
    context = browser.new_context()
    page = context.new_page()
    page.goto("http://127.0.0.1:8000/")
    page.get_by_role("link", name="Log in").click()
    page.locator("#email").fill("demo@example.com")
    page.get_by_label("Password").fill("{RECORDED_PASSWORD}")
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_text("Last jobs processed")).to_be_visible()

    # ---------------------
    context.close()
    browser.close()


with sync_playwright() as playwright:
    run(playwright)
'''


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def imported(tmp_path: Path, source: str, name: str) -> Path:
    script, scenario = tmp_path / f"{name}.py", tmp_path / f"{name}.yaml"
    script.write_text(source)
    code, _, err = run_cli("import", str(script), "-o", str(scenario), "--base-url", "demo")
    assert code == 0, err
    text = scenario.read_text()
    assert RECORDED_PASSWORD not in text and "{{ password }}" in text
    code, _, err = run_cli("validate", str(scenario))
    assert code == 0, err
    return scenario


@pytest.mark.browser
def test_pytest_target_recording_runs_as_a_scenario_on_the_demo(tmp_path: Path) -> None:
    scenario = imported(tmp_path, PYTEST_TARGET, "recorded")
    s = load_scenario(scenario)
    assert [a.name for a in s.journey] == ["Open /login", "On /login", "On /dashboard"]
    assert s.journey[1].steps[1].args == {"selector": 'role=textbox[name="Email"i]', "value": "{{ username }}"}
    code, _, err = run_cli("run", str(scenario), "--attempts", "1", "--out", str(tmp_path / "reports"))
    assert code == 0, err
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    run = RunData.load(run_dir)
    assert len(run.samples) == 3 and all(s.ok for s in run.samples), [s.failure for s in run.samples]


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    with BrowserSession() as s:
        yield s


@pytest.mark.browser
def test_library_target_recording_runs_on_the_demo(tmp_path: Path, session: BrowserSession, demo: DemoInfo) -> None:
    scenario = load_scenario(imported(tmp_path, LIBRARY_TARGET, "library"))
    assert [a.name for a in scenario.journey] == ["Open /", "On /"]
    password_step = scenario.journey[1].steps[2]
    assert password_step.args == {"selector": 'internal:label="Password"i', "value": "{{ password }}"}
    plan = AttemptPlan("before", 1, scenario.journey, demo.base_url,
                       {"username": demo.email, "password": demo.password}, 30, tmp_path)
    sample = run_attempt(session, plan, lambda: False)
    assert sample.ok, sample.failure


def test_untranslatable_statements_are_reported_by_line_and_nothing_is_written(tmp_path: Path) -> None:
    source = PYTEST_TARGET.replace(
        '    page.get_by_role("button", name="Log in").click()\n',
        '    page.get_by_role("button", name="Log in").dblclick()\n'
        '    with page.expect_popup() as popup_info:\n'
        '        page.get_by_role("link", name="Help").click()\n'
        '    page.mouse.wheel(0, 300)\n')
    script, out_file = tmp_path / "bad.py", tmp_path / "bad.yaml"
    script.write_text(source)
    code, _, err = run_cli("import", str(script), "-o", str(out_file))
    assert code == 2
    assert "3 statement(s) cannot be translated" in err, err
    assert f"{script}:11: cannot translate `page.get_by_role('button', name='Log in').dblclick()`" in err
    assert f"{script}:12: cannot translate `with page.expect_popup() as popup_info:`" in err
    assert f"{script}:14: cannot translate `page.mouse.wheel(0, 300)`" in err
    assert not out_file.exists() and RECORDED_PASSWORD not in err


def test_a_password_field_named_anywhere_in_its_locator_is_never_written() -> None:
    source = ("def test_x(page):\n    page.goto('http://h/signup')\n"
              "    page.get_by_placeholder('Choose a password').fill('hunter2')\n"
              "    page.locator('#confirm').fill('hunter2')\n"  # the same value again, in a field not named so
              "    page.locator('#nickname').fill('bob')\n")
    result = import_codegen(source, "x.py")
    assert "hunter2" not in result.yaml and result.yaml.count("{{ password }}") == 2 and '"bob"' in result.yaml
    assert "password: ${UXCHAOS_PASSWORD}" in result.yaml and result.base_url == "http://h"


LOCATORS = [
    ('page.get_by_role("button", name="Go now")', 'role=button[name="Go now"i]'),
    ('page.get_by_role("button", name="Go", exact=True)', 'role=button[name="Go"]'),
    ('page.get_by_role("heading", level=2)', "role=heading[level=2]"),
    ('page.get_by_text("welcome back")', "text=welcome back"),
    ('page.get_by_text("Two", exact=True)', 'text="Two"'),
    ('page.get_by_label("E-mail")', 'internal:label="E-mail"i'),
    ('page.get_by_placeholder("your email")', '[placeholder*="your email" i]'),
    ('page.get_by_placeholder("Your email here", exact=True)', '[placeholder="Your email here"]'),
    ('page.get_by_test_id("submit")', '[data-testid="submit"]'),
    ('page.get_by_alt_text("logo")', '[alt*="logo" i]'),
    ('page.get_by_title("help")', '[title*="help" i]'),
    ('page.locator("li").nth(1)', "li >> nth=1"),
    ('page.get_by_role("listitem").first', "role=listitem >> nth=0"),
    ('page.locator("ul").get_by_text("Two")', "ul >> text=Two"),
]
PAGE = """<h1>Welcome back, Ann</h1><h2>Sub</h2><label>E-mail <input></label>
<input placeholder="Your email here"><button data-testid="submit">Go now</button><button>Go</button>
<img alt="Company logo" title="Help text"><ul><li>One</li><li>Two</li></ul>"""


@pytest.fixture
def locator_page(session: BrowserSession) -> Iterator[Page]:
    assert session.browser is not None
    p = session.browser.new_page()
    p.set_content(PAGE)
    yield p
    p.close()


@pytest.mark.browser
def test_locators_become_selectors_that_find_the_same_elements_in_chromium(locator_page: Page) -> None:
    page = locator_page
    for expression, selector in LOCATORS:
        result = import_codegen(f"def test_x(page):\n    page.goto('http://h/')\n    {expression}.click()\n", "x.py")
        assert f"- click: {json.dumps(selector)}" in result.yaml, result.yaml
        original = eval(expression, {"page": page})  # the test's own literal, to compare with
        html = "els => els.map(e => e.outerHTML)"
        expected = original.evaluate_all(html)
        assert expected and page.locator(selector).evaluate_all(html) == expected, (expression, selector)

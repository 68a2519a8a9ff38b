"""A pytest-playwright test measured under a fault by uxchaos's pytest plugin.

    pytest examples/test_login_pytest.py --uxchaos-attempts 1     # or without pytest-playwright: -p no:playwright

The body runs once per attempt of every phase (before, during, after the fault) with a fresh page;
each `uxchaos.step(...)` block is one action of the tables; `uxchaos.vars` holds the target's
credentials. The run folder goes to reports/ (--uxchaos-out DIR) and the table to the terminal."""

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.uxchaos("login-pytest.yaml")  # a file beside this test, or a scenario name
def test_login(page: Page, uxchaos) -> None:
    with uxchaos.step("Opening the login page"):
        page.goto("/login")
    with uxchaos.step("Logging in"):
        page.get_by_label("Email").fill(uxchaos.vars["username"])
        page.get_by_label("Password").fill(uxchaos.vars["password"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/dashboard")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")

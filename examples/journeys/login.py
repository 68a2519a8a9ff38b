"""The demo's login as a Python journey: `journey: {python: journeys/login.py:login}`.

Each `with step(...)` block is one action in the tables; `vars` holds the target's credentials.
Relative URLs resolve against the target's base URL."""

from playwright.sync_api import Page, expect


def login(page: Page, step, vars: dict[str, str]) -> None:
    with step("Opening the login page"):
        page.goto("/login")
        page.wait_for_selector("#email")
    with step("Logging in"):
        page.fill("#email", vars["username"])
        page.fill("#password", vars["password"])
        page.click("#login")
        page.wait_for_url("**/dashboard")
        expect(page.get_by_text("Welcome")).to_be_visible()

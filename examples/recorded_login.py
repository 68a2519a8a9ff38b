# ruff: noqa: I001, F401  -- codegen's output, kept as written
# Recorded with `playwright codegen --target python http://127.0.0.1:8000/login` against the demo
# (`uxchaos demo up`). Turn it into a scenario (the script is parsed, never run):
#     uxchaos import examples/recorded_login.py --base-url demo -o login-recorded.yaml
import re
from playwright.sync_api import Playwright, sync_playwright, expect


def run(playwright: Playwright) -> None:
    browser = playwright.chromium.launch(headless=False)
    context = browser.new_context()
    page = context.new_page()
    page.goto("http://127.0.0.1:8000/login")
    page.get_by_role("textbox", name="Email").click()
    page.get_by_role("textbox", name="Email").fill("demo@example.com")
    page.get_by_role("textbox", name="Password").click()
    page.get_by_role("textbox", name="Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("http://127.0.0.1:8000/dashboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")

    # ---------------------
    context.close()
    browser.close()


with sync_playwright() as playwright:
    run(playwright)

"""The demo's login as a journey: its page, selectors and actions, as the scenario YAML states them.

The demo app (app.py) serves the form these selectors name; tests and benchmarks build their
journeys from here instead of restating the login. Steps are plain YAML data (lists and dicts);
`{{ username }}` and `{{ password }}` are the target's credentials."""

from __future__ import annotations

from typing import Any

LOGIN_PATH = "/login"
EMAIL = "#email"
PASSWORD = "#password"
SUBMIT = "#login"
DASHBOARD = "**/dashboard"  # the URL the login ends on
WELCOME = "Welcome"  # the dashboard's greeting

OPENING = "Opening the login page"
TYPING = "Typing the credentials"
LOGGING_IN = "Logging in"

Step = dict[str, Any]
Action = dict[str, Any]


def open_steps(wait: bool = False, path: str = LOGIN_PATH) -> list[Step]:
    """goto the login page; with `wait`, wait for its email field too."""
    return [{"goto": path}] + ([{"wait_for": EMAIL}] if wait else [])


def fill_steps() -> list[Step]:
    """Typing the credentials into the form."""
    return [{"fill": EMAIL, "value": "{{ username }}"}, {"fill": PASSWORD, "value": "{{ password }}"}]


def submit_steps(expect_url: bool = True) -> list[Step]:
    """Sending the form, then the dashboard (its URL with `expect_url`) and its greeting."""
    return [{"click": SUBMIT}] + ([{"expect_url": DASHBOARD}] if expect_url else []) + [{"expect_text": WELCOME}]


def open_action(*, wait: bool = False, path: str = LOGIN_PATH) -> Action:
    """The action "Opening the login page": goto, with `wait` the email field too."""
    return {"action": OPENING, "steps": open_steps(wait, path)}


def login_journey(*, wait: bool = False, expect_url: bool = True, path: str = LOGIN_PATH,
                  typing: bool = False) -> list[Action]:
    """Two actions: "Opening the login page" (goto, with `wait` the email field) and "Logging in"
    (fill, fill, click, with `expect_url` the dashboard's URL, its greeting). With `typing` the fills
    are an action of their own between them, "Typing the credentials"."""
    if typing:
        return [open_action(wait=wait, path=path), {"action": TYPING, "steps": fill_steps()},
                {"action": LOGGING_IN, "steps": submit_steps(expect_url)}]
    return [open_action(wait=wait, path=path),
            {"action": LOGGING_IN, "steps": fill_steps() + submit_steps(expect_url)}]


def login_action(*, expect_url: bool = True) -> Action:
    """One action "Logging in" that opens the page too: goto, fill, fill, click, [expect_url], greeting."""
    return {"action": LOGGING_IN, "steps": open_steps() + fill_steps() + submit_steps(expect_url)}

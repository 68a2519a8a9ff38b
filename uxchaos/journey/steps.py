"""What each step type does in the browser: one small function per step, registered under the
name it has in the step catalogue (`uxchaos/scenario/steptypes.py`: parameters, docs, load-time checks).
Adding a step type: an entry there, a function here."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from uxchaos.scenario.steptypes import STEPS
from uxchaos.util import httpget


class StepFailed(Exception):
    """The step did not do what the user would need; the message is the reason shown in tables."""


@dataclass
class Navigation:
    """What the browser reported about the last main-frame navigation."""

    status: int | None = None
    url: str = ""
    timing_ms: dict[str, float] | None = None


class NavigationTracker:
    """Counts main-frame navigations of one page, so a click that navigates is timed to `load`.
    Only two event kinds are subscribed to: every subscription costs time on each request."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests = 0
        self.commits = 0
        page.on("request", self._on_request)
        page.on("framenavigated", self._on_navigated)

    def _on_request(self, request: Any) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.requests += 1

    def _on_navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.commits += 1


@dataclass
class StepContext:
    page: Page
    base_url: str
    variables: dict[str, str]
    timeout_ms: float
    artifacts_dir: Path
    artifact_prefix: str
    tracker: NavigationTracker


@dataclass
class StepOutcome:
    navigation: Navigation | None = None
    http_status: int | None = None
    artifacts: list[str] = field(default_factory=list)


StepFunction = Callable[["StepContext", dict[str, Any]], "StepOutcome"]
IMPLEMENTATIONS: dict[str, StepFunction] = {}


def implements(step_name: str) -> Callable[[StepFunction], StepFunction]:
    """Register the browser side of a step type declared in uxchaos/scenario/steptypes.py."""
    if step_name not in STEPS:
        raise AssertionError(f"step {step_name!r} is not declared in uxchaos/scenario/steptypes.py")

    def register(fn: StepFunction) -> StepFunction:
        IMPLEMENTATIONS[step_name] = fn
        return fn

    return register


_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(ctx: StepContext, text: str) -> str:
    """Fill in {{ username }}, {{ password }} and other target variables."""

    def sub(m: re.Match[str]) -> str:
        try:
            return ctx.variables[m.group(1)]
        except KeyError:
            raise StepFailed(f"unknown variable {{{{ {m.group(1)} }}}}") from None

    return _VAR.sub(sub, text)


def absolute(ctx: StepContext, url: str) -> str:
    return urllib.parse.urljoin(ctx.base_url.rstrip("/") + "/", render(ctx, url))


def timeout_ms(ctx: StepContext, args: dict[str, Any]) -> float:
    return float(args["timeout"]) * 1000 if "timeout" in args else ctx.timeout_ms


_NAVIGATION_ENTRY = ("(() => { const n = performance.getEntriesByType('navigation')[0]; "
                     "return n ? n.toJSON() : null })()")


def complete_navigation(page: Page, nav: Navigation, also: str | None = None) -> Any:
    """Fill in the browser's own Navigation Timing (ms since navigation start) and the final HTTP
    status of the current document. Called by the runner after the step's clock has stopped.
    `also`: a JavaScript function evaluated in the same round trip, one task later (web-vitals
    reports TTFB in a task queued at `load`, which is when a navigation step returns); its value is
    returned."""
    wait, extra_js = ("await new Promise(done => setTimeout(done)); ", f"({also})()") if also else ("", "null")
    entry, extra = page.evaluate(f"async () => {{ {wait}return [{_NAVIGATION_ENTRY}, {extra_js}]; }}")
    if entry:
        _fill_timing(nav, entry)
    return extra


def _fill_timing(nav: Navigation, entry: dict[str, Any]) -> None:
    if nav.status is None and entry.get("responseStatus"):
        nav.status = int(entry["responseStatus"])
    nav.timing_ms = {
        "ttfb": round(entry["responseStart"] - entry["startTime"], 2),
        "dom_content_loaded": round(entry["domContentLoadedEventEnd"] - entry["startTime"], 2),
        "load": round(entry["loadEventEnd"] - entry["startTime"], 2),
    }


def check_status(status: int | None, what: str) -> None:
    if status is not None and status >= 500:
        raise StepFailed(f"HTTP {status} from {what}")


def _finish_navigation(ctx: StepContext, requests_before: int, commits_before: int, ms: float) -> Navigation | None:
    """If the action started a main-frame navigation, wait until the new page has loaded."""
    tracker = ctx.tracker
    if tracker.requests == requests_before:
        return None
    if tracker.commits == commits_before:
        # Sync Playwright delivers events only inside its own calls, so nothing is missed between
        # the check above and this wait.
        ctx.page.wait_for_event("framenavigated", lambda f: f == ctx.page.main_frame, timeout=ms)
    ctx.page.wait_for_load_state("load", timeout=ms)
    return Navigation(None, ctx.page.url)


def _navigating(ctx: StepContext, args: dict[str, Any], act: Callable[[float], None]) -> StepOutcome:
    ms = timeout_ms(ctx, args)
    requests, commits = ctx.tracker.requests, ctx.tracker.commits
    act(ms)
    return StepOutcome(navigation=_finish_navigation(ctx, requests, commits, ms))


@implements("goto")
def goto(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Open a URL (relative to the target's base URL) and wait for the page's load event."""
    url = absolute(ctx, args["url"])
    response = ctx.page.goto(url, wait_until="load", timeout=timeout_ms(ctx, args))
    return StepOutcome(navigation=Navigation(response.status if response else None, ctx.page.url))


@implements("fill")
def fill(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Type a value into a field. The value is never written to results (it may be a password)."""
    ctx.page.fill(args["selector"], render(ctx, args["value"]), timeout=timeout_ms(ctx, args))
    return StepOutcome()


@implements("click")
def click(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Click an element; if that navigates, the step lasts until the new page's load event."""
    return _navigating(ctx, args, lambda ms: ctx.page.click(args["selector"], timeout=ms))


@implements("press")
def press(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Press a key in an element (e.g. Enter to submit); navigations are waited for like click."""
    return _navigating(ctx, args, lambda ms: ctx.page.press(args["selector"], args["key"], timeout=ms))


@implements("select")
def select(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Choose an option of a select element by value or label."""
    ctx.page.select_option(args["selector"], render(ctx, args["value"]), timeout=timeout_ms(ctx, args))
    return StepOutcome()


@implements("check")
def check(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Tick a checkbox or radio button."""
    ctx.page.check(args["selector"], timeout=timeout_ms(ctx, args))
    return StepOutcome()


@implements("wait_for")
def wait_for(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Wait until a selector is visible, the URL matches (glob such as **/dashboard), or a text shows."""
    ms = timeout_ms(ctx, args)
    try:
        if "selector" in args:
            ctx.page.wait_for_selector(args["selector"], state="visible", timeout=ms)
        elif "url" in args:
            ctx.page.wait_for_url(render(ctx, args["url"]), timeout=ms)
        else:
            ctx.page.get_by_text(render(ctx, args["text"])).first.wait_for(state="visible", timeout=ms)
    except PlaywrightTimeout:
        what = next(f"{k} {args[k]!r}" for k in ("selector", "url", "text") if k in args)
        raise StepFailed(f"timed out after {ms / 1000:.1f}s waiting for {what} (page: {ctx.page.url})") from None
    return StepOutcome()


@implements("expect_text")
def expect_text(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Assert that the page (or `selector`) contains a text, waiting for it up to the timeout."""
    from playwright.sync_api import expect

    text, selector = render(ctx, args["text"]), args.get("selector", "body")
    try:
        expect(ctx.page.locator(selector).first).to_contain_text(text, timeout=timeout_ms(ctx, args))
    except AssertionError:
        raise StepFailed(f"text {text!r} not found in {selector} (page: {ctx.page.url})") from None
    return StepOutcome()


@implements("expect_url")
def expect_url(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Wait until the current URL matches a glob (a navigation's commit, or a History API change)."""
    pattern = render(ctx, args["url"])
    try:
        ctx.page.wait_for_url(pattern, timeout=timeout_ms(ctx, args), wait_until="commit")
    except PlaywrightTimeout:
        raise StepFailed(f"URL is {ctx.page.url}, expected {pattern}") from None
    return StepOutcome()


@implements("http_get")
def http_get(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """A plain HTTP GET on a new connection, body read to the end — timed like `curl`."""
    url = absolute(ctx, args["url"])
    try:
        response = httpget.get(url, timeout_ms(ctx, args) / 1000)
    except (OSError, http.client.HTTPException) as e:
        raise StepFailed(f"GET {url}: {e}") from None
    expected = args.get("expect_status")
    if expected is not None and response.status != int(expected):
        raise StepFailed(f"HTTP {response.status} from {url}, expected {expected}")
    check_status(response.status, url)
    return StepOutcome(http_status=response.status)


@implements("screenshot")
def screenshot(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Save a screenshot of the page into the run folder."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", args["file"]).strip("-") or "screenshot"
    path = ctx.artifacts_dir / f"{ctx.artifact_prefix}-{slug}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx.page.screenshot(path=str(path), timeout=timeout_ms(ctx, args))
    return StepOutcome(artifacts=[path.name])


@implements("sleep")
def sleep(ctx: StepContext, args: dict[str, Any]) -> StepOutcome:
    """Wait a fixed time (think time between actions)."""
    time.sleep(float(args["duration"]))
    return StepOutcome()

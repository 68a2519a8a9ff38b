"""Runs one attempt of a journey in a fresh browser context and times every step and action.

The context and page are created *before* the clock starts: a new user (no cookies), but no browser
start-up cost in the numbers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from uxchaos.browser.session import BrowserSession, first_line
from uxchaos.journey import traces
from uxchaos.journey.capture import RequestCapture, Window
from uxchaos.journey.closing import closed_unless_interrupted
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.steps import (
    IMPLEMENTATIONS,
    Navigation,
    NavigationTracker,
    StepContext,
    StepFailed,
    StepOutcome,
    check_status,
    complete_navigation,
)
from uxchaos.journey.vitals import READ as READ_VITALS
from uxchaos.journey.vitals import VitalsCapture
from uxchaos.results.records import ActionTiming, Captured, FaultState, GeneratorState, Sample, StepTiming
from uxchaos.scenario.model import Step
from uxchaos.util.httpget import ignores_https_errors

log = logging.getLogger("uxchaos.journey")


def run_yaml_attempt(session: BrowserSession, plan: AttemptPlan, fault_active: Callable[[], bool]) -> Sample:
    """One attempt of a YAML journey in a fresh context of the session's browser."""
    assert session.browser is not None
    context = session.browser.new_context(viewport={"width": 1280, "height": 800},
                                       ignore_https_errors=ignores_https_errors(plan.base_url))
    with closed_unless_interrupted(context):
        vitals = VitalsCapture(context) if plan.capture_vitals else None
        # No untimed warm-up navigation: an about:blank visit first changed nothing measurable in
        # the first step and cost time in every attempt.
        page = context.new_page()
        tracker = NavigationTracker(page)
        capture = RequestCapture(context) if plan.capture_requests else None
        prefix = f"{plan.phase}-{plan.attempt}"
        ctx = StepContext(page, plan.base_url, plan.variables, plan.step_timeout_s * 1000,
                          plan.artifacts_dir, prefix, tracker)
        traced = plan.trace_dir is not None and traces.start(context, f"{plan.phase} #{plan.attempt}",
                                                                 plan.trace_screenshots)
        sample = _timed_attempt(plan, ctx, fault_active, capture, vitals, context if traced else None)
        if traced and plan.trace_dir is not None:
            sample.captured.trace = traces.stop(
                context, plan.trace_dir / traces.trace_name(plan.phase, plan.attempt), plan.secrets)
        return sample


def _timed_attempt(plan: AttemptPlan, ctx: StepContext, fault_active: Callable[[], bool],
                   capture: RequestCapture | None = None, vitals: VitalsCapture | None = None,
                   traced: BrowserContext | None = None) -> Sample:
    """Every step is timed with the monotonic clock; an action lasts the sum of its steps and the
    attempt the sum of its actions, so the harness's own bookkeeping between steps (reading the
    browser's Navigation Timing, building records) is never counted as user time."""
    cpu_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    active_at_start = fault_active()
    started_at = time.time()
    t0_ns = time.perf_counter_ns()  # steps' starts (at_s) on this clock: starvation.py bounds each step's window
    actions: list[ActionTiming] = []
    steps: list[StepTiming] = []
    failure: str | None = None
    failed_action: str | None = None
    windows: list[Window] = []
    for number, action in enumerate(plan.journey, 1):
        if failure is not None:
            actions.append(ActionTiming(action.name, None, False, "not run: an earlier action failed"))
            continue
        action_ns = 0
        if traced is not None:
            traces.group(traced, action.name)  # the action as a group in the trace viewer
        window = Window(action.name, time.time(), 0.0)  # wall clock, for the requests (outside the step clock)
        windows.append(window)
        # Vitals are read between actions; when the action ends with a navigation, in the same round
        # trip as that navigation's timing.
        read_between = vitals is not None and number < len(plan.journey)
        vitals_read = False
        for index, step in enumerate(action.steps):
            at_s = round((time.perf_counter_ns() - t0_ns) / 1e9, 6)
            outcome, failure, step_ns = _run_step(ctx, step)
            action_ns += step_ns
            nav = None
            if outcome is not None and outcome.navigation is not None:
                also = READ_VITALS if read_between and index == len(action.steps) - 1 else None
                nav_failure, held = _complete_navigation(ctx, outcome.navigation, step.label, also)
                failure = nav_failure or failure
                if also is not None and held is not _UNREAD and vitals is not None and failure is None:
                    vitals.keep(ctx.page, held)
                    vitals_read = True
                nav = {"status": outcome.navigation.status, "url": outcome.navigation.url,
                       "timing_ms": outcome.navigation.timing_ms}
            steps.append(StepTiming(action.name, index, step.kind, step.label, round(step_ns / 1e9, 6),
                                    failure is None, outcome.http_status if outcome else None, nav,
                                    outcome.artifacts or None if outcome else None, at_s))
            if failure is not None:
                break
        window.end = time.time()
        if vitals is not None and read_between and not vitals_read and failure is None:
            # Between actions, outside the clocks: a later navigation may leave the origin. (After the
            # last action, vitals.records reads the page anyway; if the page goes away during that
            # read's wait for a paint, the last document is reported unavailable.)
            vitals.read(ctx.page)
        actions.append(ActionTiming(action.name, round(action_ns / 1e9, 6), failure is None, failure,
                                    window.start, window.end))
        if failure is not None:
            failed_action = action.name
    ended_at = time.time()
    if traced is not None:
        traces.group(traced, None)
    screenshot = _failure_screenshot(ctx, plan) if failure is not None else None
    vitals_records = vitals.records(ctx.page, windows) if vitals is not None and windows else None
    requests, capped = _collect(ctx, capture, windows, ended_at, flushed=vitals_records is not None)
    return Sample(
        phase=plan.phase, attempt=plan.attempt, started_at=started_at, ended_at=ended_at,
        duration_s=round(sum(a.duration_s or 0.0 for a in actions), 6), ok=failure is None, actions=actions,
        steps=steps, failure=failure, failed_action=failed_action, screenshot=screenshot,
        fault=FaultState(fault_active_at_start=active_at_start, fault_active_at_end=fault_active()),
        generator=GeneratorState(cpu_load=cpu_load),
        captured=Captured(requests=requests, requests_capped=capped or None, vitals=vitals_records),
    )


def _collect(ctx: StepContext, capture: RequestCapture | None, windows: list[Window], ended_at: float,
             flushed: bool = False
             ) -> tuple[list[dict[str, Any]] | None, dict[str, int]]:
    """After the attempt: one round trip lets Playwright deliver the request events already sent
    (`flushed`: the last vitals read was that round trip)."""
    if capture is None:
        return None, {}
    try:
        if not flushed:
            ctx.page.evaluate("0")
    except PlaywrightError as e:  # a crashed page: keep what was delivered
        log.debug("flushing request events: %s", first_line(e))
    return capture.records(windows, until=ended_at)


def _run_step(ctx: StepContext, step: Step) -> tuple[StepOutcome | None, str | None, int]:
    """(outcome, failure reason, duration in ns) of one step."""
    s0 = time.perf_counter_ns()
    try:
        outcome = IMPLEMENTATIONS[step.kind](ctx, step.args)
        return outcome, None, time.perf_counter_ns() - s0
    except StepFailed as e:
        failure = str(e)
    except PlaywrightTimeout as e:
        failure = f"timeout in {step.label}: {first_line(e)}"
    except PlaywrightError as e:
        failure = f"{step.label}: {first_line(e)}"
    return None, failure, time.perf_counter_ns() - s0


_UNREAD = object()  # `also` could not be evaluated


def _complete_navigation(ctx: StepContext, navigation: Navigation, label: str, also: str | None = None
                         ) -> tuple[str | None, Any]:
    """Outside the step's clock: the browser's own timings and the final status (≥ 500 fails);
    (failure, the value of `also` evaluated in the same round trip, or _UNREAD)."""
    held: Any = _UNREAD
    try:
        held = complete_navigation(ctx.page, navigation, also)
        check_status(navigation.status, navigation.url)
    except StepFailed as e:
        return str(e), held
    except PlaywrightError as e:
        log.warning("no navigation timing for %s: %s", label, first_line(e))
    return None, held


def _failure_screenshot(ctx: StepContext, plan: AttemptPlan) -> str | None:
    path = plan.artifacts_dir / f"{plan.phase}-{plan.attempt}-failure.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ctx.page.screenshot(path=str(path), timeout=10_000)
    except PlaywrightError as e:  # a lost screenshot is reported, not hidden
        log.warning("could not take the failure screenshot for %s #%d: %s", plan.phase, plan.attempt, e)
        return None
    return path.name

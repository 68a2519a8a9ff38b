"""Running a Python journey: one attempt = one call of `journey(page, step, vars)` in a fresh context.

`with step("Logging in"):` marks an action; it is timed with the monotonic clock from entering to
leaving the block. Time spent outside every block is recorded as its own action, "(outside steps)",
so it is shown in every table and never silently added to an action. A journey that never calls
`step` is timed as one action named after the function. The attempt's duration is the whole call.

Any exception ends the attempt (Playwright timeouts, `expect()` and `assert` failures, errors in the
journey's own code) with the reason, the line of the journey file and a failure screenshot. Misuse
of `step` (a name used twice in one attempt, nested steps) is a bug in the journey, not a
measurement: it stops the run with a BadInput naming file and line."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from uxchaos.browser.session import BrowserSession
from uxchaos.errors import BadInput
from uxchaos.journey import traces
from uxchaos.journey.capture import RequestCapture, Window
from uxchaos.journey.closing import closed_unless_interrupted
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.vitals import VitalsCapture
from uxchaos.results.records import ActionTiming, Captured, FaultState, GeneratorState, Sample, StepTiming
from uxchaos.scenario.python_ref import PythonJourney
from uxchaos.util.httpget import ignores_https_errors

log = logging.getLogger("uxchaos.journey")

OUTSIDE_STEPS = "(outside steps)"
WHOLE_FUNCTION = "python-whole"  # the StepTiming kind of a journey that never calls step()
VIEWPORT = {"width": 1280, "height": 800}


class JourneyMisuse(BadInput):
    """The journey uses `step` wrongly; the message names the file and line."""


@dataclass
class _Block:
    name: str
    ns: int
    ok: bool
    window: Window  # wall-clock span, to place the block's requests


class StepTimer:
    """The `step` a journey receives: `with step("Logging in"): ...`."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.current: str | None = None
        self._names: set[str] = set()

    def __call__(self, name: str) -> _StepBlock:
        caller = sys._getframe(1)
        where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        if not isinstance(name, str) or not name.strip():
            raise JourneyMisuse(f"{where}: step() needs a non-empty name, e.g. step(\"Logging in\"); got {name!r}")
        if self.current is not None:
            raise JourneyMisuse(f"{where}: step({name!r}) inside step({self.current!r}): steps cannot be nested")
        if name == OUTSIDE_STEPS:
            raise JourneyMisuse(f"{where}: {OUTSIDE_STEPS!r} names the time outside every step; choose another name")
        if name in self._names:
            raise JourneyMisuse(f"{where}: step name {name!r} is used twice in one attempt; each step() names "
                                "one action of the tables, so give each its own name")
        self._names.add(name)
        return _StepBlock(self, name)


class _StepBlock:
    __slots__ = ("_t0", "_wall0", "name", "timer")

    def __init__(self, timer: StepTimer, name: str) -> None:
        self.timer = timer
        self.name = name
        self._t0 = 0
        self._wall0 = 0.0

    def __enter__(self) -> None:
        self.timer.current = self.name
        self._wall0 = time.time()
        self._t0 = time.perf_counter_ns()  # last thing before the block's body

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # None: an exception goes on to end the attempt
        elapsed = time.perf_counter_ns() - self._t0  # first thing after it
        window = Window(self.name, self._wall0, time.time())
        self.timer.current = None
        self.timer.blocks.append(_Block(self.name, elapsed, exc_type is None, window))


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else ""


def _journey_line(error: BaseException, journey: PythonJourney) -> int | None:
    """The innermost line of the journey file in the traceback (where the journey was when it failed)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == journey.path]
    return frames[-1].lineno if frames else None


def describe_failure(error: BaseException, journey: PythonJourney) -> str:
    text = _first_line(error)
    if isinstance(error, PlaywrightTimeout):
        reason = f"timeout: {text}"
    elif isinstance(error, AssertionError):
        reason = f"assertion failed: {text}" if text else "assertion failed"
    elif isinstance(error, PlaywrightError):
        reason = text or type(error).__name__
    else:
        reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
    line = _journey_line(error, journey)
    return f"{reason} ({journey.where(line)})" if line is not None else f"{reason} (in {journey.function})"


def _failure_screenshot(page: Page, plan: AttemptPlan) -> str | None:
    path = plan.artifacts_dir / f"{plan.phase}-{plan.attempt}-failure.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), timeout=10_000)
    except PlaywrightError as e:  # a lost screenshot is reported, not hidden
        log.warning("could not take the failure screenshot for %s #%d: %s", plan.phase, plan.attempt, e)
        return None
    return path.name


def _records(timer: StepTimer, journey: PythonJourney, total_ns: int, failure: str | None
             ) -> tuple[list[ActionTiming], list[StepTiming], str | None]:
    """(actions, steps, the failed action) of one attempt."""
    if not timer.blocks:
        label = f"{journey.function}() as a whole: it never calls step()"
        ok = failure is None
        return ([ActionTiming(journey.function, round(total_ns / 1e9, 6), ok, failure)],
                [StepTiming(journey.function, 0, WHOLE_FUNCTION, label, round(total_ns / 1e9, 6), ok)],
                None if ok else journey.function)
    actions, steps = [], []
    failed_action = None
    for index, block in enumerate(timer.blocks):
        block_failure = failure if not block.ok else None
        if block_failure is not None:
            failed_action = block.name
        actions.append(ActionTiming(block.name, round(block.ns / 1e9, 6), block.ok, block_failure,
                                    block.window.start, block.window.end))
        steps.append(StepTiming(block.name, index, "python", block.name, round(block.ns / 1e9, 6), block.ok))
    outside_ns = max(0, total_ns - sum(b.ns for b in timer.blocks))
    outside_failed = failure is not None and failed_action is None  # raised between steps
    outside_failure = failure if outside_failed else None
    actions.append(ActionTiming(OUTSIDE_STEPS, round(outside_ns / 1e9, 6), not outside_failed, outside_failure))
    steps.append(StepTiming(OUTSIDE_STEPS, len(timer.blocks), "python", "time outside every step() block",
                            round(outside_ns / 1e9, 6), not outside_failed))
    return actions, steps, failed_action or (OUTSIDE_STEPS if outside_failed else None)


def run_python_attempt(session: BrowserSession, plan: AttemptPlan, fault_active: Callable[[], bool]) -> Sample:
    """One attempt: a fresh context (relative URLs resolve against the target), a fresh page, one call."""
    journey = plan.python
    assert journey is not None
    context = session.new_context(base_url=plan.base_url, viewport=VIEWPORT,
                                  ignore_https_errors=ignores_https_errors(plan.base_url))
    with closed_unless_interrupted(context):
        context.set_default_timeout(plan.step_timeout_s * 1000)
        vitals = VitalsCapture(context) if plan.capture_vitals else None
        page = context.new_page()  # not warmed, as in the YAML runner (see run_attempt there)
        capture = RequestCapture(context) if plan.capture_requests else None
        traced = plan.trace_dir is not None and traces.start(context, f"{plan.phase} #{plan.attempt}",
                                                                 plan.trace_screenshots)
        sample = _timed_call(journey, page, plan, fault_active, capture, vitals)
        if traced and plan.trace_dir is not None:
            sample.captured.trace = traces.stop(
                context, plan.trace_dir / traces.trace_name(plan.phase, plan.attempt), plan.secrets)
        return sample


def _timed_call(journey: PythonJourney, page: Page, plan: AttemptPlan, fault_active: Callable[[], bool],
                capture: RequestCapture | None = None, vitals: VitalsCapture | None = None) -> Sample:
    timer = StepTimer()
    variables: dict[str, Any] = dict(plan.variables)
    cpu_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    active_at_start = fault_active()
    started_at = time.time()
    failure = None
    wall0 = time.time()
    t0 = time.perf_counter_ns()
    try:
        journey.call(page, timer, variables)
    except JourneyMisuse:
        raise
    except Exception as e:  # whatever the journey raised ends this attempt, not the run
        total_ns = time.perf_counter_ns() - t0
        failure = describe_failure(e, journey)
    else:
        total_ns = time.perf_counter_ns() - t0
    ended_at = time.time()
    actions, steps, failed_action = _records(timer, journey, total_ns, failure)
    screenshot = _failure_screenshot(page, plan) if failure is not None else None
    vitals_records = _vitals(page, vitals, timer, journey, wall0, ended_at)
    requests, capped = _collect(page, capture, timer, journey, wall0, ended_at, flushed=vitals is not None)
    return Sample(
        phase=plan.phase, attempt=plan.attempt, started_at=started_at, ended_at=ended_at,
        duration_s=round(total_ns / 1e9, 6), ok=failure is None, actions=actions, steps=steps,
        failure=failure, failed_action=failed_action, screenshot=screenshot,
        fault=FaultState(fault_active_at_start=active_at_start, fault_active_at_end=fault_active()),
        generator=GeneratorState(cpu_load=cpu_load),
        captured=Captured(requests=requests, requests_capped=capped or None, vitals=vitals_records),
    )


def _collect(page: Page, capture: RequestCapture | None, timer: StepTimer, journey: PythonJourney,
             wall0: float, wall1: float, flushed: bool = False) -> tuple[list[dict[str, Any]] | None, dict[str, int]]:
    """After the call, outside its clock: requests inside a block belong to it, the rest to
    "(outside steps)" (or, without blocks, to the function as a whole). One round trip lets
    Playwright deliver the request events already sent (`flushed`: the last vitals read was it)."""
    if capture is None:
        return None, {}
    try:
        if not flushed:
            page.evaluate("0")
    except PlaywrightError as e:
        log.debug("flushing request events: %s", _first_line(e))
    if not timer.blocks:
        return capture.records([Window(journey.function, wall0, wall1)], until=wall1)
    return capture.records([b.window for b in timer.blocks], fallback=OUTSIDE_STEPS, since=wall0, until=wall1)


def _vitals(page: Page, vitals: VitalsCapture | None, timer: StepTimer, journey: PythonJourney,
            wall0: float, wall1: float) -> list[dict[str, Any]] | None:
    """Placed like the requests: a page loaded inside a block belongs to it, the rest to "(outside steps)"."""
    if vitals is None:
        return None
    if not timer.blocks:
        return vitals.records(page, [Window(journey.function, wall0, wall1)])
    return vitals.records(page, [b.window for b in timer.blocks], fallback=OUTSIDE_STEPS, since=wall0)

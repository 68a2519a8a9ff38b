"""One attempt of a journey, whichever kind: a YAML journey (runner.py) or a Python one (python.py)."""

from __future__ import annotations

from collections.abc import Callable

from uxchaos.browser.session import BrowserSession
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.python import run_python_attempt
from uxchaos.journey.runner import run_yaml_attempt
from uxchaos.results.records import Sample


def run_attempt(session: BrowserSession, plan: AttemptPlan, fault_active: Callable[[], bool]) -> Sample:
    """Runs the attempt in a fresh context of the session's browser; `fault_active` says, when the
    attempt ends, whether the fault was in force throughout."""
    if plan.python is not None:
        return run_python_attempt(session, plan, fault_active)
    return run_yaml_attempt(session, plan, fault_active)

"""What one attempt is asked to do: the phase and number, the journey (YAML actions or a Python
journey), the target, and what to record beside the timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from uxchaos.scenario.model import Action
from uxchaos.scenario.python_ref import PythonJourney


@dataclass
class AttemptPlan:
    phase: str
    attempt: int
    journey: list[Action]
    base_url: str
    variables: dict[str, str]
    step_timeout_s: float
    artifacts_dir: Path
    python: PythonJourney | None = None  # a Python journey instead of `journey` (journey/python.py)
    capture_requests: bool = True  # record each action's requests (journey/capture.py)
    capture_vitals: bool = True  # Web Vitals per navigation (journey/vitals.py)
    trace_dir: Path | None = None  # write a Playwright trace of the attempt there (journey/traces.py)
    trace_screenshots: bool = False  # the trace also records the screencast (costs inside the clock)
    secrets: set[str] = field(default_factory=set)  # redacted from the trace

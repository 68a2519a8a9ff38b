"""The Scenario model: target, journey (actions of steps), fault, phases, expectations; and the
error that lists every problem a scenario file has."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from uxchaos.errors import BadInput
from uxchaos.faults import DRIVERS, FaultSpec
from uxchaos.load.spec import LoadSpec
from uxchaos.scenario.python_ref import PythonJourney
from uxchaos.scenario.steptypes import STEPS
from uxchaos.util.yamlsrc import Problem

PHASES = ("before", "during", "after")
SECRET_ENV = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


class ScenarioError(BadInput):
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = [p.format(path) for p in self.problems]
        super().__init__(f"{path}: {len(lines)} problem(s):\n  " + "\n  ".join(lines))


@dataclass
class Step:
    kind: str
    args: dict[str, Any]
    line: int

    @property
    def label(self) -> str:
        return STEPS[self.kind].label(self.args)


@dataclass
class Action:
    name: str
    steps: list[Step]


DEMO_APPS = ("python", "laravel")  # the bundled demo apps: uxchaos/demo/app.py, uxchaos/demo/laravel/


@dataclass
class Target:
    base_url: str  # a URL, or "demo"
    credentials: dict[str, str] = field(default_factory=dict)
    proxy_control: str | None = None
    ignore_https_errors: bool = False  # accept any certificate of the target (a test server's self-signed one)
    app: str = "python"  # with base_url demo: which bundled app (DEMO_APPS)

    @property
    def is_demo(self) -> bool:
        return self.base_url == "demo"


# Every key a fault may have: (kind, default, what it means) — `uxchaos reference` prints this.
FAULT_FIELDS = {
    "driver": ("text", "required", "a fault driver (table above)"),
    "kind": ("text", "required", "one of the driver's kinds"),
    "target": ("text", "required", "what the driver breaks (table above)"),
    "params": ("mapping", "the kind's defaults", "the kind's parameters"),
    "max_duration": ("duration", "10m", "the fault is reverted then, whatever happens"),
    "sweep": ("mapping", "–", "the fault at several sizes in one run (see Sweeps)"),
    "otherwise": ("fault", "–", "an alternative fault with these same keys (but no otherwise of its own; its "
                  "max_duration defaults to this one's): when this fault's pre-flight fails on this host (no netem, "
                  "no image…), the run says why and uses the alternative; if both fail it stops before any fault"),
}

# Every key a phase may have: (kind, default, what it means) — `uxchaos reference` prints this.
PHASE_FIELDS = {
    "attempts": ("int", "3", "attempts per user (closed model), or journeys started in all (open model)"),
    "settle": ("duration", "0ms", "wait before the phase's first attempt"),
    "users": ("int", "1", "a closed model: this many users, each running its attempts back to back"),
    "think": ("duration", "0ms", "a closed-model user's pause between two of its attempts"),
    "arrival_rate": ("rate (2/s, 120/min, 900/h)", "–", "an open model: journeys start at this constant rate, "
                     "whether or not earlier ones have finished"),
    "max_users": ("int", "required with arrival_rate", "an open model's most users running journeys at once; an "
                  "arrival finding all of them busy waits and is counted as started late"),
}


@dataclass
class Phase:
    attempts: int  # per virtual user (closed model), or journeys in all (open model, arrival_rate given)
    settle_s: float = 0.0  # wait before the phase's first attempt
    users: int = 1  # virtual users running attempts at once, each with its own context (uxchaos/users/pool.py)
    think_s: float = 0.0  # a user's pause between two of its attempts
    arrival_rate: float | None = None  # journeys started per second (an open model); then users is max_users

    @property
    def is_open(self) -> bool:
        return self.arrival_rate is not None


@dataclass
class Scenario:
    name: str
    description: str
    path: str
    target: Target
    journey: list[Action]
    fault: FaultSpec | None
    phases: dict[str, Phase]
    expect: list[str]
    step_timeout_s: float
    secrets: set[str] = field(default_factory=set)  # values never to be written anywhere
    python_journey: PythonJourney | None = None  # `journey: {python: FILE.py:FUNCTION}`; then `journey` is []
    browsers: list[str] = field(default_factory=list)  # browser endpoints for the users (browser/endpoints.py)
    load: LoadSpec | None = None  # protocol-level users run by Locust for the whole run (uxchaos/load/)
    phase_order: str = "sequential"  # or "alternating": before and during attempts take turns (run/engine.py)

    def masked(self) -> dict[str, Any]:
        """The scenario as loaded, for run.json, with every secret value masked."""
        creds = {k: ("***" if v in self.secrets else v) for k, v in self.target.credentials.items()}
        return {
            "name": self.name, "description": self.description, "path": self.path,
            "target": {"base_url": self.target.base_url, "credentials": creds,
                       "proxy_control": self.target.proxy_control,
                       "ignore_https_errors": self.target.ignore_https_errors,
                       **({"app": self.target.app} if self.target.is_demo else {})},
            "journey": [{"action": a.name, "steps": [{"kind": s.kind, "label": s.label} for s in a.steps]}
                        for a in self.journey],
            "python_journey": self.python_journey.ref if self.python_journey else None,
            "fault": None if self.fault is None else fault_record(self.fault),
            "phases": {k: {"attempts": p.attempts, "settle_s": p.settle_s, "users": p.users, "think_s": p.think_s,
                           "arrival_rate": p.arrival_rate} for k, p in self.phases.items()},
            "phase_order": self.phase_order,
            "expect": self.expect,
            "step_timeout_s": self.step_timeout_s,
            "browsers": self.browsers,
            "load": self.load.record() if self.load else None,
        }


def fault_record(fault: FaultSpec) -> dict[str, Any]:
    """A fault (and its alternative) as JSON for run.json."""
    return {
        "driver": fault.driver, "kind": fault.kind, "target": fault.target,
        "params": fault.params, "max_duration_s": fault.max_duration_s,
        "sweep": None if fault.sweep is None else {
            "param": fault.sweep.param, "levels": fault.sweep.levels, "mode": fault.sweep.mode,
            "thresholds": fault.sweep.thresholds, "settle_s": fault.sweep.settle_s,
            "unit": "s" if DRIVERS[fault.driver].kinds[fault.kind][fault.sweep.param].kind == "duration" else ""},
        **({"otherwise": fault_record(fault.otherwise)} if fault.otherwise is not None else {}),
    }

"""A fault with an alternative (`otherwise:` in the scenario): the first whose pre-flight passes on
this host is used — a netem delay where the kernel has sch_netem, else the fault proxy's. Only the
drivers' own required checks decide, so nothing here (or in the engine) names a driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uxchaos.errors import EnvironmentProblem, UxchaosError
from uxchaos.faults import DriverOptions, FaultDriver, FaultSpec, TargetRuntime, create_driver


def label(spec: FaultSpec) -> str:
    return f"{spec.driver} {spec.kind} on {spec.target}"


@dataclass
class Tried:
    fault: str  # label(spec)
    driver: str
    problems: list[str] = field(default_factory=list)  # "check: message" per failing required check; [] = passed


class NoFaultApplies(EnvironmentProblem):
    """Neither the fault nor its alternative passed its pre-flight; nothing was touched."""

    def __init__(self, tried: list[Tried]) -> None:
        self.tried = tried
        lines = [f"{'otherwise ' if i else ''}{t.fault}: {'; '.join(t.problems)}" for i, t in enumerate(tried)]
        super().__init__("neither the fault nor its alternative can be applied here (nothing was touched):\n  "
                         + "\n  ".join(lines))

    def record(self) -> dict[str, Any]:
        return {"used": None, "reason": str(self), "tried": [vars(t) for t in self.tried]}


@dataclass
class Choice:
    driver: FaultDriver
    tried: list[Tried]  # [] when the scenario gave no alternative (nothing was chosen)
    alternative: str = ""  # label of the alternative

    @property
    def fell_back(self) -> bool:
        return len(self.tried) > 1

    def reason(self) -> str:
        first = self.tried[0]
        if not self.fell_back:
            return f"{first.fault}: its pre-flight passed, so the alternative ({self.alternative}) is not needed"
        return (f"{first.fault} unavailable: {'; '.join(first.problems)}; using {self.tried[1].fault} instead")

    def record(self) -> dict[str, Any]:
        return {"used": label(self.driver.spec), "driver": self.driver.name, "fell_back": self.fell_back,
                "reason": self.reason(), "tried": [vars(t) for t in self.tried]}


def failing_checks(driver: FaultDriver) -> list[str]:
    """Every required check of the driver that fails, as "check: message" (a message already given
    by an earlier check — the daemon is down, the target matches nothing — is said once)."""
    problems: list[str] = []
    seen: set[str] = set()
    for check in driver.checks():
        if not check.required:
            continue
        try:
            check.run()
        except UxchaosError as e:
            if str(e) not in seen:
                seen.add(str(e))
                problems.append(f"{check.name}: {e}")
    return problems


def choose(spec: FaultSpec, runtime: TargetRuntime, options: DriverOptions | None = None) -> Choice:
    """The driver to run. Without an alternative, the fault's pre-flight raises as it always did."""
    first = create_driver(spec, runtime, options)
    if spec.otherwise is None:
        first.preflight()
        return Choice(first, [])
    tried: list[Tried] = []
    for candidate in (first, create_driver(spec.otherwise, runtime, options)):
        problems = failing_checks(candidate)
        tried.append(Tried(label(candidate.spec), candidate.name, problems))
        if not problems:
            return Choice(candidate, tried, label(spec.otherwise))
        candidate.close()
    raise NoFaultApplies(tried)


def plan(spec: FaultSpec, runtime: TargetRuntime, options: DriverOptions | None = None) -> list[str]:
    """For --dry-run: what would be touched, in the order tried, and which the pre-flight picks now."""
    if spec.otherwise is None:
        return create_driver(spec, runtime, options).plan()
    lines = []
    for heading, candidate in (("try first", spec), ("otherwise, if its pre-flight fails", spec.otherwise)):
        lines.append(f"{heading}: {label(candidate)}")
        try:
            lines += [f"  {line}" for line in create_driver(candidate, runtime, options).plan()]
        except UxchaosError as e:
            lines.append(f"  (cannot plan it now: {e})")
    try:
        lines.append("pre-flight now: " + choose(spec, runtime, options).reason())
    except NoFaultApplies as e:
        lines.append(f"pre-flight now: {e}")
    return lines

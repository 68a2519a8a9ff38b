"""Was the machine busy? Per phase: the host CPU, and the attempts left out because the load generator's
starvation can have distorted them (starvation.py); per action and phase: the bounds of the attempts kept.
And what that does to a verdict: a difference measured while the host was busy in one phase and not in
another, or on a starved generator, is said so instead of being called significant.

The host CPU threshold: phases run one after another, so a change in the machine's load goes straight
into a phase's difference. HOST_CPU_GAP (20 points of the host's CPU busy fraction between the before
and after phases' medians) is where that is said: below it, a run next to nothing else stays within a
few points here. Only the phases without the fault are compared: when the system under test shares the
host, the fault itself moves the during phase's CPU (a slow database leaves the host idle), which is no
sign of another job."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from uxchaos.analysis.stats import Comparison
from uxchaos.results.rundata import RunData
from uxchaos.users.starvation import BUSY_SHARE, LEFT_OUT_SHARE

HOST_CPU_GAP = 0.20  # between two phases' median host CPU busy fractions
PHASES = ("before", "during", "after")


@dataclass
class PhaseLoad:
    phase: str
    attempts: int
    host_cpu: float | None  # median busy fraction (0..1) over the phase's attempts
    left_out: int  # attempts the generator's starvation can have distorted by more than LEFT_OUT_SHARE
    bound_ms: float | None  # median bound of the attempts kept


@dataclass
class Busy:
    phases: list[PhaseLoad]
    warnings: list[str] = field(default_factory=list)
    host_busy: bool = False  # host CPU differed between the fault-free phases beyond HOST_CPU_GAP
    left_out_share: float = LEFT_OUT_SHARE
    host_cpu_gap: float = HOST_CPU_GAP

    def phase(self, name: str) -> PhaseLoad | None:
        return next((p for p in self.phases if p.phase == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return round(float(statistics.median(values)), 3) if values else None


def busy(run: RunData) -> Busy:
    phases = []
    for name in PHASES:
        samples = run.attempts(name)
        if not samples:
            continue
        generators = [s.generator for s in samples]
        kept = [s.generator.bound_ms for s in samples if not s.excluded and s.generator.bound_ms is not None]
        phases.append(PhaseLoad(name, len(samples), _median([g.host_cpu for g in generators if g.host_cpu is not None]),
                                sum(g.saturated for g in generators), _median(kept)))
    report = Busy(phases)
    measured = [p for p in phases if p.host_cpu is not None and p.phase != "during"]  # fault-free phases
    if len(measured) > 1:
        low = min(measured, key=lambda p: p.host_cpu or 0.0)
        high = max(measured, key=lambda p: p.host_cpu or 0.0)
        if (high.host_cpu or 0.0) - (low.host_cpu or 0.0) > HOST_CPU_GAP:
            report.host_busy = True
            report.warnings.append(f"the host's CPU was {high.host_cpu:.0%} busy in the {high.phase} phase and "
                                   f"{low.host_cpu:.0%} in the {low.phase} phase (more than "
                                   f"{HOST_CPU_GAP * 100:.0f} points apart): part of a difference between them "
                                   "may be the machine's, not the fault's")
    for p in phases:
        if p.left_out:
            report.warnings.append(f"{p.left_out} of {p.attempts} {p.phase} attempt(s) left out: the load "
                                   f"generator's starvation can have added more than {LEFT_OUT_SHARE:.0%} of "
                                   "their time")
    return report


def action_bound_ms(run: RunData, action: str, phase: str) -> float | None:
    """The largest bound of the action among the phase's kept, successful attempts."""
    bounds = [a.bound_ms for s in run.attempts(phase) if not s.excluded
              for a in s.actions if a.name == action and a.ok and a.bound_ms is not None]
    return max(bounds) if bounds else None


def qualify(comparison: Comparison, median_s: float | None, bound_ms: float | None, host_busy: bool,
            left_out: int = 0) -> Comparison:
    """The verdict said with the machine's load: `bound_ms`, the largest bound of the two phases' kept
    attempts, is large when above BUSY_SHARE of the median it could have distorted; `left_out`: the two
    phases' attempts left out (a phase without data says why)."""
    verdict = comparison.verdict
    if verdict == "no data" and left_out:
        said = f"too few samples: {left_out} left out ⌁ (busy generator)"
        return Comparison(**{**asdict(comparison), "verdict": said})
    if verdict == "no data" or verdict.startswith("too few samples"):
        return comparison
    notes = []
    if host_busy:
        notes.append("measured while the host was busy")
    if bound_ms is not None and median_s and bound_ms / 1000 > BUSY_SHARE * median_s:
        notes.append(f"measured on a busy generator (±{bound_ms:.0f} ms)")
    if not notes:
        return comparison
    if verdict.endswith(", significant"):
        verdict = verdict.removesuffix(", significant") + ", " + ", ".join(notes)
    else:
        verdict = f"{verdict}; " + ", ".join(notes)
    return Comparison(**{**asdict(comparison), "verdict": verdict})

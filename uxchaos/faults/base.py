"""The fault driver interface: every driver validates its parameters up front, then injects,
reverts and describes one fault. A fresh driver instance is made per run, so nothing leaks.

Everything that depends on the kind of driver lives behind this interface — what the host must
have (`checks`, shown by `uxchaos doctor` and run before every run), how to measure the fault's
effect (`effect_probe`), whether it is still in force (`in_force`), which shared things it holds
(`resources`), and how another process undoes it (`ledger_revert` / `revert_from_ledger`) — so a
new driver is one module and the engine, the doctor and `recover` never name a driver."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    kind: str | tuple[str, ...]  # see uxchaos.scenario.params.convert
    default: Any = REQUIRED
    help: str = ""


@dataclass(frozen=True)
class Sweep:
    """One numeric parameter of the fault, run at several sizes (levels) in one run."""

    param: str
    levels: list[float]
    mode: str = "step"  # step: keep the fault and change its size; reset: revert and settle between levels
    thresholds: dict[str, float] = field(default_factory=dict)  # action -> limit (s), for the threshold finder
    settle_s: float = 0.0  # mode reset: wait between a revert and the next level


@dataclass
class FaultSpec:
    driver: str
    kind: str
    target: str
    params: dict[str, Any]
    max_duration_s: float
    line: int = 0
    sweep: Sweep | None = None
    otherwise: FaultSpec | None = None  # used instead when this fault's pre-flight fails (faults/choice.py)


class SupervisedProcess(Protocol):
    """A process the target keeps running (the demo's queue worker): its pid now, and its exits."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exits(self) -> list[Any]: ...  # records with pid, returncode, exited_at, restarted_at, new_pid


@dataclass
class TargetRuntime:
    """What the engine knows about the running target, handed to the driver."""

    base_url: str
    proxies: Any = None  # a ProxyHub or ControlClient (same methods), when the target has fault proxies
    processes: dict[str, SupervisedProcess] = field(default_factory=dict)  # by name, e.g. "worker"
    probe_url: str = ""  # the journey's first page: timed like the report's curl to verify a delay
    pending: str = ""  # set when the target has not started yet (doctor, dry run): what will provide the rest
    load: Any = None  # the run's background Locust load (load/background.py), once started: for the load driver


@dataclass(frozen=True)
class DriverOptions:
    """How this run wants faults applied."""

    force: bool = False  # allow targets that match many (or all) containers
    run_id: str = ""  # the run that owns the fault: in names, so a run only ever removes its own


@dataclass(frozen=True)
class Check:
    """One pre-flight check: `run` returns a detail to show, or raises a UxchaosError saying what is
    wrong and how to fix it. A check that is not `required` only warns."""

    name: str
    run: Callable[[], str]
    required: bool = True


@dataclass(frozen=True)
class EffectProbe:
    """A round trip through the faulty link (seconds), and what the fault should add to it."""

    probe: Callable[[float], float]
    requested_s: float


class FaultDriver(abc.ABC):
    name: ClassVar[str]
    kinds: ClassVar[dict[str, dict[str, Param]]]
    target_help: ClassVar[str] = ""
    # inject and revert take milliseconds and leave nothing to settle: phases may alternate
    # (`phases: {order: alternating}`), before and during attempts taking turns
    toggles_cheaply: ClassVar[bool] = False

    def __init__(self, spec: FaultSpec, runtime: TargetRuntime, options: DriverOptions | None = None) -> None:
        self.spec = spec
        self.runtime = runtime
        self.options = options or DriverOptions()

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        """Checked when the scenario is loaded: a message if the target cannot be right."""
        return None

    @classmethod
    def host_checks(cls) -> list[Check]:
        """What this driver needs from the host whatever the scenario (a daemon, a kernel feature);
        `uxchaos doctor` without a scenario shows them as information."""
        return []

    def checks(self) -> list[Check]:
        """Everything this fault needs, for `uxchaos doctor SCENARIO` and before every run. A check
        that needs the running target may say it will be checked when the run starts."""
        return []

    def preflight(self) -> None:
        """Raise a UxchaosError when the fault cannot be injected (before any phase runs)."""
        for check in self.checks():
            if check.required:
                check.run()

    def resources(self) -> list[str]:
        """Names of the shared things this fault changes (a proxy, a container, a process). Two runs
        never hold one at the same time: the second is refused before it touches anything."""
        return []

    def in_force(self) -> bool | None:
        """Is the fault still applied right now? None when the driver cannot tell (a one-shot kill).
        Asked before and after every during attempt, so a fault removed behind the run's back is
        seen and the samples measured without it are flagged."""
        return None

    @abc.abstractmethod
    def inject(self) -> dict[str, Any]:
        """Apply the fault; return details recorded with the inject event."""

    @abc.abstractmethod
    def revert(self) -> dict[str, Any]:
        """Undo the fault; must be safe to call twice."""

    @abc.abstractmethod
    def ledger_revert(self) -> dict[str, Any]:
        """JSON data from which another process can undo this fault (written before inject)."""

    @classmethod
    @abc.abstractmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        """Undo a fault from its ledger data (used by `uxchaos recover`); say what was done."""

    def poll_events(self) -> list[dict[str, Any]]:
        """Things the target did on its own since injection (e.g. a killed process restarted)."""
        return []

    def effect_probe(self) -> EffectProbe | None:
        """For faults with a measurable effect (a delay): how to measure it, before and during."""
        return None

    def plan(self) -> list[str]:
        """For --dry-run: what would be touched and how, without touching it."""
        return [self.describe()]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the driver holds (event streams, clients) at the end of the run."""

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.spec.params.items())
        return f"{self.spec.kind} on {self.spec.target} via {self.name}" + (f" ({params})" if params else "")

"""The fault driver interface: every driver validates its parameters up front, then injects,
reverts and describes one fault. A fresh driver instance is made per run, so nothing leaks."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    kind: str | tuple[str, ...]  # see uxchaos.params.convert
    default: Any = REQUIRED
    help: str = ""


@dataclass
class FaultSpec:
    driver: str
    kind: str
    target: str
    params: dict[str, Any]
    max_duration_s: float
    line: int = 0


@dataclass
class TargetRuntime:
    """What the engine knows about the running target, handed to the driver."""

    base_url: str
    proxies: Any = None  # a ProxyHub or ControlClient (same methods)
    demo: Any = None  # the DemoStack when the target is the bundled demo
    extra: dict[str, Any] = field(default_factory=dict)


class FaultDriver(abc.ABC):
    name: ClassVar[str]
    kinds: ClassVar[dict[str, dict[str, Param]]]
    target_help: ClassVar[str] = ""

    def __init__(self, spec: FaultSpec, runtime: TargetRuntime) -> None:
        self.spec = spec
        self.runtime = runtime

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        """Checked when the scenario is loaded: a message if the target cannot be right."""
        return None

    def preflight(self) -> None:  # noqa: B027 - optional hook, most drivers need no check
        """Raise EnvironmentProblem when the fault cannot be injected (before any phase runs)."""

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

    def effect_probe(self) -> tuple[Callable[[float], float], float] | None:
        """For delay faults: (a round-trip probe through the faulty link, the requested delay in s)."""
        return None

    def plan(self) -> list[str]:
        """For --dry-run: what would be touched and how, without touching it."""
        return [self.describe()]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the driver holds (event streams, clients) at the end of the run."""

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.spec.params.items())
        return f"{self.spec.kind} on {self.spec.target} via {self.name}" + (f" ({params})" if params else "")

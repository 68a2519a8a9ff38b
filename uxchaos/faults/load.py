"""The `load` driver: a traffic surge as a fault. At inject the run's Locust users (the scenario's
`load:` block, uxchaos/load/) step up by `users`, at revert back down, so the phases differ only by
the surge. The step is held once Locust's ramp to it is done. A run killed with a surge running
leaves Locust processes that die with it (PR_SET_PDEATHSIG); `uxchaos recover` stops any left over."""

from __future__ import annotations

from typing import Any, ClassVar

from uxchaos.errors import FaultError
from uxchaos.faults import register
from uxchaos.faults.base import Check, FaultDriver, Param


@register
class LoadDriver(FaultDriver):
    name = "load"
    target_help = "'load': the scenario's load: users (its locustfile or requests), stepped up by the surge"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "surge": {"users": Param("int", help="Locust users added to the scenario's load while the fault is held"),
                  "spawn_rate": Param("rate", 0.0, "how fast they start and stop (default: all within a second)")},
    }

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return None if target == "load" else f"the load driver's target is 'load' ({cls.target_help}), got {target!r}"

    def checks(self) -> list[Check]:
        return [Check("background load", lambda: "the scenario's Locust users are stepped up when it has started")]

    def _users(self) -> int:
        return max(0, int(self.spec.params["users"]))

    def _rate(self) -> float:
        return float(self.spec.params.get("spawn_rate") or 0.0) or float(max(1, self._users()))

    def _load(self) -> Any:
        if self.runtime.load is None:
            raise FaultError("no Locust load is running: a surge steps up the scenario's load: users")
        return self.runtime.load

    def ledger_revert(self) -> dict[str, Any]:
        load = self._load()
        return {"pids": list(load.pids), "users": load.spec.users}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        from uxchaos.load.process import stop_pids

        stopped = stop_pids(list(data.get("pids", [])))
        if stopped:
            return f"stopped the surge's Locust processes {', '.join(map(str, stopped))}"
        return "the surge's Locust processes are gone already"

    def inject(self) -> dict[str, Any]:
        load = self._load()
        reached = load.surge(self._users(), self._rate())
        return {"users": load.spec.users + self._users(), "added": self._users(), "spawn_rate": self._rate(),
                "ramp_done": reached}

    def revert(self) -> dict[str, Any]:
        load = self.runtime.load
        if load is None:
            return {}
        load.unsurge(self._rate())
        return {"users": load.spec.users}

    def in_force(self) -> bool | None:
        load = self.runtime.load
        return bool(load is not None and load.processes.running and load.surge_users == self._users())

    def describe(self) -> str:
        return f"surge of +{self._users()} Locust users at {self._rate():g}/s via load"

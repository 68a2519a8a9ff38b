"""What the container drivers (docker, pumba) share: a Docker client made on first use, target
validation on load, and target resolution with the safety checks of uxchaos.containers."""

from __future__ import annotations

from typing import Any

from uxchaos.containers import docker_client, resolve_targets, validate_target
from uxchaos.faults.base import FaultDriver


class ContainerDriver(FaultDriver):
    target_help = "container NAME[,NAME], re2:REGEX (on names), label:KEY=VALUE or service:SWARM_SERVICE"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._client: Any = None
        self.targets: list[Any] = []  # the running containers the fault applies to

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return validate_target(target)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def resolve(self) -> list[Any]:
        """Match the target against the running containers (refusing unsafe matches), once."""
        if not self.targets:
            force = bool(self.runtime.extra.get("force"))
            self.targets = resolve_targets(self.client, self.spec.target, force=force)
        return self.targets

"""What the container drivers (docker, pumba) share: a Docker client made on first use, target
validation on load, and target resolution with the safety checks of uxchaos.containers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from uxchaos.containers import docker_client, docker_host, resolve_targets, validate_target
from uxchaos.errors import FaultError
from uxchaos.faults.base import FaultDriver


@contextlib.contextmanager
def daemon_errors(doing: str) -> Iterator[None]:
    """The Docker daemon can go away mid-run: say so plainly, never with a traceback. The fault
    stays in the ledger, so `uxchaos recover` can finish the job once the daemon is back."""
    import docker
    import requests

    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise FaultError(
            f"the Docker daemon at {docker_host()} failed while {doing}: {reason}. The fault may still be in "
            "place: run `uxchaos recover` once `docker version` answers again."
        ) from None


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

    # The engine calls these; the drivers implement the underscored versions.
    def inject(self) -> dict[str, Any]:
        with daemon_errors(f"injecting {self.spec.kind}"):
            return self._inject()

    def revert(self) -> dict[str, Any]:
        with daemon_errors(f"reverting {self.spec.kind}"):
            return self._revert()

    def poll_events(self) -> list[dict[str, Any]]:
        with daemon_errors("following the target"):
            return self._poll_events()

    def _inject(self) -> dict[str, Any]:
        raise NotImplementedError

    def _revert(self) -> dict[str, Any]:
        raise NotImplementedError

    def _poll_events(self) -> list[dict[str, Any]]:
        return []

    def resolve(self) -> list[Any]:
        """Match the target against the running containers (refusing unsafe matches), once."""
        if not self.targets:
            force = bool(self.runtime.extra.get("force"))
            self.targets = resolve_targets(self.client, self.spec.target, force=force)
        return self.targets

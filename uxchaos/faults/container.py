"""What the container drivers (docker, pumba) share: a Docker client made on first use, target
validation on load, target resolution with the safety checks of uxchaos.faults.dockerapi, the host
checks (daemon, netem for netem kinds), the image check and the effect probe for delays."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults.base import Check, EffectProbe, FaultDriver
from uxchaos.faults.dockerapi import (
    daemon_check,
    docker_client,
    docker_host,
    image_present,
    netem_check,
    resolve_targets,
    validate_target,
)


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
    netem_kinds: tuple[str, ...] = ()  # kinds applied with netem: they need sch_netem in the kernel

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
            self.targets = resolve_targets(self.client, self.spec.target, force=self.options.force)
        return self.targets

    @classmethod
    def host_checks(cls) -> list[Check]:
        return [Check("docker daemon", daemon_check), Check("netem (kernel)", netem_check, required=False)]

    def checks(self) -> list[Check]:
        checks = [Check("docker daemon", daemon_check), Check("fault target and images", self._targets_and_images)]
        if self.spec.kind in self.netem_kinds:
            checks.append(Check("netem (kernel)", netem_check))
        return checks

    def _targets_and_images(self) -> str:
        containers = self.resolve()
        for c in containers:  # the report's "No such image": a target whose image is gone
            image = c.attrs.get("Config", {}).get("Image", "")
            if image and not image.startswith("sha256:") and not image_present(self.client, image.split("@")[0]):
                raise EnvironmentProblem(f"No such image: {image} (used by target {c.name}); update the service or "
                                         "pull the image before injecting faults")
        self.check_fault_needs()
        return "targets: " + ", ".join(c.name for c in containers)

    def check_fault_needs(self) -> None:
        """What this kind of fault needs beyond the targets (its images, a network namespace of
        its own): raise EnvironmentProblem if it is missing."""

    def resources(self) -> list[str]:
        return [f"container {c.name} ({c.id[:12]})" for c in self.resolve()]

    def effect_probe(self) -> EffectProbe | None:
        """A netem delay is verified the report's way: the app's first page timed like curl."""
        if self.spec.kind != "delay" or not self.runtime.probe_url:
            return None
        from uxchaos.faults.probe import page_probe

        return EffectProbe(page_probe(self.runtime.probe_url), float(self.spec.params["delay"]))

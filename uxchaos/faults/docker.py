"""The `docker` driver: faults through the Docker Engine API, without Pumba. kill (any signal),
stop (reverted by start), pause (reverted by unpause), restart, and netem delay/loss through `tc`
in a sidecar container that shares the target's network namespace (reverted by deleting the qdisc).
Kills and stops of Swarm task containers are followed through the service's tasks."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from uxchaos.errors import EnvironmentProblem, FaultError, FaultRefused
from uxchaos.faults import register
from uxchaos.faults.base import Check, Param
from uxchaos.faults.container import ContainerDriver, daemon_errors
from uxchaos.faults.dockerapi import docker_client, image_present, run_tc
from uxchaos.faults.swarm import ServiceWatcher, is_swarm_task

TC_IMAGE = Param("text", "gaiadocker/iproute2", "image with `tc`, present locally")
NETEM_KINDS = ("delay", "loss")


def netem_command(kind: str, params: dict[str, Any], action: str = "add") -> list[str]:
    iface = params.get("interface", "eth0")
    if action == "del":
        return ["tc", "qdisc", "del", "dev", iface, "root", "netem"]
    cmd = ["tc", "qdisc", "add", "dev", iface, "root", "netem"]
    if kind == "delay":
        cmd += ["delay", f"{round(params['delay'] * 1000)}ms"]
        if params.get("jitter"):
            cmd += [f"{round(params['jitter'] * 1000)}ms"]
    else:
        cmd += ["loss", f"{params['percent']:g}%"]
    return cmd


@register
class DockerDriver(ContainerDriver):
    name = "docker"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "kill": {"signal": Param("signal", "SIGKILL", "signal name")},
        "stop": {"timeout": Param("duration", 10.0, "grace period before SIGKILL")},
        "pause": {},
        "restart": {"timeout": Param("duration", 1.0, "grace period before SIGKILL")},
        "delay": {"delay": Param("duration", help="netem delay, e.g. 2000ms"), "jitter": Param("duration", 0.0),
                  "interface": Param("text", "eth0"), "tc_image": TC_IMAGE},
        "loss": {"percent": Param("float", help="0–100"), "interface": Param("text", "eth0"), "tc_image": TC_IMAGE},
    }
    netem_kinds = NETEM_KINDS

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.watchers: list[ServiceWatcher] = []
        self.killed_at = 0.0

    def check_fault_needs(self) -> None:
        if self.spec.kind not in NETEM_KINDS:
            return
        image = self.spec.params["tc_image"]
        if not image_present(self.client, image):
            raise EnvironmentProblem(f"No such image: {image} (the tc image for netem): `docker pull {image}`, "
                                     "or set fault.params.tc_image to an image with `tc` that is present")

    def checks(self) -> list[Check]:
        checks = super().checks()
        if self.spec.kind in NETEM_KINDS:
            checks.append(Check("netem target", self._own_network_namespace))
        return checks

    def _own_network_namespace(self) -> str:
        host_net = [c.name for c in self.resolve() if c.attrs["HostConfig"].get("NetworkMode") == "host"]
        if host_net:
            raise EnvironmentProblem(f"target(s) {', '.join(host_net)} use host networking: netem there would "
                                     "delay the host's own interface; use the proxy driver")
        return "the targets have network namespaces of their own"

    def in_force(self) -> bool | None:
        """A pause holds while the containers are paused; a stop while they are not running."""
        if self.spec.kind not in ("pause", "stop") or not self.targets:
            return None
        with daemon_errors("checking the fault"):
            for c in self.targets:
                c.reload()
            if self.spec.kind == "pause":
                return all(c.status == "paused" for c in self.targets)
            return all(c.status != "running" for c in self.targets)

    def plan(self) -> list[str]:
        lines = [f"{self.describe()}", f"targets: {', '.join(c.name for c in self.resolve())}"]
        if self.spec.kind in NETEM_KINDS:
            for c in self.targets:
                command = " ".join(netem_command(self.spec.kind, self.spec.params))
                lines.append(f"docker run --rm --network container:{c.name} --cap-add NET_ADMIN "
                             f"{self.spec.params['tc_image']} {command}")
        return lines

    def ledger_revert(self) -> dict[str, Any]:
        targets = self.resolve()
        return {"kind": self.spec.kind, "containers": [c.id for c in targets],
                "swarm": [is_swarm_task(c) for c in targets], "params": self.spec.params}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        import docker

        client = docker_client()
        done = []
        for cid, swarm in zip(data["containers"], data["swarm"], strict=True):
            try:
                c = client.containers.get(cid)
            except docker.errors.NotFound:
                done.append(f"{cid[:12]} is gone")
                continue
            done.append(_undo(client, c, data["kind"], data["params"], swarm))
        return "; ".join(done)

    def _inject(self) -> dict[str, Any]:
        containers = self.resolve()
        if self.spec.kind == "pause":
            for c in containers:
                c.reload()
            paused = [c.name for c in containers if c.status == "paused"]
            if paused:  # unpausing it on revert would end somebody else's fault
                raise FaultRefused(f"{', '.join(paused)} is already paused (by another run, or by hand); "
                                   "nothing was changed")
        self.watchers = [ServiceWatcher(self.client, c) for c in containers
                         if self.spec.kind in ("kill", "stop") and is_swarm_task(c)]
        self.killed_at = time.time()
        for w in self.watchers:
            w.start(self.killed_at)
        p = self.spec.params
        for c in containers:  # Docker errors become clear messages in ContainerDriver.inject
            if self.spec.kind == "kill":
                c.kill(signal=p["signal"])
            elif self.spec.kind == "stop":
                c.stop(timeout=int(p["timeout"]))
            elif self.spec.kind == "pause":
                c.pause()
            elif self.spec.kind == "restart":
                c.restart(timeout=int(p["timeout"]))
            else:
                run_tc(self.client, c, netem_command(self.spec.kind, p), p["tc_image"])
        return {"containers": [c.name for c in containers], "killed_at": self.killed_at}

    def _revert(self) -> dict[str, Any]:
        done = [_undo(self.client, c, self.spec.kind, self.spec.params, is_swarm_task(c)) for c in self.targets]
        return {"reverted": done}

    def _poll_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for w in self.watchers:
            events += w.poll()
        return events

    def close(self) -> None:
        for w in self.watchers:
            w.stop()


def _undo(client: Any, c: Any, kind: str, params: dict[str, Any], swarm: bool) -> str:
    import docker

    c.reload()
    try:
        if kind == "pause" and c.status == "paused":
            c.unpause()
            return f"unpaused {c.name}"
        if kind == "stop" and c.status == "exited" and not swarm:
            c.start()  # Swarm replaces its own tasks: starting the old one would fight it
            return f"started {c.name}"
        if kind in NETEM_KINDS and c.status == "running":
            run_tc(client, c, netem_command(kind, params, "del"), params["tc_image"])
            return f"removed netem from {c.name}"
    except docker.errors.APIError as e:
        raise FaultError(f"could not revert {kind} on {c.name}: {e.explanation or e}") from e
    return f"{c.name}: nothing to revert"

"""The `pumba` driver: runs Pumba as the report did — its image with the Docker socket mounted —
but resolves the targets itself first (Pumba exits 0 on "no containers found", and with no target
hits every container), builds exactly Pumba's argument grammar, streams its log into the run,
stops it with a long grace period (its cleanup takes up to 30 s; Docker's default 10 s ends in
SIGKILL, which leaves the netem qdisc behind) and then checks that the cleanup really happened."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from typing import Any, ClassVar

from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults import register
from uxchaos.faults.base import Param
from uxchaos.faults.container import ContainerDriver
from uxchaos.faults.docker import TC_IMAGE
from uxchaos.faults.dockerapi import docker_client, image_present, run_tc

PUMBA_LABEL = "com.gaiaadm.pumba"
STOP_TIMEOUT_S = 60
NETEM = ("delay", "loss", "rate", "duplicate", "corrupt")
IMAGE = Param("text", "gaiaadm/pumba:latest", "the Pumba image (e.g. ghcr.io/alexei-led/pumba:0.11.0)")
RUNNER = Param(("auto", "image", "binary"), "auto", "auto: the image if present, else a `pumba` on PATH")
NETEM_COMMON = {"interface": Param("text", "eth0"), "tc_image": TC_IMAGE, "image": IMAGE, "runner": RUNNER}


def go_duration(seconds: float) -> str:
    """Pumba reads Go durations: 120s, 1500ms. A bare number is an error there."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def pumba_args(kind: str, params: dict[str, Any], targets: list[str], duration_s: float) -> list[str]:
    """Pumba's grammar: global flags, command, command flags, [subcommand, its flags], targets.
    Long flags only; several targets are literal container names (never an empty list)."""
    if not targets:
        raise ValueError("Pumba with no target hits every container: refusing to build such a command")
    args = ["--log-level=info"]
    if kind == "kill":
        args += ["kill", f"--signal={params['signal']}"]
    elif kind == "stop":
        args += ["stop", f"--time={round(params['timeout'])}"]  # integer seconds
    elif kind == "pause":
        args += ["pause", f"--duration={go_duration(duration_s)}"]
    elif kind == "rm":
        args += ["rm", f"--force={str(params['force']).lower()}", f"--volumes={str(params['volumes']).lower()}"]
    else:
        args += ["netem", f"--duration={go_duration(duration_s)}", f"--interface={params['interface']}",
                 f"--tc-image={params['tc_image']}", "--pull-image=false"]
        if kind == "delay":  # integer milliseconds; without jitter/correlation Pumba adds 10 ms and 20 %
            args += ["delay", f"--time={round(params['delay'] * 1000)}", f"--jitter={round(params['jitter'] * 1000)}",
                     f"--correlation={params['correlation']:g}"]
            if params.get("distribution", "none") != "none":
                args.append(f"--distribution={params['distribution']}")
        elif kind == "loss":
            args += ["loss", f"--percent={params['percent']:g}", f"--correlation={params['correlation']:g}"]
        elif kind == "rate":
            args += ["rate", f"--rate={params['rate']}"]
        else:
            args += [kind, f"--percent={params['percent']:g}"]
    return args + targets


def docker_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host[len("unix://"):] if host.startswith("unix://") else "/var/run/docker.sock"


class ImageRunner:
    """Pumba as the report ran it: its image, the Docker socket mounted, its container labelled."""

    def __init__(self, client: Any, image: str) -> None:
        self.client, self.image = client, image
        self.name = f"uxchaos-pumba-{uuid.uuid4().hex[:8]}"
        self.container: Any = None

    def command_line(self, args: list[str]) -> str:
        return (f"docker run --rm --name {self.name} -v {docker_socket()}:/var/run/docker.sock "
                f"--label {PUMBA_LABEL}=true {self.image} {' '.join(args)}")

    def ledger(self) -> dict[str, Any]:
        return {"runner": "image", "container": self.name}

    def start(self, args: list[str], lines: queue.Queue[str]) -> None:
        self.container = self.client.containers.run(
            self.image, args, name=self.name, detach=True, network_mode="host",
            labels={PUMBA_LABEL: "true", "uxchaos.role": "pumba"},
            volumes={docker_socket(): {"bind": "/var/run/docker.sock", "mode": "rw"}},
        )

        def follow() -> None:
            import docker
            import requests

            try:
                for chunk in self.container.logs(stream=True, follow=True):
                    for line in chunk.decode(errors="replace").splitlines():
                        lines.put(line)
            except (docker.errors.APIError, requests.exceptions.RequestException) as e:
                lines.put(f"(uxchaos: Pumba's log stream ended: {e})")  # said in the run, not hidden

        threading.Thread(target=follow, name="uxchaos-pumba-log", daemon=True).start()

    def wait(self, timeout_s: float) -> int | None:
        """Pumba's exit code, or None if it is still running after `timeout_s`. Anything else (its
        container gone before its exit code could be read, the daemon failing) is an error: it
        must never pass for "still running", or a failed inject would count as a success."""
        import docker
        import requests

        try:
            return int(self.container.wait(timeout=timeout_s)["StatusCode"])
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as e:
            if "timed out" in str(e).lower() or isinstance(e, requests.exceptions.ReadTimeout):
                return None
            raise
        except docker.errors.NotFound:
            raise FaultError(f"Pumba's container {self.name} disappeared before its exit status could be read "
                             "(removed by someone else?); the fault's state is unknown") from None

    def running(self) -> bool:
        import docker

        try:
            self.container.reload()
        except docker.errors.NotFound:
            return False
        return bool(self.container.status == "running")

    def stop(self) -> int | None:
        import docker

        try:
            self.container.reload()
            if self.container.status == "running":
                self.container.stop(timeout=STOP_TIMEOUT_S)  # SIGTERM, then a long grace period
            return self.wait(STOP_TIMEOUT_S + 10)
        except docker.errors.NotFound:
            return None

    def remove(self) -> None:
        import docker

        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409 or "in progress" not in str(e):
                raise  # only "removal already in progress" means it is going away anyway


class BinaryRunner:
    """A `pumba` binary on PATH, talking to the same daemon (DOCKER_HOST is passed on)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.process: subprocess.Popen[bytes] | None = None

    def command_line(self, args: list[str]) -> str:
        return " ".join([self.path, *args])

    def ledger(self) -> dict[str, Any]:
        return {"runner": "binary", "pid": self.process.pid if self.process else None}

    def start(self, args: list[str], lines: queue.Queue[str]) -> None:
        # Its own session: a Ctrl-C on the terminal reaches uxchaos, which then stops Pumba in order.
        self.process = subprocess.Popen([self.path, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

        def follow() -> None:
            assert self.process is not None and self.process.stdout is not None
            for raw in self.process.stdout:
                lines.put(raw.decode(errors="replace").rstrip("\n"))

        threading.Thread(target=follow, name="uxchaos-pumba-log", daemon=True).start()

    def wait(self, timeout_s: float) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.wait(STOP_TIMEOUT_S)
        if code is None:
            self.process.kill()
            code = self.process.wait(5)
        return code

    def remove(self) -> None:
        pass


def _explain(log: list[str], code: int) -> str:
    text = "\n".join(log[-5:])
    if "Cannot connect to the Docker daemon" in text:
        hint = "Pumba cannot reach the Docker socket: is it mounted (and is dockerd running)?"
    elif "No such image" in text or "failed to pull" in text:
        hint = "the tc image is missing: pull it, or set fault.params.tc_image"
    elif "No help topic" in text:
        hint = "this Pumba does not know the command: check the image version"
    else:
        hint = "see its log below"
    return f"Pumba exited with code {code}: {hint}\n    " + "\n    ".join(log[-5:])


@register
class PumbaDriver(ContainerDriver):
    name = "pumba"
    netem_kinds = NETEM
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "kill": {"signal": Param("signal", "SIGKILL"), "image": IMAGE, "runner": RUNNER},
        "stop": {"timeout": Param("duration", 10.0, "seconds before SIGKILL"), "image": IMAGE, "runner": RUNNER},
        "pause": {"image": IMAGE, "runner": RUNNER},
        "rm": {"force": Param("bool", True), "volumes": Param("bool", False), "image": IMAGE, "runner": RUNNER},
        "delay": {"delay": Param("duration", help="e.g. 2000ms"), "jitter": Param("duration", 0.0),
                  "correlation": Param("float", 0.0, "percent"),
                  "distribution": Param(("none", "normal", "pareto", "paretonormal", "uniform"), "none"),
                  **NETEM_COMMON},
        "loss": {"percent": Param("float"), "correlation": Param("float", 0.0), **NETEM_COMMON},
        "rate": {"rate": Param("text", help="e.g. 100kbit"), **NETEM_COMMON},
        "duplicate": {"percent": Param("float"), **NETEM_COMMON},
        "corrupt": {"percent": Param("float"), **NETEM_COMMON},
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._runner: ImageRunner | BinaryRunner | None = None
        self.started = False
        self.log: list[str] = []
        self._emitted = 0  # lines of self.log already handed to the run as events
        self._lines: queue.Queue[str] = queue.Queue()

    def args(self) -> list[str]:
        targets = [c.name for c in self.resolve()]
        return pumba_args(self.spec.kind, self.spec.params, targets, self.spec.max_duration_s)

    def runner(self) -> ImageRunner | BinaryRunner:
        """The image (as in the report), or a `pumba` binary on PATH."""
        if self._runner is None:
            p = self.spec.params
            binary = shutil.which("pumba")
            use_binary = p["runner"] == "binary" or (
                p["runner"] == "auto" and binary is not None and not image_present(self.client, p["image"]))
            if use_binary:
                if binary is None:
                    raise EnvironmentProblem("runner: binary, but there is no `pumba` on PATH")
                self._runner = BinaryRunner(binary)
            else:
                if not image_present(self.client, p["image"]):
                    raise EnvironmentProblem(f"No such image: {p['image']} (Pumba): `docker pull {p['image']}`, set "
                                             "fault.params.image to a Pumba image that is present, or put a `pumba` "
                                             "binary on PATH")
                self._runner = ImageRunner(self.client, p["image"])
        return self._runner

    def check_fault_needs(self) -> None:
        p = self.spec.params
        self.runner()
        if self.spec.kind == "delay" and p["jitter"] > p["delay"]:
            raise EnvironmentProblem("Pumba refuses a jitter larger than the delay")
        self.args()
        if self.spec.kind in NETEM and not image_present(self.client, p["tc_image"]):
            raise EnvironmentProblem(f"No such image: {p['tc_image']} (the tc image): pull it first — Pumba runs "
                                     "with --pull-image=false")

    def in_force(self) -> bool | None:
        """Pumba holds a pause or netem while it runs; kill/stop/rm are done once."""
        if self.spec.kind in ("kill", "stop", "rm") or not self.started or self._runner is None:
            return None
        return self._runner.running()

    def plan(self) -> list[str]:
        return [self.describe(), f"targets: {', '.join(c.name for c in self.resolve())}",
                self.runner().command_line(self.args())]

    def ledger_revert(self) -> dict[str, Any]:
        return {**self.runner().ledger(), "kind": self.spec.kind}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        if data.get("runner") == "binary":
            pid = data.get("pid")
            if not pid:
                return "Pumba had not started"
            try:
                os.kill(pid, signal.SIGTERM)  # Pumba cleans up on SIGTERM
            except ProcessLookupError:
                return f"Pumba (pid {pid}) is gone"
            return f"sent SIGTERM to Pumba (pid {pid}) so it cleans up"
        import docker

        client = docker_client()
        try:
            c = client.containers.get(data["container"])
        except docker.errors.NotFound:
            return f"Pumba container {data['container']} is gone"
        if c.status == "running":
            c.stop(timeout=STOP_TIMEOUT_S)  # lets Pumba undo netem / unpause, as on Ctrl-C
        c.remove(force=True)
        return f"stopped and removed Pumba container {data['container']}"

    def _inject(self) -> dict[str, Any]:
        args, runner = self.args(), self.runner()
        runner.start(args, self._lines)
        self.started = True
        one_shot = self.spec.kind in ("kill", "stop", "rm")
        code = runner.wait(60 if one_shot else 1.5)
        if code is not None:
            self._drain()
            runner.remove()
            self.started = False
            if code != 0:
                raise FaultError(_explain(self.log, code))
            if not one_shot:
                raise FaultError(f"Pumba stopped at once (exit 0) instead of holding the {self.spec.kind}:\n    "
                                 + "\n    ".join(self.log[-5:]))
        return {"pumba": runner.command_line(args), "args": args}

    def _drain(self) -> None:
        time.sleep(0.05)
        while True:
            try:
                self.log.append(self._lines.get_nowait())
            except queue.Empty:
                return

    def _poll_events(self) -> list[dict[str, Any]]:
        """Pumba's log lines, streamed into the run (also those read while reverting)."""
        self._drain()
        new, self._emitted = self.log[self._emitted:], len(self.log)
        return [{"event": "pumba_log", "time": time.time(), "line": line} for line in new]

    def _revert(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.started and self._runner is not None:
            details["pumba_exit_code"] = self._runner.stop()
            self._drain()
            self._runner.remove()
            self.started = False
        if self.spec.kind in NETEM:
            details["leftover_qdisc_removed"] = self._remove_leftover_qdisc()
        if self.spec.kind == "pause":  # Pumba unpauses on SIGTERM; make sure
            for c in self.targets:
                c.reload()
                if c.status == "paused":
                    c.unpause()
                    details.setdefault("unpaused_by_uxchaos", []).append(c.name)
        return details

    def _remove_leftover_qdisc(self) -> list[str]:
        """A failed Pumba cleanup only logs a warning and exits 0: look, and delete what is left."""
        removed = []
        p = self.spec.params
        for c in self.targets:
            shown = run_tc(self.client, c, ["tc", "qdisc", "show", "dev", p["interface"]], p["tc_image"])
            if "netem" in shown:
                run_tc(self.client, c, ["tc", "qdisc", "del", "dev", p["interface"], "root"], p["tc_image"])
                removed.append(c.name)
        return removed

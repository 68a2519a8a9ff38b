"""Docker access shared by the container drivers: connecting with clear errors, resolving targets
to running containers (names, re2: regex, labels, Swarm services) with safety checks, and the
kernel's netem support."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from uxchaos.errors import BadInput, EnvironmentProblem

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"
MAX_TARGETS = 5  # more than this needs --force
PING_TIMEOUT_S = 10.0  # the daemon's first answer
API_TIMEOUT_S = 30.0  # every later call


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def daemon_unreachable(reason: str) -> EnvironmentProblem:
    host = docker_host()
    source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default socket"
    return EnvironmentProblem(
        f"Cannot connect to the Docker daemon at {host} ({source}): {reason}. Is dockerd running there "
        "(`docker version`, `systemctl start docker`), and may this user use it? (Docker Desktop on Windows: "
        "start it — its engine is npipe:////./pipe/docker_engine — or set DOCKER_HOST, e.g. tcp://127.0.0.1:2375)"
    )


def plain_reason(error: BaseException) -> str:
    """What a Docker SDK / requests error means, without the layers of wrapping around it:
    "Connection refused", "Read timed out", "the answer is not the Docker API (…)"."""
    text = str(error)
    errno = re.search(r"(?:\[Errno -?\d+\] |Error\(\d+, ')([A-Za-z ]+)", text)
    if errno:
        return errno.group(1).strip()
    if "timed out" in text.lower():
        return f"no answer within {PING_TIMEOUT_S:g}s (timed out)"
    if any(sign in text for sign in ("BadStatusLine", "Expecting value", "RemoteDisconnected", "JSONDecodeError")):
        return "what answers there does not speak the Docker Engine API"
    return " ".join(text.split())[:200] or type(error).__name__


def docker_client() -> Any:
    """A docker.DockerClient that has answered a ping, or a clear EnvironmentProblem."""
    try:
        import docker
        import requests
    except ImportError:
        raise EnvironmentProblem("the docker package is missing: pip install docker") from None
    try:
        # A short time-out for the first contact, so a daemon that accepts and never answers is said
        # within seconds; the operations later (a kill, a sidecar's tc) get the usual time.
        client = docker.from_env(timeout=PING_TIMEOUT_S)
        client.ping()
        client.api.timeout = API_TIMEOUT_S
    except (docker.errors.DockerException, requests.exceptions.RequestException, ValueError) as e:
        # from_env raises DockerException for a missing socket; with a version given the failure comes
        # later as a requests error; an answer that is not JSON is a ValueError: all mean the same to the user.
        raise daemon_unreachable(plain_reason(e)) from None
    return client


def own_container_id() -> str | None:
    """The id of the container uxchaos runs in, if any (so it never targets itself)."""
    try:
        text = Path("/proc/self/cgroup").read_text() + Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    m = re.search(r"(?:docker[-/]|containers/)([0-9a-f]{64})", text)
    return m.group(1) if m else None


def validate_target(target: str) -> str | None:
    """Checked when a scenario is loaded."""
    if target.startswith("re2:"):
        try:
            re.compile(target[4:])
        except re.error as e:
            return f"invalid regular expression {target[4:]!r}: {e}"
        if target[4:] in ("", ".*", "."):
            return f"{target!r} would match every container; name the containers you mean"
    elif target.startswith("label:"):
        if "=" not in target[6:]:
            return "a label target is label:KEY=VALUE"
    elif target.startswith("service:"):
        if not target[8:]:
            return "a service target is service:NAME (a Swarm service, e.g. service:myapplication_worker)"
    elif not target.strip(" ,"):
        return "name the container(s): NAME[,NAME], re2:REGEX, label:KEY=VALUE or service:NAME"
    return None


def _describe(containers: list[Any]) -> str:
    return ", ".join(sorted(c.name for c in containers)) or "none"


def resolve_targets(client: Any, target: str, force: bool = False, max_targets: int = MAX_TARGETS) -> list[Any]:
    """Running containers for a target. `re2:` is an unanchored search on names, as in Pumba
    (Python's `re`, which agrees with RE2 on the usual patterns)."""
    running = client.containers.list()
    if target.startswith("re2:"):
        rx = re.compile(target[4:])
        matched = [c for c in running if rx.search(c.name)]
    elif target.startswith("label:"):
        key, _, value = target[6:].partition("=")
        matched = [c for c in running if c.labels.get(key) == value]
    elif target.startswith("service:"):
        matched = [c for c in running if c.labels.get(SWARM_SERVICE_LABEL) == target[8:]]
    else:
        names = {n.strip() for n in target.split(",") if n.strip()}
        matched = [c for c in running if c.name in names]
    if not matched:
        raise EnvironmentProblem(f"fault target {target!r} matches no running container. Running: "
                                 f"{_describe(running)}")
    own = own_container_id()
    if own and any(c.id == own for c in matched):
        raise BadInput(f"fault target {target!r} matches the container uxchaos itself runs in; refusing")
    pumba = [c for c in matched if c.labels.get("com.gaiaadm.pumba") == "true"]
    if pumba:
        raise BadInput(f"fault target {target!r} matches Pumba's own container(s) {_describe(pumba)}; refusing")
    if not force and len(matched) > 1 and len(matched) == len(running):
        raise BadInput(f"fault target {target!r} matches every running container ({len(matched)}); "
                       "name the ones you mean, or pass --force")
    if not force and len(matched) > max_targets:
        raise BadInput(f"fault target {target!r} matches {len(matched)} containers (more than {max_targets}): "
                       f"{_describe(matched)}; narrow it, or pass --force")
    return matched


NETEM_MISSING = "this kernel has no sch_netem: `modprobe sch_netem`, or use the proxy driver"


def netem_supported() -> tuple[bool, str]:
    """Ask the kernel directly, in a throw-away network namespace (nothing on the host changes)."""
    if not shutil.which("tc") or not shutil.which("unshare"):
        if Path("/sys/module/sch_netem").exists():
            return True, "sch_netem is loaded"
        return False, f"cannot check netem (no tc/unshare here); {NETEM_MISSING}"
    try:
        probe = subprocess.run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"cannot check netem ({e}); {NETEM_MISSING}"
    if probe.returncode == 0:
        return True, "netem works"
    if "unknown" in probe.stderr.lower() or "no such file" in probe.stderr.lower():
        return False, NETEM_MISSING
    if Path("/sys/module/sch_netem").exists():
        return True, "sch_netem is loaded"
    return False, f"{NETEM_MISSING} (tc said: {probe.stderr.strip()})"


def image_present(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def run_tc(client: Any, container: Any, command: list[str], image: str) -> str:
    """Run `tc` in a throw-away sidecar sharing the container's network namespace; its output."""
    out = client.containers.run(image, command, network_mode=f"container:{container.id}", cap_add=["NET_ADMIN"],
                                remove=True, labels={"uxchaos.role": "tc"})
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out or "")


def daemon_check() -> str:
    """For `uxchaos doctor`: the daemon answers (else the message names the socket and the fix)."""
    client = docker_client()
    swarm = client.info()["Swarm"]["LocalNodeState"]
    return f"{docker_host()} answers (Docker {client.version()['Version']}, swarm {swarm})"


def netem_check() -> str:
    ok, why = netem_supported()
    if not ok:
        raise EnvironmentProblem(why)
    return why

"""The docker driver, target resolution, Swarm task tracking and pre-flight, against the real Docker
engine and a real single-node swarm on this machine (scripts/ensure-docker.sh sets them up; these
tests do not skip). Every container and service uses host networking."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from dockerutil import BUSYBOX, TEST_FILTER, TEST_LABEL, ensure_images, ensure_tc_image
from scenario_builder import action, write_scenario

from uxchaos.cli import main
from uxchaos.demo.stack import DemoStack
from uxchaos.errors import BadInput, EnvironmentProblem
from uxchaos.faults import FaultSpec, TargetRuntime, create_driver
from uxchaos.faults.docker import DockerDriver, netem_command
from uxchaos.faults.dockerapi import docker_client, netem_supported, resolve_targets
from uxchaos.faults.swarm import ServiceWatcher
from uxchaos.results.rundata import RunData
from uxchaos.scenario.loading import parse_scenario
from uxchaos.scenario.model import ScenarioError
from uxchaos.util.netutil import wait_until

LABEL = TEST_LABEL


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = docker_client()  # fails loudly (no skip) when the engine is missing
    ensure_images(c)
    yield c
    for ct in c.containers.list(all=True, filters={"label": TEST_FILTER}):
        ct.remove(force=True)
    for svc in c.services.list(filters={"label": TEST_FILTER}):
        svc.remove()


def run_container(client: Any, name: str, network_mode: str = "host", **kw: Any) -> Any:
    return client.containers.run(BUSYBOX, ["sleep", "600"], name=name, detach=True, network_mode=network_mode,
                                 labels={**LABEL, **kw.pop("labels", {})}, **kw)


def uid() -> str:
    return uuid.uuid4().hex[:6]


def driver(kind: str, target: str, **params: Any) -> DockerDriver:
    schema = DockerDriver.kinds[kind]
    full = {k: p.default for k, p in schema.items() if k not in params} | params
    d = create_driver(FaultSpec("docker", kind, target, full, 60), TargetRuntime(base_url="http://127.0.0.1:9"))
    assert isinstance(d, DockerDriver)
    return d


@pytest.mark.docker
def test_pause_and_unpause(client: Any) -> None:
    ct = run_container(client, f"uxc-pause-{uid()}")
    d = driver("pause", ct.name)
    d.preflight()
    d.inject()
    ct.reload()
    assert ct.status == "paused"
    d.revert()
    ct.reload()
    assert ct.status == "running"


@pytest.mark.docker
def test_stop_then_start(client: Any) -> None:
    ct = run_container(client, f"uxc-stop-{uid()}")
    d = driver("stop", ct.name, timeout=1.0)
    d.inject()
    ct.reload()
    assert ct.status == "exited"
    d.revert()
    ct.reload()
    assert ct.status == "running"


@pytest.mark.docker
def test_kill_with_a_signal_and_restart(client: Any) -> None:
    ct = run_container(client, f"uxc-kill-{uid()}")
    d = driver("kill", ct.name, signal="SIGKILL")
    d.inject()
    ct.reload()
    assert ct.status == "exited" and ct.attrs["State"]["ExitCode"] == 137
    other = run_container(client, f"uxc-restart-{uid()}")
    started = other.attrs["State"]["StartedAt"]
    driver("restart", other.name, timeout=1.0).inject()
    other.reload()
    assert other.status == "running" and other.attrs["State"]["StartedAt"] != started


@pytest.mark.docker
def test_revert_from_the_ledger_unpauses(client: Any) -> None:
    ct = run_container(client, f"uxc-ledger-{uid()}")
    d = driver("pause", ct.name)
    data = d.ledger_revert()
    d.inject()
    assert "unpaused" in DockerDriver.revert_from_ledger(data)  # as `uxchaos recover` would, from disk
    ct.reload()
    assert ct.status == "running"


@pytest.mark.docker
def test_target_forms_and_safety(client: Any) -> None:
    tag = uid()
    a = run_container(client, f"uxc-{tag}-a", labels={"tier": f"t{tag}"})
    b = run_container(client, f"uxc-{tag}-b")
    assert [c.name for c in resolve_targets(client, a.name)] == [a.name]
    assert sorted(c.name for c in resolve_targets(client, f"re2:^uxc-{tag}-")) == sorted([a.name, b.name])
    assert [c.name for c in resolve_targets(client, f"label:tier=t{tag}")] == [a.name]
    with pytest.raises(EnvironmentProblem, match=r"matches no running container\. Running: .*uxc-"):
        resolve_targets(client, f"uxc-{tag}-nope")
    with pytest.raises(BadInput, match="matches every running container"):
        resolve_targets(client, "re2:.+")
    assert len(resolve_targets(client, "re2:.+", force=True)) >= 2
    with pytest.raises(BadInput, match="more than 1"):
        resolve_targets(client, f"re2:^uxc-{tag}-", max_targets=1)
    pumba = run_container(client, f"uxc-{tag}-pumba", labels={"com.gaiaadm.pumba": "true"})
    with pytest.raises(BadInput, match="Pumba's own container"):
        resolve_targets(client, pumba.name)


def _closed_port_scenario(tmp: Path, name: str, fault: dict[str, Any]) -> Path:
    """A scenario for the checks before a run (doctor, pre-flight, dry run): a target on a closed
    port, one page, no phases, and the fault under test."""
    return write_scenario(tmp, name, target="http://127.0.0.1:9", journey=[action("A", {"goto": "/"})], fault=fault,
                          phases=None)


@pytest.mark.parametrize("target,message", [
    ("re2:(unclosed", "invalid regular expression"),
    ("re2:.*", "would match every container"),
    ("label:novalue", "label:KEY=VALUE"),
])
def test_bad_targets_are_refused_on_load(target: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=None) as info:
        parse_scenario(f"name: x\ntarget: {{base_url: 'http://127.0.0.1:9'}}\njourney:\n  - action: A\n"
                       f"    steps:\n      - goto: /\nfault: {{driver: docker, kind: kill, target: '{target}'}}\n",
                       "x.yaml", env={})
    assert message in str(info.value) and "x.yaml:7: fault.target" in str(info.value)


# A loopback round trip measured inside a network namespace: a listener and a client on 127.0.0.1,
# one byte echoed back and forth; prints the median of the round trips in seconds.
ROUND_TRIP = """
import socket, statistics, threading, time
server = socket.create_server(("127.0.0.1", 0))
def echo():
    conn, _ = server.accept()
    while data := conn.recv(1):
        conn.sendall(data)
threading.Thread(target=echo, daemon=True).start()
client = socket.create_connection(server.getsockname(), timeout=30)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
times = []
for _ in range(5):
    started = time.perf_counter()
    client.sendall(b"x")
    assert client.recv(1) == b"x"
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def loopback_round_trip_in(container: Any) -> float:
    """Median loopback round trip inside the container's own network namespace (this host's Python,
    entered into the namespace with nsenter: the container needs no Python)."""
    container.reload()
    pid = container.attrs["State"]["Pid"]
    result = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", ROUND_TRIP],
                            capture_output=True, text=True, timeout=60, check=True)
    return float(result.stdout)


@pytest.mark.docker
def test_netem_delay_is_applied_and_reverted_or_refused_clearly(client: Any, tmp_path: Path) -> None:
    """Decided by the kernel, not assumed: where sch_netem exists, a 100 ms delay applied by the
    docker driver (tc in a sidecar) to a container with its own network namespace (network_mode
    none: only its loopback) is measured on 127.0.0.1 inside that namespace, reverted, and measured
    again. Where it does not (this machine), doctor and run stop with the clear message."""
    assert netem_command("delay", {"delay": 2.0, "jitter": 0.1, "interface": "eth0"}) == [
        "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "2000ms", "100ms"]
    assert netem_command("delay", {"interface": "eth0"}, "del") == [
        "tc", "qdisc", "del", "dev", "eth0", "root", "netem"]
    tc_image = ensure_tc_image(client)
    ct = run_container(client, f"uxc-netem-{uid()}", network_mode="none")
    baseline = loopback_round_trip_in(ct)
    assert baseline < 0.05, baseline  # the measurement itself works here, on either kernel
    supported, why = netem_supported()
    if supported:
        d = driver("delay", ct.name, delay=0.1, interface="lo", tc_image=tc_image)
        d.preflight()
        d.inject()
        try:
            delayed = loopback_round_trip_in(ct)
        finally:
            d.revert()
        after = loopback_round_trip_in(ct)
        # netem on lo delays both directions of the round trip: + 2 × 100 ms
        assert 0.18 <= delayed - baseline < 0.5, (baseline, delayed)
        assert after < 0.05, after
        return
    assert "sch_netem" in why
    path = _closed_port_scenario(tmp_path, "netem", {"driver": "docker", "kind": "delay", "target": ct.name,
                                                     "params": {"delay": "2000ms", "interface": "lo",
                                                                "tc_image": tc_image}})
    out = io.StringIO()
    assert main(["doctor", str(path)], out, io.StringIO()) == 3
    assert why in out.getvalue()
    err = io.StringIO()
    assert main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err) == 3
    assert why in err.getvalue()
    assert loopback_round_trip_in(ct) < 0.05  # and nothing was applied


@pytest.mark.docker
def test_missing_images_are_named(client: Any, tmp_path: Path) -> None:
    """The report's 'No such image': a target whose image was removed, and a missing tc image."""
    tag = f"uxchaos-test/gone:{uid()}"
    client.images.get(BUSYBOX).tag(*tag.split(":"))
    ct = client.containers.run(tag, ["sleep", "600"], name=f"uxc-gone-{uid()}", detach=True, network_mode="host",
                               labels=LABEL)
    client.images.remove(tag)  # untagged while the container runs: its image name no longer resolves
    d = driver("kill", ct.name)
    with pytest.raises(EnvironmentProblem, match=f"No such image: {tag}"):
        d.preflight()
    present = run_container(client, f"uxc-tc-{uid()}")
    netem = driver("loss", present.name, percent=10.0, tc_image="uxchaos-test/no-tc-here:1")
    with pytest.raises(EnvironmentProblem, match="No such image: uxchaos-test/no-tc-here:1"):
        netem.preflight()


@pytest.mark.docker
def test_unreachable_daemon_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    # Without a scenario nothing says Docker is needed: the doctor tells, but does not fail…
    out = io.StringIO()
    assert main(["doctor"], out, io.StringIO()) == 0
    assert "! docker daemon: Cannot connect to the Docker daemon at unix:///nonexistent" in out.getvalue()
    # …with a scenario whose driver needs Docker, it fails and says how to fix it.
    path = _closed_port_scenario(tmp_path, "kill", {"driver": "docker", "kind": "kill", "target": "somebody"})
    out = io.StringIO()
    assert main(["doctor", str(path)], out, io.StringIO()) == 3
    text = out.getvalue()
    assert "✗ docker daemon: Cannot connect to the Docker daemon at unix:///nonexistent (DOCKER_HOST)" in text
    assert "npipe:////./pipe/docker_engine" in text and "Docker Desktop" in text


@pytest.mark.docker
def test_dry_run_touches_nothing(client: Any, tmp_path: Path) -> None:
    ct = run_container(client, f"uxc-dry-{uid()}")
    path = _closed_port_scenario(tmp_path, "dry", {"driver": "docker", "kind": "pause", "target": f"re2:^{ct.name}$"})
    out = io.StringIO()
    assert main(["run", str(path), "--dry-run"], out, io.StringIO()) == 0
    assert f"targets: {ct.name}" in out.getvalue() and "nothing was touched" in out.getvalue()
    ct.reload()
    assert ct.status == "running"


def swarm_service(client: Any, name: str, command: list[str], restart_delay_s: float, **kw: Any) -> Any:
    svc = client.services.create(
        BUSYBOX, command, name=name, labels=LABEL, networks=["host"],  # host networking only
        mode=docker.types.ServiceMode("replicated", 1),
        restart_policy=docker.types.RestartPolicy(condition="any", delay=int(restart_delay_s * 1e9)),
        **kw,
    )
    wait_until(lambda: any(c.status == "running" for c in client.containers.list(
        filters={"label": f"com.docker.swarm.service.name={name}"})), 60, f"service {name} running")
    return svc


@pytest.mark.docker
def test_swarm_task_killed_and_replaced(client: Any) -> None:
    name = f"uxc_svc_{uid()}"
    swarm_service(client, name, ["sleep", "600"], restart_delay_s=1.0)
    (ct,) = client.containers.list(filters={"label": f"com.docker.swarm.service.name={name}"})
    watcher = ServiceWatcher(client, ct)
    killed_at = time.time()
    watcher.start(killed_at)
    ct.kill("SIGKILL")
    events: list[dict[str, Any]] = []
    wait_until(lambda: bool(events.extend(watcher.poll()) or any(e["event"] == "service_tasks" for e in events)),
               60, "the replacement task")
    watcher.stop()
    failed = next(e for e in events if e["event"] == "task_failed")
    assert failed["state"] == "failed" and failed["error"] == "task: non-zero exit (137)"
    assert failed["exit_code"] == 137 and failed["restart_delay_s"] == 1.0
    assert 0 <= failed["failure_seen_s"] < 2
    running = next(e for e in events if e["event"] == "replacement_running")
    assert 1.0 <= running["after_kill_s"] < 10  # the restart delay dominates
    tasks = next(e for e in events if e["event"] == "service_tasks")["tasks"]
    assert {t["current_state"] for t in tasks} >= {"Running", "Failed"}


SWARM_STACK = f"uxcw{uid()}"  # stands for myapplication: a real `demo up --swarm` stack is never touched


@pytest.fixture
def swarm_worker_stack(client: Any) -> Iterator[DemoStack]:
    """The demo app and database on this host, and its queue worker as the Swarm service
    SWARM_STACK_worker (the real worker code, run from this checkout through chroot)."""
    stack = DemoStack(worker=False)
    info = stack.start()
    root = Path(sys.executable).parent.parent  # the venv
    cmd = ["chroot", "/host", str(root / "bin" / "python"), "-m", "uxchaos.demo.worker", info.database_dsn]
    svc = swarm_service(client, f"{SWARM_STACK}_worker", cmd, restart_delay_s=2.0,
                        mounts=["/:/host:ro"], workdir="/")
    yield stack
    svc.remove()
    stack.stop()


@pytest.mark.docker
def test_worker_kill_scenario_against_a_swarm_service(client: Any, swarm_worker_stack: DemoStack,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert swarm_worker_stack.info is not None
    monkeypatch.setenv("UXCHAOS_APP_URL", swarm_worker_stack.info.base_url)
    monkeypatch.setenv("UXCHAOS_STACK", SWARM_STACK)  # the scenario's target: re2:^${UXCHAOS_STACK}_worker\.
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "worker-kill-swarm", "--out", str(tmp_path / "r")], out, err)
    assert code == 0, err.getvalue()
    (run_dir,) = (tmp_path / "r").glob("*/*")
    analysis_kill = RunData.load(run_dir)
    events = {e["event"]: e for e in analysis_kill.events}
    assert events["task_failed"]["exit_code"] == 137
    assert events["task_failed"]["error"] == "task: non-zero exit (137)"
    assert events["task_failed"]["restart_delay_s"] == 2.0
    assert 2.0 <= events["replacement_running"]["after_kill_s"] < 15
    report = (run_dir / "report.md").read_text()
    assert "## Recovery after the kill" in report
    assert '"task: non-zero exit (137)"' in report and f"{SWARM_STACK}_worker.1" in report
    line = report.split("## Recovery after the kill")[1].splitlines()[6]
    cells = [c.strip() for c in line.strip("|").split("|")]
    first_good, replacement = float(cells[2]), float(cells[1])
    assert first_good >= replacement  # users got their job processed only once the worker was back
    assert cells[4] == "137"


class SocketRelay:
    """A real Unix-socket relay in front of the Docker socket; closing it is the daemon going away."""

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        import socket
        import threading

        self.upstream = upstream
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)
        self.conns: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX)
            up.connect(self.upstream)
            self.conns += [client, up]
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        import socket

        self.server.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


@pytest.mark.docker
def test_daemon_gone_mid_run_gives_a_clear_error_and_recover_finishes(
        client: Any, tmp_path: Path, plain_site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    ct = run_container(client, f"uxc-gone-daemon-{uid()}")
    relay = SocketRelay(tmp_path / "docker.sock")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    path = write_scenario(tmp_path, "daemon-gone", "s.yaml", target=plain_site,
                          journey=[action("A", {"goto": "/"}, {"sleep": "300ms"})],
                          fault={"driver": "docker", "kind": "pause", "target": ct.name}, phases=(1, 4, 1))

    def pull_the_plug() -> None:
        wait_until(lambda: client.containers.get(ct.id).status == "paused", 60, "the pause")
        relay.close()  # the daemon is gone for uxchaos from here on

    threading.Thread(target=pull_the_plug, daemon=True).start()
    err = io.StringIO()
    code = main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err)
    assert code == 3, err.getvalue()
    assert f"the Docker daemon at unix://{tmp_path / 'docker.sock'} failed while reverting pause" in err.getvalue()
    assert "run `uxchaos recover`" in err.getvalue() and "Traceback" not in err.getvalue()
    assert client.containers.get(ct.id).status == "paused"  # left behind, but listed in the ledger
    assert list((tmp_path / "state" / "ledger").glob("*.json"))
    monkeypatch.delenv("DOCKER_HOST")  # the daemon is reachable again
    out = io.StringIO()
    assert main(["recover"], out, io.StringIO()) == 0
    assert f"unpaused {ct.name}" in out.getvalue()
    assert client.containers.get(ct.id).status == "running"
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))
    (run_dir,) = (tmp_path / "r").glob("*/*")
    assert (run_dir / "report.md").exists()  # what was measured is kept and reported

"""The demo as a real Docker Swarm stack: images built without a registry (`uxchaos demo build`,
cached by their inputs), `demo up|status|down --swarm`, its refusals, and the report's
experiments against the stack's real services. Each test session deploys its own stack (a unique
name, free ports), so other checkouts' stacks and tests on the same engine are never touched."""

from __future__ import annotations

import io
import random
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uxchaos.cli import main
from uxchaos.demo.images import SERVICE_DEPS, DemoImages, build_images, planned_tags
from uxchaos.demo.swarmstack import PORTS, StackPorts, stack_containers, stack_services
from uxchaos.faults.dockerapi import docker_client
from uxchaos.results.rundata import RunData


@pytest.fixture(scope="session")
def client() -> Any:
    return docker_client()  # fails loudly (no skip) when the engine is missing


@pytest.fixture(scope="session")
def demo_images(client: Any) -> DemoImages:
    """The same build code as `uxchaos demo build`: a no-op when the images are cached."""
    return build_images(io.StringIO(), client)


def free_port_base() -> int:
    """Consecutive free 127.0.0.1 ports (as many as a stack uses) below the ephemeral range."""
    for _ in range(200):
        base = random.randrange(20000, 30000)
        socks = []
        try:
            for port in range(base, base + PORTS):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free consecutive ports")


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def stack(client: Any, demo_images: DemoImages) -> Iterator[tuple[str, StackPorts]]:
    name = f"uxct{uuid.uuid4().hex[:6]}"
    ports = StackPorts(free_port_base())
    code, out, err = cli("demo", "up", "--swarm", "--app", "python", "--stack", name, "--port-base", str(ports.base))
    try:
        assert code == 0, out + err
        yield name, ports
    finally:
        code, out, err = cli("demo", "down", "--swarm", "--stack", name)
        assert code == 0, out + err
        # `down` waited: nothing of the stack is left, not even a stopped container or its volume
        assert not stack_services(client, name) and not stack_containers(client, name)
        assert not client.volumes.list(filters={"label": f"com.docker.stack.namespace={name}"})
        assert "no container left" in out


def test_image_tags_follow_their_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = planned_tags()
    assert first.base.startswith("uxchaos-demo-base:") and first.app.startswith("uxchaos-demo-app:")
    assert planned_tags()[0] == first  # same inputs, same tags: nothing to rebuild
    monkeypatch.setenv("UXCHAOS_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
    other, _ = planned_tags()
    assert other.base != first.base and other.app != first.app and other.postgres != first.postgres


def test_service_deps_are_the_projects() -> None:
    import tomllib

    root = Path(__file__).parent.parent
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in SERVICE_DEPS:
        assert dep in deps, f"{dep} is not one of pyproject's dependencies"


@pytest.mark.docker
def test_unreachable_mirror_is_a_clear_error(client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real mmdebstrap against a mirror nobody serves: exit 3, the cause and the log file named."""
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UXCHAOS_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
    code, _, err = cli("demo", "build")
    assert code == 3
    log = tmp_path / "state" / "demo-build.log"
    assert "mmdebstrap could not make the base root filesystem" in err and "127.0.0.1:9" in err
    assert f"see {log}" in err and log.exists()
    base = planned_tags()[0].base
    assert not client.images.list(filters={"reference": base})  # nothing half-made is tagged


@pytest.mark.docker
def test_build_is_cached(demo_images: DemoImages) -> None:
    code, out, _ = cli("demo", "build")
    assert code == 0
    assert "building" not in out  # every image is there already
    for tag in demo_images.all().values():
        assert tag in out


@pytest.mark.docker
def test_up_status_and_the_app(client: Any, stack: tuple[str, StackPorts]) -> None:
    import urllib.request

    name, ports = stack
    code, out, _ = cli("demo", "status", "--swarm", "--stack", name)
    assert code == 0 and f"the stack {name} is deployed (healthy)" in out
    for service in ("database", "proxy", "laravel-backend", "worker", "browser"):
        assert re.search(rf"{name}_{service}\.1  \w+  desired running, running\n", out), (service, out)
    with urllib.request.urlopen(ports.base_url + "/login", timeout=10) as r:  # through the stack's proxy
        assert r.status == 200 and b"name='_token'" in r.read()
    containers = client.containers.list(filters={"label": f"com.docker.stack.namespace={name}"})
    assert len(containers) == 5
    assert all(c.attrs["HostConfig"]["NetworkMode"] == "host" for c in containers)


@pytest.mark.docker
def test_refusals_leave_nothing_half_deployed(client: Any, stack: tuple[str, StackPorts]) -> None:
    name, ports = stack
    before = sorted(s.id for s in stack_services(client, name))
    code, _, err = cli("demo", "up", "--swarm", "--stack", name, "--port-base", str(free_port_base()))
    assert code == 3 and f"the stack {name!r} is already deployed" in err
    assert sorted(s.id for s in stack_services(client, name)) == before
    other = f"uxct{uuid.uuid4().hex[:6]}"
    code, _, err = cli("demo", "up", "--swarm", "--stack", other, "--port-base", str(ports.base))
    assert code == 3 and f"port(s) {ports.base} (web)" in err and "--port-base" in err
    assert not stack_services(client, other) and not stack_containers(client, other)


def test_not_in_swarm_mode_is_explained() -> None:
    """A stand-in client: leaving the shared engine's swarm to test this would break every other session."""
    from uxchaos.demo.swarmstack import _check_swarm
    from uxchaos.errors import EnvironmentProblem

    class Inactive:
        def info(self) -> dict[str, Any]:
            return {"Swarm": {"LocalNodeState": "inactive"}}

    with pytest.raises(EnvironmentProblem, match=r"not in Swarm mode .*docker swarm init --advertise-addr 127.0.0.1"):
        _check_swarm(Inactive())


@pytest.mark.docker
def test_worker_kill_on_the_stack(stack: tuple[str, StackPorts], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's kill test against the stack's real worker task: exit 137, a replacement after
    Swarm's default 5 s restart delay, jobs stalled meanwhile, the first good journey after it."""
    name, ports = stack
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    code, out, err = cli("run", "worker-kill-swarm", "--out", str(tmp_path / "r"), "--attempts", "3")
    assert code == 0, err
    assert re.search(rf"replacement running as container \w+ of {name}_worker, [\d.]+s after the kill", out + err)
    (run_dir,) = (tmp_path / "r").glob("*/*")
    data = RunData.load(run_dir)
    events = {e["event"]: e for e in data.events}
    assert events["task_failed"]["exit_code"] == 137
    assert events["task_failed"]["error"] == "task: non-zero exit (137)"
    assert events["task_failed"]["restart_delay_s"] == 5.0  # Swarm's default restart policy
    assert 5.0 <= events["replacement_running"]["after_kill_s"] < 30
    report = (run_dir / "report.md").read_text()
    assert f"{name}_worker.1" in report
    line = report.split("## Recovery after the kill")[1].splitlines()[6]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[2]) >= float(cells[1])  # the first good journey came once the worker was back
    stalled = [s for s in data.attempts("during") if not s.ok]
    assert stalled, "the dashboard's jobs should stall while the worker is gone"
    assert all(s.failed_action == "Worker processed the job" for s in stalled)  # logins kept working


@pytest.mark.docker
def test_database_pause_on_the_stack(client: Any, stack: tuple[str, StackPorts], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The database task frozen (docker pause) while users log in: the logins hang until the step
    timeout, then succeed again once the task is unpaused; the report times that recovery."""
    name, ports = stack
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    code, _, err = cli("run", "database-pause-swarm", "--out", str(tmp_path / "r"), "--attempts", "1")
    assert code == 0, err  # the scenario's own expectations: no failure before/after, every during one failed
    (run_dir,) = (tmp_path / "r").glob("*/*")
    data = RunData.load(run_dir)
    during = data.attempts("during")
    assert during and all(not s.ok for s in during)
    assert all(s.duration_s >= 3.5 for s in during), "a paused database makes logins hang, not fail fast"
    assert all(s.ok for s in data.attempts("after"))
    (db,) = client.containers.list(filters={"label": f"com.docker.swarm.service.name={name}_database"})
    assert db.status == "running"  # unpaused by the revert
    report = (run_dir / "report.md").read_text()
    recovery = report.split("## Recovery")[1].split("|---|---:|---|")[1].splitlines()[1]
    assert recovery.startswith("| Logging in |"), recovery


def _delay_run(name: str, ports: StackPorts, scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               *extra: str) -> tuple[RunData, str]:
    """A shipped delay scenario against the stack, one attempt per phase; its data and report.md."""
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_PROXY_CONTROL", ports.control)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    code, _, err = cli("run", scenario, "--out", str(tmp_path / "r"), "--attempts", "1", *extra)
    assert code == 0, err
    (run_dir,) = (tmp_path / "r").glob("*/*")
    return RunData.load(run_dir), (run_dir / "report.md").read_text()


def _assert_proxy_chosen(name: str, service: str, proxy: str, data: RunData, report: str) -> None:
    """netem on the task was tried first and refused by its pre-flight — the stack's tasks use host
    networking, whatever the kernel — and the run, its run.json and its report say so."""
    choice = data.meta["fault_choice"]
    assert choice["used"] == f"proxy delay on {proxy}" and choice["fell_back"]
    assert choice["tried"][0]["fault"] == rf"docker delay on re2:^{name}_{service}\."
    line = next(x for x in report.splitlines() if x.startswith("- **Fault chosen by the pre-flight:** "))
    assert f"docker delay on re2:^{name}_{service}" in line and " unavailable: " in line
    assert f"netem target: target(s) {name}_{service}.1." in line and "use host networking" in line
    assert line.endswith(f"; using proxy delay on {proxy} instead"), line
    assert "driver `proxy`" in report


@pytest.mark.docker
def test_database_delay_through_the_stack_proxy(stack: tuple[str, StackPorts], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """database-delay-swarm tries netem on the database task first; its pre-flight refuses it here,
    so the run delays through the stack's own proxy service, in front of PostgreSQL, and says why.
    The doctor shows both and the choice; a toxic added through the stack's control API delays a
    real database round trip by its amount; the shipped scenario runs and its report states the choice."""
    import statistics
    import time

    import psycopg

    from uxchaos.proxy.control import ControlClient

    name, ports = stack
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_PROXY_CONTROL", ports.control)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    code, out, _ = cli("doctor", "database-delay-swarm")
    assert code == 0, out
    assert "proxy 'database' is there" in out
    assert "✓ fault choice: docker delay on re2:^" + name + "_database" in out
    assert "using proxy delay on database instead" in out
    control = ControlClient(ports.control)
    dsn = f"host=127.0.0.1 port={ports.roles['db_proxy']} user=postgres dbname=postgres sslmode=disable"
    with psycopg.connect(dsn, autocommit=True) as conn:
        def query_s() -> float:
            started = time.perf_counter()
            conn.execute("SELECT count(*) FROM users").fetchone()
            return time.perf_counter() - started

        base = statistics.median(query_s() for _ in range(3))
        control.add_toxic("database", {"type": "latency", "name": "uxchaos-test", "stream": "downstream",
                                       "toxicity": 1.0, "attributes": {"latency": 200, "jitter": 0}})
        try:
            delayed = statistics.median(query_s() for _ in range(3))
        finally:
            control.remove_toxic("database", "uxchaos-test")
    assert 0.18 <= delayed - base < 1.0, (base, delayed)
    assert control.describe("database")["toxics"] == []
    monkeypatch.setenv("UXCHAOS_DB_DELAY", "200ms")
    data, report = _delay_run(name, ports, "database-delay-swarm", tmp_path, monkeypatch)
    _assert_proxy_chosen(name, "database", "database", data, report)
    assert data.action_durations("Logging in", "during")[0] - data.action_durations("Logging in", "before")[0] >= 0.6
    assert control.describe("database")["toxics"] == []  # reverted


@pytest.mark.docker
def test_backend_delay_through_the_stack_proxy(stack: tuple[str, StackPorts], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """backend-delay-swarm: netem on laravel-backend first, the stack's `backend` proxy otherwise."""
    from uxchaos.proxy.control import ControlClient

    name, ports = stack
    monkeypatch.setenv("UXCHAOS_BACKEND_DELAY", "300ms")
    data, report = _delay_run(name, ports, "backend-delay-swarm", tmp_path, monkeypatch)
    _assert_proxy_chosen(name, "laravel-backend", "backend", data, report)
    curl = "Loading the login page (curl)"
    assert data.action_durations(curl, "during")[0] >= 0.29  # no answer before the proxy's 300 ms delay
    assert ControlClient(ports.control).describe("backend")["toxics"] == []  # reverted


@pytest.mark.docker
def test_a_run_with_the_stacks_browsers(stack: tuple[str, StackPorts], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The journeys' browser is the stack's `browser` service (Debian's Chromium in its container),
    reached as a remote endpoint, while the stack's proxy delays the database."""
    name, ports = stack
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_PROXY_CONTROL", ports.control)
    monkeypatch.setenv("UXCHAOS_STACK", name)  # the netem it tries first is only ever this stack's
    monkeypatch.setenv("UXCHAOS_DB_DELAY", "200ms")
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    code, _, err = cli("run", "database-delay-swarm", "--out", str(tmp_path / "r"), "--attempts", "1",
                       "--browser-endpoint", ports.browser_endpoint)
    assert code == 0, err
    (run_dir,) = (tmp_path / "r").glob("*/*")
    data = RunData.load(run_dir)
    assert {s.generator.endpoint for s in data.samples} == {ports.browser_endpoint}
    assert data.action_durations("Logging in", "during")[0] - data.action_durations("Logging in", "before")[0] >= 0.6

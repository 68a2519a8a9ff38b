"""The report's stack for real on Docker Swarm: `uxchaos demo up --swarm` deploys the Laravel 8 app
(laravel-backend), `php artisan queue:work` (worker), MariaDB (database), Redis, the fault proxy and
the browser service, from images built without a registry. Against its real tasks: the report's
kill test (SIGKILL → exit 137 → replacement → the jobs queued meanwhile processed by it) and the
login under a database delay. The stack has a name and ports of its own, so other sessions' stacks
(and `myapplication`) on the same engine are never touched."""

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
from uxchaos.demo.images import DemoImages, build_images
from uxchaos.demo.swarmstack import PORTS, StackPorts, stack_containers, stack_services
from uxchaos.faults.dockerapi import docker_client
from uxchaos.results.rundata import RunData

pytestmark = pytest.mark.docker  # every test deploys a Swarm stack

SERVICES = ("database", "redis", "proxy", "laravel-backend", "worker", "browser")


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def demo_images(client: Any) -> DemoImages:
    return build_images(io.StringIO(), client)  # a no-op when `make images` built them


def free_port_base() -> int:
    for _ in range(200):
        base = random.randrange(30000, 32000)
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
    name = f"uxcl{uuid.uuid4().hex[:6]}"
    ports = StackPorts(free_port_base())
    code, out, err = cli("demo", "up", "--swarm", "--stack", name, "--port-base", str(ports.base))
    try:
        assert code == 0, out + err
        yield name, ports
    finally:
        code, out, err = cli("demo", "down", "--swarm", "--stack", name)
        assert code == 0, out + err
        assert not stack_services(client, name) and not stack_containers(client, name)


def sql(ports: StackPorts, statement: str) -> list[tuple[Any, ...]]:
    """Straight to MariaDB (not through the proxy), as root, like `docker exec … mysql`."""
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=ports.roles["db"], user="root", password="", database="laravel",
                           autocommit=True, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_the_stack_is_the_real_laravel_app(client: Any, stack: tuple[str, StackPorts]) -> None:
    import http.cookiejar
    import urllib.parse
    import urllib.request

    import redis

    name, ports = stack
    code, out, _ = cli("demo", "status", "--swarm", "--stack", name)
    assert code == 0 and f"the stack {name} is deployed (healthy)" in out, out
    assert "Laravel 8 (Debian's php-laravel-framework)" in out
    for service in SERVICES:
        assert re.search(rf"{name}_{service}\.1  \w+  desired running, running\n", out), (service, out)
    containers = client.containers.list(filters={"label": f"com.docker.stack.namespace={name}"})
    assert len(containers) == len(SERVICES)
    assert all(c.attrs["HostConfig"]["NetworkMode"] == "host" for c in containers)
    # Laravel's own login form (its CSRF field and session cookie), through the stack's backend proxy
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(ports.base_url + "/login", timeout=30).read().decode()
    token = re.search(r'name="_token" value="([^"]+)"', form)
    assert token and {c.name for c in jar} >= {"laravel_session", "XSRF-TOKEN"}
    # the migrations ran at deploy: Laravel's sessions live in MariaDB's `laravel.sessions`
    assert sql(ports, "SELECT COUNT(*) FROM sessions")[0][0] >= 1
    assert "MariaDB" in sql(ports, "SELECT VERSION()")[0][0]
    # a wrong password: Breeze's rate limiter counts it in Laravel's cache, which is Redis
    data = urllib.parse.urlencode({"_token": token.group(1), "email": "demo@example.com",
                                   "password": "wrong"}).encode()
    body = opener.open(ports.base_url + "/login", data, timeout=30).read().decode()
    assert "These credentials do not match our records." in body
    cache = redis.Redis(host="127.0.0.1", port=ports.roles["redis"], db=1)
    assert any(b"demo@example.com" in key for key in cache.keys("*")), cache.keys("*")


def test_worker_killed_replacement_processes_the_queued_jobs(client: Any, stack: tuple[str, StackPorts],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's kill test on the Laravel stack, as a shipped scenario: SIGKILL on the queue
    worker's task, exit 137, Swarm's replacement after its default 5 s delay; every login's job is
    processed, those of the logins after the kill by the replacement task."""
    name, ports = stack
    sql(ports, "DELETE FROM logins")
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    code, out, err = cli("run", "laravel-worker-kill-swarm", "--out", str(tmp_path / "r"))
    assert code == 0, out + err
    assert re.search(rf"replacement running as container \w+ of {name}_worker, [\d.]+s after the kill", out + err)
    (run_dir,) = (tmp_path / "r").glob("*/*")
    data = RunData.load(run_dir)
    events = {e["event"]: e for e in data.events}
    failed = events["task_failed"]
    assert failed["exit_code"] == 137 and failed["error"] == "task: non-zero exit (137)"
    assert failed["restart_delay_s"] == 5.0
    assert 5.0 <= events["replacement_running"]["after_kill_s"] < 30
    # logins kept working (a job may show as waiting while no worker runs)
    assert all(s.ok or s.failed_action == "Worker processed the job" for s in data.attempts("during"))
    assert all(s.ok for s in data.attempts("after"))
    # every login's job was processed; those after the kill by the replacement task, not the killed one
    assert sql(ports, "SELECT COUNT(*) FROM jobs")[0][0] == 0
    (worker_svc,) = client.services.list(filters={"name": f"{name}_worker"})
    tasks = {t["ID"]: t for t in worker_svc.tasks()}
    killed = f"{name}_worker.1.{next(i for i in tasks if i.startswith(failed['task']))}"
    (running,) = [i for i, t in tasks.items() if t["Status"]["State"] == "running"]
    replacement = f"{name}_worker.1.{running}"
    rows = sql(ports, "SELECT worker, COUNT(*) FROM logins GROUP BY worker")
    by_worker = dict(rows)
    assert set(by_worker) == {killed, replacement}, rows
    logins = len(data.attempts("before")) + len(data.attempts("during")) + len(data.attempts("after"))
    assert sum(by_worker.values()) == logins
    assert by_worker[killed] == len(data.attempts("before"))  # the first login after the kill waited for the new task
    report = (run_dir / "report.md").read_text()
    assert f"{name}_worker.1" in report and "non-zero exit (137)" in report


def run_on_stack(stack: tuple[str, StackPorts], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str,
                 delay: tuple[str, str], attempts: int) -> RunData:
    """A shipped Swarm scenario against this module's stack (its URL, proxies and name), with its fault's
    delay set through the scenario's variable; the run's data, after checking it exited 0."""
    name, ports = stack
    monkeypatch.setenv("UXCHAOS_APP_URL", ports.base_url)
    monkeypatch.setenv("UXCHAOS_PROXY_CONTROL", ports.control)
    monkeypatch.setenv("UXCHAOS_STACK", name)
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(*delay)
    code, _, err = cli("run", scenario, "--out", str(tmp_path / "r"), "--attempts", str(attempts))
    assert code == 0, err
    (run_dir,) = (tmp_path / "r").glob("*/*")
    return RunData.load(run_dir)


def test_login_under_database_delay_on_the_laravel_stack(stack: tuple[str, StackPorts], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The login scenario (database-delay-swarm) against the stack's Laravel backend: the stack's
    database proxy delays every turn of Laravel's session handler, user provider and queue to MariaDB."""
    data = run_on_stack(stack, tmp_path, monkeypatch, "database-delay-swarm", ("UXCHAOS_DB_DELAY", "200ms"), 1)
    assert data.meta["fault_choice"]["used"] == "proxy delay on database"
    before, during, after = (data.action_durations("Logging in", p)[0] for p in ("before", "during", "after"))
    assert during - before >= 10 * 0.2, (before, during)  # a Laravel login takes well over 10 turns
    assert after < during


def test_backend_delay_on_the_laravel_stack(stack: tuple[str, StackPorts], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's network latency experiment (backend-delay-swarm) against the stack's Laravel
    backend: netem is out of reach on host networking, so the stack's backend proxy delays it; the
    page timed like curl slows by one delay per request, the browser's login by one per request."""
    data = run_on_stack(stack, tmp_path, monkeypatch, "backend-delay-swarm", ("UXCHAOS_BACKEND_DELAY", "300ms"), 2)
    assert data.meta["fault_choice"]["used"] == "proxy delay on backend"
    # the quicker of two attempts per phase: a first attempt on a cold PHP worker can take a second alone
    curl = {p: min(data.action_durations("Loading the login page (curl)", p)) for p in ("before", "during", "after")}
    assert curl["during"] - curl["before"] >= 0.25 and curl["after"] < curl["during"], curl
    login = {p: min(data.action_durations("Logging in", p)) for p in ("before", "during", "after")}
    # the POST and the dashboard it leads to each wait 300 ms (+0.78 s quiet); a busy machine's noise
    # is of the same size, so one delay's worth is what is asserted
    assert login["during"] - max(login["before"], login["after"]) >= 0.25, login


def http_login(base_url: str, email: str, password: str) -> str:
    """GET the form, POST it with its CSRF token and the session cookie; the dashboard's HTML."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(base_url + "/login", timeout=60).read().decode()
    token = re.search(r'name="_token" value="([^"]+)"', form)
    assert token, form[:300]
    data = urllib.parse.urlencode({"_token": token.group(1), "email": email, "password": password}).encode()
    return str(opener.open(base_url + "/login", data, timeout=60).read().decode())


def test_a_job_queued_while_the_worker_is_dead_is_processed_by_the_replacement(
        client: Any, stack: tuple[str, StackPorts]) -> None:
    """Step by step: SIGKILL the worker's container; log in during Swarm's restart delay — the
    login works and its job waits in the `jobs` table while no worker task runs; the replacement
    task starts and processes it (the job records the task's name)."""
    from uxchaos.demo.stack import demo_credentials
    from uxchaos.util.netutil import wait_until

    name, ports = stack
    service = f"{name}_worker"
    (container,) = client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}"})
    killed_task = container.labels["com.docker.swarm.task.id"]
    container.kill(signal="SIGKILL")
    email, password = demo_credentials()
    assert "Welcome" in http_login(ports.base_url, email, password)
    waiting = sql(ports, "SELECT COUNT(*) FROM jobs")[0][0]
    (svc,) = client.services.list(filters={"name": service})
    assert not [t for t in svc.tasks() if t["Status"]["State"] == "running"], "the replacement came too soon"
    assert waiting >= 1  # dispatched while no worker ran
    dead = next(t for t in svc.tasks() if t["ID"] == killed_task)
    assert dead["Status"]["State"] == "failed" and dead["Status"]["Err"] == "task: non-zero exit (137)"

    def replacement() -> str | None:
        running = [t for t in svc.tasks() if t["Status"]["State"] == "running"]
        return running[0]["ID"] if running else None

    wait_until(lambda: replacement() is not None, 60, "the replacement worker task", interval_s=0.3)
    new_task = replacement()
    assert new_task != killed_task
    wait_until(lambda: sql(ports, "SELECT COUNT(*) FROM jobs")[0][0] == 0, 60, "the queue to drain", interval_s=0.3)
    last = sql(ports, "SELECT worker FROM logins ORDER BY id DESC LIMIT 1")[0][0]
    assert last == f"{service}.1.{new_task}"

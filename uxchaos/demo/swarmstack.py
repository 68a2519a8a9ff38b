"""`uxchaos demo up|down|status --swarm`: the demo as the Docker Swarm stack `myapplication`, deployed
with `docker stack deploy` from a compose file shipped in the package and the images of
`uxchaos demo build`. Two apps:

    laravel (default)  stack-laravel.yml: laravel-backend (the real Laravel 8 app), worker
                       (`php artisan queue:work`), database (MariaDB), redis, proxy, browser
    python             stack.yml: the bundled Python demo app and worker on PostgreSQL, proxy, browser

Host networking, 127.0.0.1 ports from --port-base on:

    base+0  the app through the `backend` proxy (what users open)
    base+1  the app directly          base+2  the database through the `database` proxy
    base+3  the database directly     base+4  the proxies' control API (Toxiproxy's)
    base+5  the browser service (ws://127.0.0.1:base+5/uxchaos, a Playwright browser server)
    base+6  Redis (laravel only)

Swarm itself is the state: the services carry the stack's namespace label and the port base."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from uxchaos.errors import BadInput, EnvironmentProblem, ExitStatus
from uxchaos.util.netutil import http_ok
from uxchaos.util.procs import state_dir

STACK = "myapplication"
PORT_BASE = 18080  # below Linux's ephemeral range, so no free-port pick of the process demo lands here
APPS = ("laravel", "python")
SERVICES = {"python": ("database", "proxy", "laravel-backend", "worker", "browser"),
            "laravel": ("database", "redis", "proxy", "laravel-backend", "worker", "browser")}
PORTS = 7  # how many from --port-base on
NAMESPACE = "com.docker.stack.namespace"
UP_TIMEOUT_S = 180
DOWN_TIMEOUT_S = 90


@dataclass(frozen=True)
class StackPorts:
    base: int

    @property
    def roles(self) -> dict[str, int]:
        b = self.base
        return {"web": b, "app": b + 1, "db_proxy": b + 2, "db": b + 3, "control": b + 4, "browser": b + 5,
                "redis": b + 6}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.base}"

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.base + 4}"

    @property
    def browser_endpoint(self) -> str:
        return f"ws://127.0.0.1:{self.base + 5}/uxchaos"


def compose_file(app: str = "python") -> Path:
    return Path(str(resources.files("uxchaos.demo") / ("stack-laravel.yml" if app == "laravel" else "stack.yml")))


def stack_log(stack: str) -> Path:
    return state_dir() / f"swarm-{stack}.log"


def _docker_cli() -> str:
    docker = shutil.which("docker")
    if not docker:
        raise EnvironmentProblem("the docker command is missing (`docker stack deploy` needs it): "
                                 "scripts/ensure-docker.sh, or apt-get install docker.io")
    return docker


def _check_swarm(client: Any) -> None:
    state = client.info().get("Swarm", {}).get("LocalNodeState", "")
    if state != "active":
        raise EnvironmentProblem(f"Docker is not in Swarm mode (node state {state or 'inactive'!r}): "
                                 "`docker swarm init --advertise-addr 127.0.0.1` (or `make docker`)")


def stack_services(client: Any, stack: str) -> list[Any]:
    return list(client.services.list(filters={"label": f"{NAMESPACE}={stack}"}))


def stack_containers(client: Any, stack: str) -> list[str]:
    """Names of the stack's containers, stopped ones too (the plain listing: a container removed
    while a full listing inspects it one by one would fail it)."""
    found = client.api.containers(all=True, filters={"label": f"{NAMESPACE}={stack}"})
    return [c["Names"][0].lstrip("/") for c in found]


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_can_deploy(client: Any, stack: str, ports: StackPorts) -> None:
    """Everything that would leave a half-deployed stack, checked before anything is created."""
    if not stack.replace("-", "").replace("_", "").isalnum():
        raise BadInput(f"--stack {stack!r}: letters, digits, - and _ only")
    if not 1024 <= ports.base <= 65536 - PORTS:
        raise BadInput(f"--port-base {ports.base}: 1024–{65536 - PORTS} (the stack uses {PORTS} ports from there)")
    _check_swarm(client)
    existing = stack_services(client, stack)
    if existing:
        names = ", ".join(sorted(s.name for s in existing))
        raise EnvironmentProblem(f"the stack {stack!r} is already deployed ({names}): "
                                 "`uxchaos demo status --swarm` shows it, `uxchaos demo down --swarm` removes it")
    busy = [f"{port} ({role})" for role, port in ports.roles.items() if _port_in_use(port)]
    if busy:
        raise EnvironmentProblem(f"127.0.0.1 port(s) {', '.join(busy)} already in use: stop what listens there, "
                                 "or pick other ports with --port-base")


def deploy_env(stack: str, ports: StackPorts, images: dict[str, str]) -> dict[str, str]:
    import base64
    import secrets

    from uxchaos.demo.stack import demo_credentials

    email, password = demo_credentials()
    r = ports.roles
    return {**os.environ,
            # Laravel's: the backend's and the worker's (one per deployment, as `php artisan key:generate`)
            "UXCHAOS_IMAGE_LARAVEL": images.get("laravel", ""), "UXCHAOS_PORT_REDIS": str(r["redis"]),
            "UXCHAOS_LARAVEL_APP_KEY": "base64:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "UXCHAOS_IMAGE_POSTGRES": images["postgres"], "UXCHAOS_IMAGE_APP": images["app"],
            "UXCHAOS_IMAGE_PROXY": images["proxy"], "UXCHAOS_IMAGE_BROWSER": images["browser"],
            "UXCHAOS_PORT_BASE": str(ports.base), "UXCHAOS_PORT_BROWSER": str(r["browser"]),
            "UXCHAOS_PORT_WEB": str(r["web"]), "UXCHAOS_PORT_APP": str(r["app"]),
            "UXCHAOS_PORT_DB_PROXY": str(r["db_proxy"]), "UXCHAOS_PORT_DB": str(r["db"]),
            "UXCHAOS_PORT_CONTROL": str(r["control"]),
            "UXCHAOS_DEMO_EMAIL": email, "UXCHAOS_DEMO_PASSWORD": password}


def _record(client: Any, stack: str, log: Any) -> None:
    """The services' tasks and logs, for the log file named in an error."""
    for svc in stack_services(client, stack):
        print(f"--- {svc.name} tasks", file=log)
        for t in svc.tasks():
            status = t.get("Status", {})
            print(f"  {t['ID'][:12]} {t.get('DesiredState')} {status.get('State')} {status.get('Err', '')}", file=log)
        try:
            text = b"".join(svc.logs(stdout=True, stderr=True, timestamps=True)).decode(errors="replace")
        except Exception as e:  # the log is a courtesy: never let it hide the real error
            text = f"(no logs: {e})"
        print(f"--- {svc.name} logs\n{text[-4000:]}", file=log, flush=True)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _healthy(ports: StackPorts) -> bool:
    """The app answers /health (database and worker fine) through the proxy; the browser server listens."""
    try:
        return http_ok(ports.base_url + "/health") and _listening(ports.roles["browser"])
    except OSError:  # nothing listens yet (the proxy task is starting)
        return False


def up(stack: str, port_base: int, out: TextIO, timeout_s: float = UP_TIMEOUT_S, app: str = "laravel") -> int:
    from uxchaos.demo.images import build_images
    from uxchaos.faults.dockerapi import docker_client

    client = docker_client()
    ports = StackPorts(port_base)
    check_can_deploy(client, stack, ports)
    docker = _docker_cli()
    images = build_images(out, client)  # cached: nothing is built when the inputs did not change
    check_can_deploy(client, stack, ports)  # the build can take minutes: look again
    path = stack_log(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        print(f"deploying stack {stack} ({app} app) …", file=out, flush=True)
        started = time.monotonic()
        done = subprocess.run([docker, "stack", "deploy", "--resolve-image", "never", "-c", str(compose_file(app)),
                               stack], env=deploy_env(stack, ports, images.all()), stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            _remove(client, docker, stack, log)
            raise EnvironmentProblem(f"`docker stack deploy` failed (exit {done.returncode}); nothing is left "
                                     f"deployed; see {path}")
        deadline = time.monotonic() + timeout_s
        try:
            while not _healthy(ports):
                if time.monotonic() > deadline:
                    _record(client, stack, log)
                    raise EnvironmentProblem(f"the stack {stack} did not become healthy (GET {ports.base_url}/health, "
                                             f"browsers on port {ports.roles['browser']}) within {timeout_s:.0f}s; "
                                             f"it was removed again; see {path}")
                time.sleep(0.5)
        except BaseException:  # a timeout, Ctrl-C: nothing half-deployed is left behind
            _remove(client, docker, stack, log)
            raise
        print(f"stack {stack} healthy after {time.monotonic() - started:.1f}s", file=log)
    print(f"stack {stack} is up in {time.monotonic() - started:.0f}s", file=out)
    _print_info(client, stack, ports, out)
    return int(ExitStatus.OK)


def _print_info(client: Any, stack: str, ports: StackPorts, out: TextIO) -> None:
    from uxchaos.demo.stack import demo_credentials

    email, password = demo_credentials()
    r = ports.roles
    print(f"demo app:        {ports.base_url}/login  (through the stack's 'backend' proxy)", file=out)
    if app_of(client, stack) == "laravel":
        print("  app:           Laravel 8 (Debian's php-laravel-framework) on PHP's server, queue:work, "
              f"MariaDB, Redis on 127.0.0.1:{r['redis']}", file=out)
    print(f"  directly:      http://127.0.0.1:{r['app']}", file=out)
    print(f"  credentials:   {email} / {password}", file=out)
    print(f"  proxies:       database 127.0.0.1:{r['db_proxy']}, backend 127.0.0.1:{r['web']}", file=out)
    print(f"  proxy control: {ports.control}  (target.proxy_control in a scenario)", file=out)
    print(f"  browsers:      {ports.browser_endpoint}  (uxchaos run … --browser-endpoint)", file=out)
    print(f"  stop with:     uxchaos demo down --swarm{'' if stack == STACK else f' --stack {stack}'}", file=out)
    for svc in sorted(stack_services(client, stack), key=lambda s: s.name):
        for t in sorted(svc.tasks(), key=lambda t: t.get("CreatedAt", "")):
            status = t.get("Status", {})
            err = f"  {status['Err']}" if status.get("Err") else ""
            print(f"  {svc.name}.{t.get('Slot', '?')}  {t['ID'][:12]}  desired {t.get('DesiredState')}, "
                  f"{status.get('State')}{err}", file=out)


def _remove(client: Any, docker: str, stack: str, log: Any, timeout_s: float = DOWN_TIMEOUT_S) -> list[str]:
    """Remove the stack, wait until none of its containers is left, then remove its volumes."""
    subprocess.run([docker, "stack", "rm", stack], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while stack_services(client, stack) or stack_containers(client, stack):
        if time.monotonic() > deadline:
            left = ", ".join(stack_containers(client, stack))
            raise EnvironmentProblem(f"the stack {stack}'s containers are still there after {timeout_s:.0f}s: {left}")
        time.sleep(0.5)
    import docker as docker_sdk

    removed = []
    for volume in client.volumes.list(filters={"label": f"{NAMESPACE}={stack}"}):
        for _ in range(20):  # the engine may still hold it for a moment after the container went
            try:
                volume.remove()
                removed.append(volume.name)
                break
            except docker_sdk.errors.APIError:
                time.sleep(0.5)
        else:
            raise EnvironmentProblem(f"could not remove the stack's volume {volume.name}")
    return removed


def down(stack: str, out: TextIO) -> int:
    from uxchaos.faults.dockerapi import docker_client

    client = docker_client()
    _check_swarm(client)
    if not stack_services(client, stack) and not stack_containers(client, stack) and not client.volumes.list(
            filters={"label": f"{NAMESPACE}={stack}"}):
        print(f"the stack {stack} is not deployed", file=out)
        return int(ExitStatus.OK)
    path = stack_log(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(path, "a") as log:
        volumes = _remove(client, _docker_cli(), stack, log)
    print(f"the stack {stack} is removed ({time.monotonic() - started:.0f}s): no container left"
          + (f", volume(s) {', '.join(volumes)} removed" if volumes else ""), file=out)
    return int(ExitStatus.OK)


def app_of(client: Any, stack: str) -> str:
    """Which app a deployed stack runs (its services' uxchaos.app label; the Python stack has none)."""
    for svc in stack_services(client, stack):
        if svc.attrs.get("Spec", {}).get("Labels", {}).get("uxchaos.app") == "laravel":
            return "laravel"
    return "python"


def port_base_of(client: Any, stack: str) -> int | None:
    for svc in stack_services(client, stack):
        value = svc.attrs.get("Spec", {}).get("Labels", {}).get("uxchaos.port_base")
        if value and value.isdigit():
            return int(value)
    return None


def status(stack: str, out: TextIO) -> int:
    from uxchaos.faults.dockerapi import docker_client

    client = docker_client()
    _check_swarm(client)
    base = port_base_of(client, stack)
    if not stack_services(client, stack) or base is None:
        print(f"the stack {stack} is not deployed (deploy it with: uxchaos demo up --swarm)", file=out)
        return int(ExitStatus.ENVIRONMENT)
    ports = StackPorts(base)
    healthy = _healthy(ports)
    print(f"the stack {stack} is deployed ({'healthy' if healthy else 'NOT healthy'})", file=out)
    _print_info(client, stack, ports, out)
    return int(ExitStatus.OK if healthy else ExitStatus.ENVIRONMENT)

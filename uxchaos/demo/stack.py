"""DemoStack: starts and stops the whole demo target on free loopback ports.

    browser ──▶ proxy "backend" ──▶ app (uvicorn) ──▶ proxy "database" ──▶ PostgreSQL
                                     worker ────────▶ proxy "database" ──┘

The proxies run in this process (a `ProxyHub`), so a fault on `database` slows every round trip
of the app and of the worker, like netem on a database container."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from uxchaos.demo.db import PostgresServer
from uxchaos.demo.supervisor import Supervisor
from uxchaos.proxy import ProxyHub
from uxchaos.util.netutil import bound_socket, http_ok, wait_until
from uxchaos.util.procs import die_with_parent

log = logging.getLogger("uxchaos.demo")

DEFAULT_EMAIL = "demo@example.com"
DEFAULT_PASSWORD = "demo-password"
DEFAULT_NAME = "Demo User"


def demo_credentials() -> tuple[str, str]:
    return (
        os.environ.get("UXCHAOS_DEMO_EMAIL", DEFAULT_EMAIL),
        os.environ.get("UXCHAOS_DEMO_PASSWORD", DEFAULT_PASSWORD),
    )


@dataclass
class DemoInfo:
    base_url: str  # through the backend proxy: what users (and journeys) see
    app_url: str  # the app directly
    database_dsn: str  # through the database proxy
    email: str
    password: str
    proxies: dict[str, str]  # proxy name -> listen address

    def public(self) -> dict[str, Any]:
        """For printing and state files: everything but the password."""
        return {"base_url": self.base_url, "app_url": self.app_url, "database_dsn": self.database_dsn,
                "email": self.email, "proxies": self.proxies}


class DemoStack:
    def __init__(self, worker_restart_delay_s: float = 0.5, worker: bool = True) -> None:
        self.with_worker = worker  # False: the worker runs elsewhere (e.g. as a Swarm service)
        self.hub = ProxyHub()  # the stack's own proxies, closed with it
        self.db = PostgresServer()
        self.app_process: subprocess.Popen[bytes] | None = None
        self.supervisor: Supervisor | None = None
        self.worker_restart_delay_s = worker_restart_delay_s
        self.info: DemoInfo | None = None

    def start(self, timeout_s: float = 60) -> DemoInfo:
        started = time.monotonic()
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        finally:
            log.info("demo stack start took %.1fs", time.monotonic() - started)

    def _start(self, timeout_s: float) -> DemoInfo:
        email, password = demo_credentials()
        self.db.start()
        self.db.migrate([(email, DEFAULT_NAME, password)])
        db_proxy = self.hub.create("database", f"127.0.0.1:{self.db.port}")
        db_port = int(db_proxy["listen"].rsplit(":", 1)[1])
        dsn = PostgresServer.dsn_for("127.0.0.1", db_port)

        sock = bound_socket()
        app_port = sock.getsockname()[1]
        env = {**os.environ, "UXCHAOS_DEMO_DSN": dsn}
        self.app_process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "uxchaos.demo.app:app", "--fd", str(sock.fileno()),
             "--log-level", "warning", "--no-access-log"],
            pass_fds=(sock.fileno(),), env=env, start_new_session=True, preexec_fn=die_with_parent(),
        )
        sock.close()
        backend = self.hub.create("backend", f"127.0.0.1:{app_port}")

        app_url = f"http://127.0.0.1:{app_port}"
        if self.with_worker:
            self.supervisor = Supervisor([sys.executable, "-m", "uxchaos.demo.worker", dsn],
                                         log_path=str(self.db.dir / "worker.log"),
                                         restart_delay_s=self.worker_restart_delay_s)
            self.supervisor.start()
            wait_until(lambda: http_ok(app_url + "/health"), timeout_s, "the demo app (GET /health)")
        else:
            wait_until(lambda: http_ok(app_url + "/login"), timeout_s, "the demo app (GET /login)")
        self.info = DemoInfo(
            base_url=f"http://{backend['listen']}",
            app_url=app_url,
            database_dsn=dsn,
            email=email,
            password=password,
            proxies={"database": db_proxy["listen"], "backend": backend["listen"]},
        )
        return self.info

    def ledger_entry(self) -> dict[str, Any]:
        """What `uxchaos recover` must clean up if this process is killed before stop()."""
        pids = [p.pid for p in (self.app_process, self.db.process) if p is not None]
        if self.supervisor is not None and self.supervisor.pid:
            pids.append(self.supervisor.pid)
        return {"kind": "processes", "what": "the demo target", "pids": pids, "paths": [str(self.db.dir)]}

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.app_process is not None and self.app_process.poll() is None:
            self.app_process.terminate()
            try:
                self.app_process.wait(10)
            except subprocess.TimeoutExpired:
                self.app_process.kill()
                self.app_process.wait(5)
        self.hub.close()
        self.db.stop()

    def __enter__(self) -> DemoInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

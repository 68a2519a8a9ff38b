"""LaravelStack: the real Laravel app shipped in uxchaos/demo/laravel, run on this machine without
Docker, on free loopback ports:

    browser ──▶ proxy "backend" ──▶ php -S (several workers) ──▶ proxy "database" ──▶ MariaDB
                                     php artisan queue:work ──▶ proxy "database" ──┘

The web server is PHP's built-in one (what `php artisan serve` runs) with PHP_CLI_SERVER_WORKERS
workers: it comes with php-cli, so nothing else is installed, and with several workers a page's
requests (or several users) are served at once as php-fpm would; a single one would queue them.
php-fpm would need a FastCGI front (nginx, Apache) that uxchaos would have to configure and start.

The app is copied to a folder under the user's cache and run from there: Laravel writes to
storage/ and bootstrap/cache/, and the installed package may be read-only."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from uxchaos.demo.db import DemoStartError
from uxchaos.demo.mariadb import DATABASE, MariaDBServer, cache_dir
from uxchaos.demo.stack import DEFAULT_NAME, DemoInfo, demo_credentials
from uxchaos.demo.supervisor import Supervisor
from uxchaos.proxy import ProxyHub
from uxchaos.util.netutil import StopWaiting, free_port, http_ok, wait_until
from uxchaos.util.procs import die_with_parent

log = logging.getLogger("uxchaos.demo")

APP_SOURCE = Path(__file__).parent / "laravel"
SERVER_WORKERS = 4
# Stock `queue:work` sleeps 3 s when the queue is empty; 1 s lets a login's job show on the next page.
WORKER_ARGS = ["queue:work", "--sleep=1", "--tries=3"]

WRITABLE = ["bootstrap/cache", "storage/app", "storage/framework/cache/data", "storage/framework/sessions",
            "storage/framework/views", "storage/logs"]

# PHP's server does not pass SIGTERM on to the workers it forks, and the kernel's "signal me when my
# parent dies" (die_with_parent) reaches only its direct child. So a shell holds PHP's process group:
# when it gets SIGTERM (from stop(), or because uxchaos died, even by SIGKILL) it signals the whole group.
GROUP_KEEPER = ["/bin/sh", "-c", 'trap "trap - TERM; kill 0" TERM; "$@" & wait $!', "php-server"]

_PHP_CHECK = ("echo json_encode(['version' => PHP_VERSION, "
              "'laravel' => (bool) stream_resolve_include_path('Illuminate/autoload.php'), "
              "'pdo_mysql' => extension_loaded('pdo_mysql')]);")


def find_php() -> str:
    """The PHP CLI to run, checked for what the app needs; one clear line for what is missing."""
    php = os.environ.get("UXCHAOS_PHP") or shutil.which("php") or "php"
    if shutil.which(php) is None:
        raise DemoStartError(f"PHP is missing ({php} not found): install Debian's php-cli (PHP 8.2)")
    done = subprocess.run([php, "-r", _PHP_CHECK], capture_output=True, text=True, timeout=30)
    try:
        found = json.loads(done.stdout)
    except ValueError:
        raise DemoStartError(f"{php} does not run PHP code: {(done.stderr or done.stdout).strip()[:200]}") from None
    if not found["laravel"]:
        raise DemoStartError("Laravel is missing (no Illuminate/autoload.php on PHP's include_path): "
                             "install Debian's php-laravel-framework")
    if not found["pdo_mysql"]:
        raise DemoStartError("PHP has no pdo_mysql: install Debian's php-mysql")
    return php


def laravel_check() -> str:
    """For `uxchaos doctor`: what the Laravel demo needs is installed (else a typed error saying what)."""
    from uxchaos.errors import EnvironmentProblem

    try:
        php = find_php()
        mariadbd = MariaDBServer().check()
    except DemoStartError as e:
        raise EnvironmentProblem(str(e)) from None
    return f"{php} with Laravel and pdo_mysql; {mariadbd}"


def check_port_free(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise DemoStartError(f"port {port} on 127.0.0.1 is taken ({e.strerror}): choose another with --port, "
                                 "or 0 for any free port") from None


class LaravelStack:
    def __init__(self, worker_restart_delay_s: float = 0.5, worker: bool = True, port: int = 0,
                 database_proxy: bool = True) -> None:
        self.with_worker = worker
        self.port = port  # where users reach the app (the backend proxy); 0 = any free port
        self.database_proxy = database_proxy  # False: the app talks to MariaDB directly
        self.hub = ProxyHub()
        self.db = MariaDBServer()
        self.app_dir: Path | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.supervisor: Supervisor | None = None
        self.worker_restart_delay_s = worker_restart_delay_s
        self.env: dict[str, str] = {}
        self.php = "php"
        self.info: DemoInfo | None = None

    def start(self, timeout_s: float = 90) -> DemoInfo:
        started = time.monotonic()
        try:
            return self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        finally:
            log.info("laravel stack start took %.1fs", time.monotonic() - started)

    def _start(self, timeout_s: float) -> DemoInfo:
        self.php = find_php()
        if self.port:
            check_port_free(self.port)  # before anything starts: nothing to clean up
        email, password = demo_credentials()
        cache_dir().mkdir(parents=True, exist_ok=True)
        self.app_dir = Path(tempfile.mkdtemp(prefix="laravel-", dir=cache_dir())) / "app"
        shutil.copytree(APP_SOURCE, self.app_dir, ignore=shutil.ignore_patterns("__pycache__"))
        for folder in WRITABLE:  # empty in the package (a wheel keeps no empty folders); Laravel writes there
            (self.app_dir / folder).mkdir(parents=True, exist_ok=True)
        self.db.start()
        db_port = self.db.port
        if self.database_proxy:
            db_proxy = self.hub.create("database", f"127.0.0.1:{self.db.port}")
            db_port = int(db_proxy["listen"].rsplit(":", 1)[1])
        self.env = self._environment(db_port, email, password)
        self.artisan("migrate", "--force", "--seed")
        app_port = self._start_server(timeout_s)
        try:
            backend = self.hub.create("backend", f"127.0.0.1:{app_port}", f"127.0.0.1:{self.port}")
        except (OSError, ValueError) as e:  # taken since check_port_free
            raise DemoStartError(f"port {self.port} on 127.0.0.1 is taken ({getattr(e, 'strerror', None) or e}): "
                                 "choose another "
                                 "with --port") from None
        if self.with_worker:
            self.supervisor = Supervisor([self.php, str(self.app_dir / "artisan"), *WORKER_ARGS],
                                         log_path=str(self.app_dir / "storage/logs/worker.log"),
                                         restart_delay_s=self.worker_restart_delay_s, env=self.env)
            self.supervisor.start()
        app_url = f"http://127.0.0.1:{app_port}"
        wait_until(lambda: http_ok(app_url + "/health"), timeout_s, "the Laravel app (GET /health)")
        proxies = {"backend": backend["listen"]}
        if self.database_proxy:
            proxies["database"] = f"127.0.0.1:{db_port}"
        self.info = DemoInfo(base_url=f"http://{backend['listen']}", app_url=app_url,
                             database_dsn=f"mysql://root@127.0.0.1:{db_port}/{DATABASE}",
                             email=email, password=password, proxies=proxies)
        return self.info

    def _environment(self, db_port: int, email: str, password: str) -> dict[str, str]:
        """What a stock app's .env holds, as environment variables (Laravel reads both)."""
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        return {
            **os.environ,
            "APP_NAME": "Laravel", "APP_ENV": "local", "APP_KEY": f"base64:{key}",
            # As in the stock .env.example: a 500 page shows the error (the report's
            # "Base table or view not found" was read there), which the pre-flight recognises.
            "APP_DEBUG": "true",
            "DB_CONNECTION": "mysql", "DB_HOST": "127.0.0.1", "DB_PORT": str(db_port),
            "DB_DATABASE": DATABASE, "DB_USERNAME": "root", "DB_PASSWORD": "",
            "SESSION_DRIVER": "database", "QUEUE_CONNECTION": "database", "CACHE_DRIVER": "file",
            "LOG_CHANNEL": "stack",
            "DEMO_EMAIL": email, "DEMO_PASSWORD": password, "DEMO_NAME": DEFAULT_NAME,
        }

    def artisan(self, *args: str, timeout_s: float = 120) -> str:
        """Run `php artisan ARGS` in the app's environment; a failure says its last line."""
        assert self.app_dir is not None
        done = subprocess.run([self.php, "artisan", *args], cwd=self.app_dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            raise DemoStartError(f"php artisan {' '.join(args)} failed (exit {done.returncode}): "
                                 + (next((line for line in lines if "SQLSTATE" in line), None)
                                    or (lines[-1] if lines else "no message")))
        return done.stdout

    def _start_server(self, timeout_s: float) -> int:
        assert self.app_dir is not None
        server_log = self.app_dir / "storage/logs/server.log"
        for _ in range(5):  # a free port can be taken between our probe and PHP's bind: retry
            port = free_port()
            with open(server_log, "ab") as out:
                self.server = subprocess.Popen(
                    [*GROUP_KEEPER, self.php, "-S", f"127.0.0.1:{port}", "-t", "public", "server.php"],
                    cwd=self.app_dir, env={**self.env, "PHP_CLI_SERVER_WORKERS": str(SERVER_WORKERS)},
                    stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: the workers it forks stop with it
                    preexec_fn=die_with_parent())
            try:
                wait_until(lambda p=port: self._server_ready(p), timeout_s, "PHP's web server")  # type: ignore[misc]
                return port
            except StopWaiting:
                self.server.wait()
                tail = server_log.read_text(errors="replace").strip().splitlines()[-1:]
                if not tail or "Address already in use" not in tail[0]:
                    raise DemoStartError(f"PHP's web server did not start: {tail[0] if tail else 'no message'}") \
                        from None
        raise DemoStartError("PHP's web server found no free port in 5 tries")

    def _server_ready(self, port: int) -> bool:
        assert self.server is not None
        if self.server.poll() is not None:
            raise StopWaiting("php -S exited")
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    def server_pids(self) -> list[int]:
        """The shell holding PHP's server, the server, and the workers it forked."""
        if self.server is None or self.server.poll() is not None:
            return []
        pids, i = [self.server.pid], 0
        while i < len(pids):
            try:
                pids += map(int, Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split())
            except OSError:
                pass
            i += 1
        return pids

    def ledger_entry(self) -> dict[str, Any]:
        """What `uxchaos recover` must clean up if this process is killed before stop()."""
        pids = self.server_pids()
        if self.db.process is not None:
            pids.append(self.db.process.pid)
        if self.supervisor is not None and self.supervisor.pid:
            pids.append(self.supervisor.pid)
        paths = [str(p) for p in (self.app_dir.parent if self.app_dir else None, self.db.dir) if p is not None]
        return {"kind": "processes", "what": "the Laravel demo", "pids": pids, "paths": paths}

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.server is not None and self.server.poll() is None:
            try:
                os.killpg(self.server.pid, signal.SIGTERM)  # the whole group: the shell, PHP, its workers
            except ProcessLookupError:
                pass
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(5)
        self.hub.close()
        self.db.stop()
        if self.app_dir is not None:
            shutil.rmtree(self.app_dir.parent, ignore_errors=True)

    def __enter__(self) -> DemoInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

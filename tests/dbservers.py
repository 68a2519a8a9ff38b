"""Real database servers for the tests, each started in its own directory on 127.0.0.1 and stopped by
its PID: MariaDB (the Laravel demo's starter: Debian's mariadb-server, MySQL's protocol — the report's
`mysql:8.0` image is not packaged here) and Redis (Debian's redis-server). PostgreSQL comes from the
demo's own pgserver."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from uxchaos.demo.db import DemoStartError
from uxchaos.demo.mariadb import MariaDBServer
from uxchaos.util.netutil import free_port


class ServerMissing(RuntimeError):
    pass


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path is None:
        raise ServerMissing(f"{binary} not found: apt-get install {package} (make test's set-up installs it)")
    return path


class _Server:
    name = ""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"uxchaos-test-{self.name}-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait(self, ready: object, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.dir}")
            try:
                ready()  # type: ignore[operator]
                return
            except Exception as e:  # not answering yet
                last = e
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not answer within {timeout_s:.0f} s: {last}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB(MariaDBServer):
    """The Laravel demo's MariaDB starter (own data directory, 127.0.0.1), with a PyMySQL client."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> MariaDB:  # type: ignore[override]
        try:
            super().start(timeout_s)
        except DemoStartError as e:
            raise ServerMissing(str(e)) from e
        return self

    @staticmethod
    def connect(address: str, database: str | None = "uxtest"):  # type: ignore[no-untyped-def]
        import pymysql

        host, port = address.rsplit(":", 1)
        return pymysql.connect(host=host, port=int(port), user="root", password="", database=database,
                               connect_timeout=5, read_timeout=10, write_timeout=10, autocommit=True)


class Redis(_Server):
    name = "redis"

    def start(self) -> Redis:
        server = _need("redis-server", "redis-server")
        self.port = free_port()
        self.process = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait(lambda: self.connect(self.address).ping())
        return self

    @staticmethod
    def connect(address: str):  # type: ignore[no-untyped-def]
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        host, port = address.rsplit(":", 1)
        # No retries: a test of a broken connection wants the client's error, not redis-py's new attempts.
        return redis.Redis(host=host, port=int(port), socket_timeout=10, socket_connect_timeout=5,
                           retry=Retry(NoBackoff(), 0))

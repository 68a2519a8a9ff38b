"""A MariaDB server (Debian's `mariadb-server`) for the Laravel demo: its own data directory under
the user's cache folder, its own socket and a free port on 127.0.0.1; removed on stop.

MariaDB rather than the report's MySQL 8.0: Debian packages MariaDB, which speaks MySQL's protocol
(the same greeting, the same prepared statements), so Laravel's `mysql` driver talks to it as to
MySQL and a proxy in between sees the same turns."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from uxchaos.demo.db import DemoStartError
from uxchaos.util.netutil import StopWaiting, free_port, wait_until
from uxchaos.util.procs import die_with_parent

DATABASE = "laravel"  # the name the report's error message shows: `laravel.sessions`

# Small redo log and buffer pool: a demo database of a few kB starts in a fraction of a second and
# takes 26 MB of disk instead of 114 MB. No fsync at commit: the data is thrown away at stop anyway.
SERVER_OPTIONS = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
                  "--innodb-flush-log-at-trx-commit=0", "--skip-name-resolve", "--skip-log-bin"]


def _binary(env: str, name: str) -> str:
    """The program to run: $UXCHAOS_MARIADBD etc. if set (tests point it at a broken one), else PATH's."""
    return os.environ.get(env) or shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or name


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uxchaos"


class MariaDBServer:
    def __init__(self) -> None:
        self.mariadbd = _binary("UXCHAOS_MARIADBD", "mariadbd")
        self.install_db = _binary("UXCHAOS_MARIADB_INSTALL_DB", "mariadb-install-db")
        self.client = _binary("UXCHAOS_MARIADB_CLIENT", "mariadb")
        self.dir: Path | None = None
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # mariadbd refuses to run as root unless told to; as anyone else it runs as that user.
        self.user_args = ["--user=root"] if os.geteuid() == 0 else []

    @property
    def socket_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "mariadb.sock"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "mariadb.err"

    def check(self) -> str:
        """The programs are there (else DemoStartError saying which is missing); where mariadbd is."""
        for program in (self.mariadbd, self.install_db, self.client):
            if shutil.which(program) is None:
                raise DemoStartError(f"MariaDB is missing ({program} not found): install Debian's mariadb-server")
        return str(shutil.which(self.mariadbd))

    def start(self, timeout_s: float = 30) -> None:
        self.check()
        cache_dir().mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="mariadb-", dir=cache_dir()))
        data = self.dir / "data"
        done = subprocess.run([self.install_db, "--no-defaults", f"--datadir={data}", *self.user_args,
                               "--auth-root-authentication-method=normal", "--skip-test-db",
                               *SERVER_OPTIONS[:1], "--skip-name-resolve"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise DemoStartError(f"mariadb-install-db failed (exit {done.returncode}): {_last_line(done.stderr)}")
        for _ in range(5):  # a free port can be taken between our probe and mariadbd's bind: retry
            self.port = free_port()
            self.process = subprocess.Popen(
                [self.mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={self.socket_path}",
                 f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir / 'mariadb.pid'}",
                 f"--log-error={self.log_path}", *self.user_args, *SERVER_OPTIONS],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # SIGTERM = a clean shutdown
            )
            try:
                wait_until(self._ready, timeout_s, "MariaDB")
                break
            except StopWaiting:
                self.process.wait()
                if "Address already in use" not in self._log_tail(20):
                    raise DemoStartError(f"MariaDB did not start (exit {self.process.returncode}): "
                                         f"{self._log_tail(1) or 'no message'}; see {self.log_path}") from None
        else:
            raise DemoStartError(f"MariaDB found no free port in 5 tries; see {self.log_path}")
        self.sql(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")

    def _ready(self) -> bool:
        """The server speaks first (its greeting) once it accepts clients."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise StopWaiting("mariadbd exited")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            return len(s.recv(4)) == 4

    def sql(self, statement: str) -> str:
        """Run SQL as root over the socket (not through any proxy): for set-up and tests."""
        done = subprocess.run([self.client, "--no-defaults", f"--socket={self.socket_path}", "-uroot",
                               "--batch", "--skip-column-names", "-e", statement],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise DemoStartError(f"MariaDB refused {statement!r}: {_last_line(done.stderr)}")
        return done.stdout

    def _log_tail(self, lines: int) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if "[ERROR]" in line] or text.splitlines()
        return "\n".join(kept[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"

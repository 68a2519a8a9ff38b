"""The run's side of the Locust processes (load/child.py): start them, read their JSON lines in a
thread, change the number of users, and stop them — on every exit path. Nothing here imports Locust.

The children run in sessions of their own (a Ctrl-C in the terminal reaches uxchaos only, which then
stops them itself, after the statistics they still hold are read) and die with uxchaos if it is
killed (PR_SET_PDEATHSIG); their pids are in the run's ledger for `uxchaos recover` besides."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from uxchaos.errors import BadInput, EnvironmentProblem
from uxchaos.util.netutil import free_port
from uxchaos.util.procs import die_with_parent, pid_alive

log = logging.getLogger("uxchaos.load")

CHILD = [sys.executable, "-m", "uxchaos.load.child"]
CHILD_MARK = "uxchaos.load.child"  # in every Locust process's command line: recover checks it before a kill
STOP_WAIT_S = 10.0


def error_line(record: dict[str, Any]) -> str:
    where = record.get("file") or "locust"
    if record.get("line"):
        where += f":{record['line']}"
    return f"{where}: {record.get('text', 'failed')}"


def check_locustfile(locustfile: Path, timeout_s: float = 60.0) -> list[str]:
    """Import the locustfile in a Locust process of its own; its user classes, or BadInput naming the
    file and line of the first error (an import that fails, no user class)."""
    try:
        done = subprocess.run([*CHILD, "--check", "--locustfile", str(locustfile)], capture_output=True,
                              text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BadInput(f"{locustfile}: importing it took longer than {timeout_s:g}s") from None
    for line in done.stdout.splitlines():
        record = _parse(line)
        if record is None:
            continue
        if record.get("kind") == "checked":
            return list(record["user_classes"])
        if record.get("kind") == "error":
            raise BadInput(error_line(record))
    raise EnvironmentProblem(f"cannot run Locust to check {locustfile}: "
                             + (done.stderr.strip().splitlines() or ["no answer"])[-1])


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "kind" in record else None


class LocustProcesses:
    """One Locust run: a local runner, or a master and `workers` local worker processes."""

    def __init__(self, locustfile: Path, host: str, users: int, spawn_rate: float, log_path: Path,
                 on_record: Callable[[dict[str, Any]], None], workers: int = 0, interval_s: float = 1.0,
                 master: str | None = None) -> None:
        self.locustfile, self.host = locustfile, host
        self.users, self.spawn_rate = users, spawn_rate
        self.workers, self.interval_s = workers, interval_s
        self.log_path = log_path
        self.on_record = on_record
        self.driver: subprocess.Popen[str] | None = None
        self.worker_procs: list[subprocess.Popen[str]] = []
        self._log: IO[str] | None = None
        self._ramped = threading.Event()
        self._users_now = threading.Condition()
        self.ramped_users = 0  # the users of Locust's last finished ramp
        self._failed: dict[str, Any] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.master = master  # given: the master binds there and waits for remote workers (none started here)
        self.bind = ""

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self.driver, *self.worker_procs) if p is not None]

    def _popen(self, args: list[str], stdin: bool) -> subprocess.Popen[str]:
        assert self._log is not None
        return subprocess.Popen([*CHILD, "--locustfile", str(self.locustfile), "--host", self.host, *args],
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if stdin else self._log,
                                stderr=self._log, text=True, start_new_session=True, preexec_fn=die_with_parent())

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        args = ["--users", str(self.users), "--spawn-rate", f"{self.spawn_rate:g}",
                "--interval", f"{self.interval_s:g}"]
        if self.workers:
            self.bind = self.master or f"127.0.0.1:{free_port()}"
            args += ["--workers", str(self.workers), "--bind", self.bind]
        self.driver = self._popen(args, stdin=True)
        for _ in range(0 if self.master else self.workers):
            self.worker_procs.append(self._popen(["--worker", "--master", self.bind], stdin=False))
        self._reader = threading.Thread(target=self._read, name="locust-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.driver is not None and self.driver.stdout is not None
        for line in self.driver.stdout:
            record = _parse(line)
            if record is None:
                continue
            if record["kind"] == "ramped":
                with self._users_now:
                    self.ramped_users = int(record.get("users") or 0)
                    self._users_now.notify_all()
                if record.get("users") == self.users:
                    self._ramped.set()
            elif record["kind"] == "error":
                self._failed = record
                self._ramped.set()
            try:
                self.on_record(record)
            except Exception as e:  # a listener never stops the reading (the pipe would fill and block Locust)
                log.warning("load record listener failed: %s", e)
        self._ramped.set()  # the driver ended: nobody waits for a ramp that cannot come

    def wait_ramped(self, timeout_s: float) -> None:
        """Until every user has started; a Locust that fails (or ends) first is an error here."""
        if not self._ramped.wait(timeout_s):
            raise EnvironmentProblem(f"Locust did not start {self.users} users within {timeout_s:g}s "
                                     f"(see {self.log_path})")
        if self._failed is not None:
            failed = self._failed
            raise (BadInput if failed.get("file") else EnvironmentProblem)(error_line(failed))
        if self.driver is not None and self.driver.poll() is not None:
            raise EnvironmentProblem(f"Locust ended with status {self.driver.returncode} before its users started "
                                     f"(see {self.log_path})")

    def wait_users(self, users: int, timeout_s: float) -> bool:
        """Until Locust's ramp to `users` is done (a surge's step); False if it took longer."""
        with self._users_now:
            return self._users_now.wait_for(lambda: self.ramped_users == users or not self.running, timeout_s)

    def set_users(self, users: int, spawn_rate: float) -> None:
        """Step the users up or down (a surge); Locust ramps at spawn_rate."""
        with self._lock:
            if self.driver is None or self.driver.stdin is None or self.driver.poll() is not None:
                raise EnvironmentProblem("the Locust load is not running")
            self.driver.stdin.write(json.dumps({"users": users, "spawn_rate": spawn_rate}) + "\n")
            self.driver.stdin.flush()

    @property
    def running(self) -> bool:
        return self.driver is not None and self.driver.poll() is None

    def stop(self) -> None:
        """Ask the driver to stop (it sends its last numbers), then make sure every process is gone."""
        with self._lock:
            if self.driver is not None and self.driver.poll() is None and self.driver.stdin is not None:
                try:
                    self.driver.stdin.write(json.dumps({"stop": True}) + "\n")
                    self.driver.stdin.close()
                except OSError:
                    pass
        deadline = time.monotonic() + STOP_WAIT_S
        for proc in [p for p in (self.driver, *self.worker_procs) if p is not None]:
            _end(proc, deadline)
        if self._reader is not None:
            self._reader.join(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def _end(proc: subprocess.Popen[str], deadline: float) -> None:
    try:
        proc.wait(max(0.1, deadline - time.monotonic()))
        return
    except subprocess.TimeoutExpired:
        proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_pids(pids: list[int]) -> list[int]:
    """For `uxchaos recover`: SIGTERM the Locust processes of a killed run that are still there (only
    processes whose command line is uxchaos's Locust child: a pid may have been reused)."""
    import os
    import signal

    stopped = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if CHILD_MARK in cmdline and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    return stopped

"""Keeps the demo worker running: restarts it when it dies — the local twin of Swarm's restart
policy. Every exit and restart is logged with its time and exit status."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field

from uxchaos.util.procs import die_with_parent

log = logging.getLogger("uxchaos.demo")


@dataclass
class Exit:
    pid: int
    returncode: int  # negative = killed by that signal, as subprocess reports it
    exited_at: float
    restarted_at: float | None = None
    new_pid: int | None = None


@dataclass
class Supervisor:
    command: list[str]
    log_path: str | None = None  # the worker's stdout and stderr; None = inherit
    restart_delay_s: float = 0.5
    exits: list[Exit] = field(default_factory=list)
    env: dict[str, str] | None = None  # the worker's environment; None = this process's

    def __post_init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="uxchaos-supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock, open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log if self.log_path else None,
                                            env=self.env, start_new_session=True, preexec_fn=die_with_parent())

    def _watch(self) -> None:
        while not self._stop.is_set():
            proc = self.process
            assert proc is not None
            code = proc.wait()
            if self._stop.is_set():
                return
            record = Exit(pid=proc.pid, returncode=code, exited_at=time.time())
            self.exits.append(record)
            log.warning("worker %d exited with status %d; restarting in %.1fs", proc.pid, code, self.restart_delay_s)
            if self._stop.wait(self.restart_delay_s):
                return
            self._spawn()
            record.restarted_at = time.time()
            record.new_pid = self.pid
            log.warning("worker restarted as pid %s", self.pid)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._thread.is_alive():
            self._thread.join(5)

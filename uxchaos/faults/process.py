"""The `process` driver: signals to a local process — the demo's twin of killing or pausing a
container. Targets: `worker` (the demo's supervised queue worker), `pid:1234`, or
`pattern:REGEX` (searched in /proc/*/cmdline; must match exactly one process)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults import register
from uxchaos.faults.base import FaultDriver, Param


def _find_by_pattern(pattern: str) -> list[int]:
    rx = re.compile(pattern)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmdline and rx.search(cmdline):
            found.append(int(entry.name))
    return found


@register
class ProcessDriver(FaultDriver):
    name = "process"
    target_help = "'worker' (the demo's queue worker), 'pid:N', or 'pattern:REGEX' on the command line"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "kill": {"signal": Param("signal", "SIGKILL", "signal name, e.g. SIGKILL, SIGTERM")},
        "pause": {},  # SIGSTOP, reverted with SIGCONT
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pid: int | None = None
        self.injected_at = 0.0
        self._reported_exits = 0

    def _supervisor(self) -> Any:
        return getattr(self.runtime.demo, "supervisor", None) if self.spec.target == "worker" else None

    def resolve(self) -> int:
        target = self.spec.target
        if target == "worker":
            supervisor = self._supervisor()
            if supervisor is None or supervisor.pid is None:
                raise EnvironmentProblem("target 'worker' exists only on the demo (target base_url: demo)")
            return int(supervisor.pid)
        if target.startswith("pid:") and target[4:].isdigit():
            pid = int(target[4:])
            if pid in (os.getpid(), os.getppid(), 1):
                raise EnvironmentProblem(f"refusing to target pid {pid}: that is uxchaos itself, its parent or init")
            if not Path(f"/proc/{pid}").exists():
                raise EnvironmentProblem(f"no process with pid {pid}")
            return pid
        if target.startswith("pattern:"):
            pids = [p for p in _find_by_pattern(target[8:]) if p not in (os.getppid(), 1)]
            if len(pids) != 1:
                raise EnvironmentProblem(
                    f"pattern {target[8:]!r} matches {len(pids)} processes ({pids[:10]}); it must match exactly one"
                )
            return pids[0]
        raise EnvironmentProblem(f"unknown process target {target!r}: use {self.target_help}")

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        if target == "worker" or (target.startswith("pid:") and target[4:].isdigit()):
            return None
        if target.startswith("pattern:"):
            try:
                re.compile(target[8:])
            except re.error as e:
                return f"invalid regular expression {target[8:]!r}: {e}"
            return None
        return f"unknown process target {target!r}: use {cls.target_help}"

    def preflight(self) -> None:
        self.resolve()

    def ledger_revert(self) -> dict[str, Any]:
        self.pid = self.resolve()
        return {"pid": self.pid, "kind": self.spec.kind}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        if data["kind"] != "pause":
            return f"a {data['kind']} cannot be undone; nothing to revert"
        try:
            os.kill(data["pid"], signal.SIGCONT)
        except ProcessLookupError:
            return f"process {data['pid']} is gone"
        return f"sent SIGCONT to process {data['pid']}"

    def inject(self) -> dict[str, Any]:
        self.pid = self.pid or self.resolve()
        sig = signal.SIGSTOP if self.spec.kind == "pause" else signal.Signals[self.spec.params["signal"]]
        supervisor = self._supervisor()
        self._reported_exits = len(supervisor.exits) if supervisor else 0
        self.injected_at = time.time()
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            raise FaultError(f"process {self.pid} is gone") from None
        return {"pid": self.pid, "signal": sig.name, "killed_at": self.injected_at}

    def revert(self) -> dict[str, Any]:
        if self.spec.kind == "pause" and self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                return {"continued": None}
            pid, self.pid = self.pid, None
            return {"continued": pid}
        return {}

    def poll_events(self) -> list[dict[str, Any]]:
        """For the demo worker: its exit (with status) and the restart, from the supervisor's log."""
        supervisor = self._supervisor()
        if supervisor is None:
            return []
        events = []
        for record in supervisor.exits[self._reported_exits:]:
            if record.restarted_at is None:
                break  # report exit and restart together, once the replacement runs
            status = f"killed by {signal.Signals(-record.returncode).name}" if record.returncode < 0 \
                else f"exit {record.returncode}"
            events.append({"event": "target_exited", "time": record.exited_at, "pid": record.pid,
                           "status": status, "returncode": record.returncode})
            events.append({"event": "replacement_running", "time": record.restarted_at, "pid": record.new_pid,
                           "after_kill_s": round(record.restarted_at - self.injected_at, 3)})
            self._reported_exits += 1
        return events

"""The `process` driver: signals to a local process — the demo's twin of killing or pausing a
container. Targets: a process the target supervises, by name (`worker` on the demo: the target
hands it over in `TargetRuntime.processes`), `pid:1234`, or `pattern:REGEX` (searched in
/proc/*/cmdline; must match exactly one process)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults import register
from uxchaos.faults.base import Check, FaultDriver, Param, SupervisedProcess

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


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
    target_help = ("a process the target supervises, by name ('worker' on the demo), 'pid:N', or 'pattern:REGEX' "
                   "on the command line")
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "kill": {"signal": Param("signal", "SIGKILL", "signal name, e.g. SIGKILL, SIGTERM")},
        "pause": {},  # SIGSTOP, reverted with SIGCONT
    }

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pid: int | None = None
        self.injected_at = 0.0
        self._reported_exits = 0

    def _supervised(self) -> SupervisedProcess | None:
        return self.runtime.processes.get(self.spec.target) if NAME.fullmatch(self.spec.target) else None

    def resolve(self) -> int:
        target = self.spec.target
        if NAME.fullmatch(target):
            supervised = self._supervised()
            if supervised is None or supervised.pid is None:
                names = ", ".join(sorted(self.runtime.processes)) or "none"
                raise EnvironmentProblem(f"the target supervises no process named {target!r} (it has: {names}); "
                                         "'worker' exists on the demo (target base_url: demo)")
            return int(supervised.pid)
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
        if NAME.fullmatch(target) or (target.startswith("pid:") and target[4:].isdigit()):
            return None
        if target.startswith("pattern:"):
            try:
                re.compile(target[8:])
            except re.error as e:
                return f"invalid regular expression {target[8:]!r}: {e}"
            return None
        return f"unknown process target {target!r}: use {cls.target_help}"

    def checks(self) -> list[Check]:
        def found() -> str:
            if NAME.fullmatch(self.spec.target) and self.runtime.pending:
                return f"process {self.spec.target!r} is checked when {self.runtime.pending} has started"
            return f"process {self.resolve()}"

        return [Check("fault target", found)]

    def resources(self) -> list[str]:
        return [f"process {self.pid or self.resolve()}"]

    def in_force(self) -> bool | None:
        if self.spec.kind != "pause" or self.pid is None:
            return None  # a kill is done once; the target's restart is followed through poll_events
        try:
            return Path(f"/proc/{self.pid}/stat").read_text().split(") ", 1)[1][0] == "T"
        except (OSError, IndexError):
            return False

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
        supervised = self._supervised()
        self._reported_exits = len(supervised.exits) if supervised else 0
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
        """For a supervised process: its exit (with status) and the restart, from the supervisor's log."""
        supervised = self._supervised()
        if supervised is None:
            return []
        events = []
        for record in supervised.exits[self._reported_exits:]:
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

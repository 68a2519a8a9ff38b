"""The fault ledger: every fault (and every process the run starts on the user's behalf) is written
to disk *before* it is applied, with what is needed to undo it from another process, and removed
once undone. `uxchaos recover` undoes what a killed run (SIGKILL, reboot) left behind.

One JSON file per run in $UXCHAOS_STATE_DIR/ledger (default /tmp/uxchaos-UID/ledger)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uxchaos.procs import pid_alive, state_dir


def ledger_dir() -> Path:
    return state_dir() / "ledger"


@dataclass
class Ledger:
    """The ledger file of one run. Entries: {"id", "kind": "fault"|"processes", ...revert data}."""

    run_id: str
    path: Path = field(init=False)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False  # the run is over; whatever is still listed is nobody's any more

    def __post_init__(self) -> None:
        self.path = ledger_dir() / f"{self.run_id}.json"

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.entries:
            self.path.unlink(missing_ok=True)
            return
        data = {"run_id": self.run_id, "owner_pid": os.getpid(), "updated_at": time.time(), "ended": self.ended,
                "entries": list(self.entries.values())}
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)  # atomic: recover never reads half a ledger

    def open(self, entry_id: str, entry: dict[str, Any]) -> None:
        self.entries[entry_id] = {"id": entry_id, "opened_at": time.time(), **entry}
        self._save()

    def close(self, entry_id: str) -> None:
        if self.entries.pop(entry_id, None) is not None:
            self._save()

    def end(self) -> None:
        """The run is over: entries still open (a revert that failed) are left to `uxchaos recover`."""
        self.ended = True
        self._save()


@dataclass
class OpenLedger:
    path: Path
    run_id: str
    owner_pid: int
    entries: list[dict[str, Any]]
    ended: bool = False

    @property
    def owner_alive(self) -> bool:
        """Is a run still looking after these entries?"""
        return not self.ended and pid_alive(self.owner_pid)


def open_ledgers() -> list[OpenLedger]:
    found = []
    for path in sorted(ledger_dir().glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        found.append(OpenLedger(path, data["run_id"], int(data["owner_pid"]), data.get("entries", []),
                                bool(data.get("ended"))))
    return found


def orphaned_ledgers() -> list[OpenLedger]:
    """Ledgers whose run is gone: what they list was never undone."""
    return [ledger for ledger in open_ledgers() if not ledger.owner_alive]


def undo_entry(entry: dict[str, Any]) -> str:
    """Undo one entry from its recorded data; return what was done."""
    if entry["kind"] == "processes":
        done = []
        for pid in entry.get("pids", []):
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                    done.append(str(pid))
                except ProcessLookupError:
                    pass
        paths = entry.get("paths", [])
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        return f"stopped processes {', '.join(done) or '(none left)'}; removed {', '.join(paths) or '-'}"
    from uxchaos.faults import DRIVERS

    driver = DRIVERS[entry["driver"]]
    return driver.revert_from_ledger(entry["revert"])

"""The fault ledger: every fault (and every process the run starts on the user's behalf) is written
to disk *before* it is applied, with what is needed to undo it from another process, and removed
once undone. `uxchaos recover` undoes what a killed run (SIGKILL, reboot) left behind.

One JSON file per run in $UXCHAOS_STATE_DIR/ledger (default /tmp/uxchaos-UID/ledger)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uxchaos.util.procs import pid_alive, state_dir, state_problem


def ledger_dir() -> Path:
    return state_dir() / "ledger"


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader (recover, another run) never sees half a file: a temporary file
    of its own (never a shared name: two writers must not interleave), fsynced, then renamed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise state_problem(e) from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):  # a full disk: the ledger must not be half written
            raise state_problem(e) from None
        raise


@dataclass
class Ledger:
    """The ledger file of one run. Entries: {"id", "kind": "fault"|"processes", ...revert data}."""

    run_id: str
    path: Path = field(init=False)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: bool = False  # the run is over; whatever is still listed is nobody's any more

    def __post_init__(self) -> None:
        self.path = ledger_dir() / f"{self.run_id}.json"
        self._lock = threading.Lock()  # the max-duration watchdog closes entries from its own thread

    def _save(self) -> None:
        if not self.entries:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as e:
                raise state_problem(e) from None
            return
        write_atomically(self.path, {"run_id": self.run_id, "owner_pid": os.getpid(), "updated_at": time.time(),
                                     "ended": self.ended, "entries": list(self.entries.values())})

    def open(self, entry_id: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries[entry_id] = {"id": entry_id, "opened_at": time.time(), **entry}
            self._save()

    def close(self, entry_id: str) -> None:
        with self._lock:
            if self.entries.pop(entry_id, None) is not None:
                self._save()

    def end(self) -> None:
        """The run is over: entries still open (a revert that failed) are left to `uxchaos recover`."""
        with self._lock:
            self.ended = True
            self._save()

    def held_elsewhere(self, resources: list[str]) -> list[str]:
        """Who else holds one of these resources: live runs whose open fault lists it."""
        held = []
        for other in open_ledgers():
            if other.run_id == self.run_id or not other.owner_alive:
                continue
            for entry in other.entries:
                shared = sorted(set(entry.get("resources", [])) & set(resources))
                if shared:
                    held.append(f"{', '.join(shared)}: held by run {other.run_id} (pid {other.owner_pid}) — "
                                f"{entry.get('fault', entry['kind'])}")
        return held


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

    def keep_only(self, entries: list[dict[str, Any]]) -> None:
        """After `recover`: the entries that could not be undone stay listed; none left, no file."""
        try:
            if not entries:
                self.path.unlink(missing_ok=True)
                return
            data = json.loads(self.path.read_text())
        except OSError as e:
            raise state_problem(e) from None
        write_atomically(self.path, {**data, "entries": entries})


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

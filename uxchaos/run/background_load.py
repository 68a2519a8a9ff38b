"""The scenario's background load for one run: started and ramped before the before phase, stopped
after the after phase and on every exit path, with a `load` record in results.jsonl every second.
A surge (faults/load.py) steps the same Locust users up and back down."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from uxchaos.faults.ledger import Ledger
from uxchaos.load.process import LocustProcesses, check_locustfile
from uxchaos.load.spec import LoadSpec, compile_requests

SURGE_MARGIN_S = 10.0  # beyond users / spawn_rate for a surge's step to be done
RAMP_MARGIN_S = 60.0  # beyond users / spawn_rate: Locust's import (seconds on a busy machine), workers connecting


def locustfile_for(spec: LoadSpec, run_dir: Path) -> Path:
    """The team's locustfile, or the `requests:` list compiled into the run folder (kept: it says what ran)."""
    if spec.locustfile is not None:
        return spec.locustfile
    path = run_dir / "locustfile.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(compile_requests(spec), encoding="utf-8")
    return path


def check_load(spec: LoadSpec | None) -> None:
    """Before anything starts: the locustfile imports and defines users (BadInput: file:line)."""
    if spec is not None and spec.locustfile is not None:
        check_locustfile(spec.locustfile)


def load_record(stats: dict[str, Any]) -> dict[str, Any]:
    """A child's interval statistics as the `load` record of results.jsonl."""
    requests = stats.get("requests", {})
    interval = max(float(stats.get("interval_s") or 0.0), 1e-3)
    n = sum(r["n"] for r in requests.values())
    failures = sum(r["failures"] for r in requests.values())
    return {"type": "load", "time": stats["time"], "interval_s": stats.get("interval_s"),
            "users": stats.get("users"), "rps": round(n / interval, 2), "fail_per_s": round(failures / interval, 2),
            "requests": requests}


class BackgroundLoad:
    """The running Locust users; `surge`/`unsurge` change their number (held under a lock)."""

    def __init__(self, spec: LoadSpec, processes: LocustProcesses) -> None:
        self.spec = spec
        self.processes = processes
        self.surge_users = 0
        self.lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        return self.processes.pids

    def surge(self, users: int, spawn_rate: float) -> bool:
        """Step up to the background users + `users`; True once Locust's ramp is done (the fault is then
        held at its size: attempts measured while it ramps would mix sizes)."""
        with self.lock:
            self.surge_users = users
            total = self.spec.users + users
            self.processes.set_users(total, spawn_rate)
            return self.processes.wait_users(total, users / spawn_rate + SURGE_MARGIN_S)

    def unsurge(self, spawn_rate: float) -> None:
        """Back to the background users (stopping the surge's users at spawn_rate)."""
        with self.lock:
            if self.surge_users and self.processes.running:
                self.processes.set_users(self.spec.users, spawn_rate)
                self.processes.wait_users(self.spec.users, self.surge_users / spawn_rate + SURGE_MARGIN_S)
            self.surge_users = 0


@contextlib.contextmanager
def background_load(spec: LoadSpec | None, base_url: str, run_dir: Path, ledger: Ledger,
                    record: Callable[[dict[str, Any]], None],
                    say: Callable[[str], None]) -> Iterator[BackgroundLoad | None]:
    """`record` gets each `load` record and load event; runs on the reader thread."""
    if spec is None:
        yield None
        return

    def on_child(child: dict[str, Any]) -> None:
        if child["kind"] == "stats":
            record(load_record(child))
        elif child["kind"] == "ramped":
            record({"type": "load_event", "event": "ramped", "time": time.time(), "users": child["users"]})
        elif child["kind"] == "warning":
            record({"type": "load_event", "event": "warning", "time": time.time(), "text": child["text"]})
            say(f"⚠ {child['text']}")

    processes = LocustProcesses(locustfile_for(spec, run_dir), base_url.rstrip("/"), spec.users, spec.spawn_rate,
                                run_dir / "locust.log", on_child, spec.workers, master=spec.master)
    try:
        processes.start()
        ledger.open("load", {"kind": "processes", "what": "the Locust load", "pids": processes.pids, "paths": []})
        where = "one process on this machine"
        if spec.workers:
            where = (f"a master on {spec.master} and {spec.workers} workers started elsewhere" if spec.master
                     else f"a master and {spec.workers} worker processes on this machine")
        say(f"load: starting {spec.users} Locust users at {spec.spawn_rate:g}/s ({where})")
        record({"type": "load_event", "event": "started", "time": time.time(), "pids": processes.pids,
                "users": spec.users, "spawn_rate": spec.spawn_rate, "workers": spec.workers, "where": where})
        processes.wait_ramped(spec.users / spec.spawn_rate + RAMP_MARGIN_S)
        yield BackgroundLoad(spec, processes)
    finally:
        processes.stop()
        ledger.close("load")
        record({"type": "load_event", "event": "stopped", "time": time.time()})

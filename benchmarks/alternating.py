"""Sequential vs alternating phases on a machine that gets busy in the middle of the run.

Three runs of the same scenario against one demo (PostgreSQL behind the fault proxy, a database
delay), each through `uxchaos run`:
1. *truth*: sequential phases on the machine as it is (no burner);
2. *sequential*: sequential phases, with CPU burners started when the first during attempt begins —
   so the before phase ran unloaded and the during phase loaded, as when another job starts;
3. *alternating*: `phases: {order: alternating}`, burners started at the same point (after the
   first before attempt), so both phases run mostly loaded.
Prints each run's Δ (median during − median before) of the journey's slowest action and how far it
is from the truth's. The burners are processes spinning on every core, stopped at the end of each
run (by their PIDs).

    python benchmarks/alternating.py [--attempts 6] [--delay-ms 150] [--burners 4]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from uxchaos.cli import main
from uxchaos.demo.login import LOGGING_IN, OPENING, login_journey
from uxchaos.demo.stack import DemoStack
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.results.rundata import RunData

ACTION = LOGGING_IN
FIRST = OPENING  # goto + wait_for: mostly the browser's own work, so the most CPU-bound


def scenario(target: dict[str, Any], attempts: int, delay_ms: int, order: str) -> str:
    return yaml.safe_dump({
        "name": "alternating-bench", "target": target, "journey": login_journey(wait=True, expect_url=False),
        "fault": {"driver": "proxy", "kind": "delay", "target": "database", "params": {"delay": f"{delay_ms}ms"}},
        "phases": {"order": order, "before": {"attempts": attempts}, "during": {"attempts": attempts},
                   "after": {"attempts": 1}}}, sort_keys=False)


class Burners:
    """CPU burners, started once the run has measured its first `after_samples` attempts."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_when(self, out: Path, after_samples: int, stop: threading.Event) -> threading.Thread:
        def watch() -> None:
            while not stop.is_set():
                done = sum(1 for f in out.glob("*/*/results.jsonl") for r in read_results(f.parent)
                           if r.get("type") == "sample")
                if done >= after_samples:
                    # fresh interpreters, not forks: a fork of this process would hold the pipe to
                    # Playwright's driver open, and the run's end would wait on it for ever
                    self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                                  for _ in range(self.count)]
                    return
                time.sleep(0.2)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait(5)
        self.procs = []


def run(target: dict[str, Any], attempts: int, delay_ms: int, order: str, burners: int,
        start_after: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(scenario(target, attempts, delay_ms, order))
        out = Path(tmp) / "r"
        burn, stop = Burners(burners), threading.Event()
        watcher = burn.start_when(out, start_after, stop) if burners else None
        try:
            code = main(["run", str(path), "--out", str(out)], io.StringIO(), io.StringIO())
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
            burn.stop()
        if code not in (0, 1):
            raise SystemExit(f"uxchaos run exited {code}")
        (run_dir,) = out.glob("*/*")
        data = RunData.load(run_dir)
        return {action: statistics.median(data.action_durations(action, "during"))
                - statistics.median(data.action_durations(action, "before")) for action in (FIRST, ACTION)}


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=6, help="before and during attempts per run")
    parser.add_argument("--delay-ms", type=int, default=150)
    parser.add_argument("--burners", type=int, default=4, help="CPU-spinning processes once the run is under way")
    args = parser.parse_args()
    stack = DemoStack()
    info = stack.start()
    control = ControlServer(stack.hub)
    target = {"base_url": info.base_url, "proxy_control": control.address,
              "credentials": {"username": info.email, "password": info.password}}
    try:
        truth = run(target, args.attempts, args.delay_ms, "sequential", 0, 0)
        # sequential: burners from the first during attempt (after all the before ones)
        sequential = run(target, args.attempts, args.delay_ms, "sequential", args.burners, args.attempts)
        # alternating: burners from the same moment in time of the run's first half
        alternating = run(target, args.attempts, args.delay_ms, "alternating", args.burners, 1)
    finally:
        control.close()
        stack.stop()
    print(f"Δ = median during − median before, {args.attempts} + {args.attempts} attempts, database delay "
          f"{args.delay_ms} ms, {args.burners} CPU burners on {multiprocessing.cpu_count()} cores")
    for action in (FIRST, ACTION):
        print(f"{action}:")
        print(f"  truth (no burner, sequential)     Δ {truth[action]:+.2f} s")
        for name, delta in (("sequential, burner from during", sequential[action]),
                            ("alternating, burner after #1", alternating[action])):
            print(f"  {name:<33} Δ {delta:+.2f} s   {delta - truth[action]:+.2f} s vs truth")


if __name__ == "__main__":
    main_()

"""How much did the load generator really delay each step? A multi-user run read beside the kernel
scheduler's own events, against the same journey run by one user alone.

The starvation bound (uxchaos/users/starvation.py) adds up, per 100 ms, the run-queue waits of every
thread a step's chain of work can pass through, capped by the CPU time of other work: a bound, and on
two cores shared by several pages a loose one. This benchmark measures how loose. perf records
`sched_switch` and `sched_waking` on every core while `uxchaos run SCENARIO` runs; afterwards, for each
step, a walk back along the chain of wake-ups from the step's end to its start — the journey thread was
woken by its Playwright driver, the driver by the browser, the browser by the renderer or the network
service, and so on through the target and back — sums the time the generator's threads on that path
(the user's journey thread, Playwright's node processes, Chromium's) were ready to run but waited for a
core. A thread woken by a timer or an interrupt (no thread woke it) continues the walk with its own
previous run, which set that wait up. Waits of the target's threads on the path are not counted (as in
the bound). That is the time the step's own path waited for cores, whoever held them: an estimate of
what starvation added, not a bound (work beside the path that the step's end still depended on — a
page polled for a state — can hide behind a timer's wake-up).

The reference: the same scenario with every phase run by one user, one attempt after another
(`--no-reference` skips it): what the steps take with nothing else of the generator competing.

Printed per phase: the opening and login medians of the run and of the reference, the counters'
bound and the critical path's waits as a share of each attempt (median, range), and how many attempts
each would keep (share ≤ LEFT_OUT_SHARE).

    python benchmarks/critical_path.py [--scenario benchmarks/open-model.yaml] [--no-reference]

Needs perf (Debian's linux-perf: `make perf`) and root. The run's own load stays as its scenario
bounds it; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from uxchaos.users.processes import generator_processes
from uxchaos.users.starvation import LEFT_OUT_SHARE

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_KINDS = ("node", "browser", "renderer", "network", "chromium")  # processes.process_kind
KERNEL_THREADS = ("kworker", "ksoftirq", "swapper", "migration", "rcu_", "kdamond")
PHASES = ("before", "during", "after")


class Schedule:
    """perf's sched_switch and sched_waking events, by thread: when each was switched in and out (and
    in which state it left), and when and by whom it was woken."""

    def __init__(self) -> None:
        self.ins: dict[int, list[float]] = defaultdict(list)
        self.outs: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.wakes: dict[int, list[tuple[float, int]]] = defaultdict(list)
        self.comm: dict[int, str] = {}
        self.tgid: dict[int, int] = {}

    def add(self, line: str) -> None:
        """`  PID/TID [CPU] TIME: prev_comm=… prev_pid=… prev_prio=… prev_state=S ==> next_comm=… next_pid=…`
        or `  PID/TID [CPU] TIME: comm=… pid=… prio=… target_cpu=…` (perf script -F pid,tid,cpu,time,trace);
        the event's own PID/TID is the thread the core ran when it happened: for sched_waking, the waker."""
        try:
            head, trace = line.split(": ", 1)
            ids, rest = head.split("[", 1)
            now = float(rest.split("]", 1)[1])
            pid_text, tid_text = ids.split("/")
            pid, tid = int(pid_text), int(tid_text)
        except ValueError:
            return
        self.tgid[tid] = pid
        if trace.startswith("prev_comm="):
            self.comm[tid] = trace[len("prev_comm="):].rsplit(" prev_pid=", 1)[0]
            state = trace.rsplit(" prev_state=", 1)[1].split(" ", 1)[0]
            self.outs[tid].append((now, state))
            self.ins[int(trace.rsplit("next_pid=", 1)[1].split(" ", 1)[0])].append(now)
        else:
            self.wakes[int(trace.rsplit(" pid=", 1)[1].split(" ", 1)[0])].append((now, tid))

    def finish(self) -> None:
        self._out_t = {k: [t for t, _ in v] for k, v in self.outs.items()}
        self._wake_t = {k: [t for t, _ in v] for k, v in self.wakes.items()}

    def path_waits(self, thread: int, t0: float, t1: float, counted: set[int]) -> float:
        """Seconds the threads in `counted` waited for a core on the chain of wake-ups that led to
        `thread` running at t1, back to t0."""
        cur, t, total = thread, t1, 0.0
        for _ in range(100_000):
            if t <= t0:
                break
            ins = self.ins.get(cur, [])
            i = bisect_right(ins, t) - 1
            if i < 0:
                break  # not seen since the recording began
            switched_in = ins[i]
            last_run = ins[i - 1] if i > 0 else float("-inf")
            k = bisect_right(self._out_t.get(cur, []), switched_in) - 1
            left, state = self.outs[cur][k] if k >= 0 else (last_run, "S")
            w = bisect_right(self._wake_t.get(cur, []), switched_in) - 1
            # woken since its last run began (a wake-up can come just before it had left its core)
            wake = self.wakes[cur][w] if w >= 0 and self.wakes[cur][w][0] > last_run else None
            if state.startswith("R") and (wake is None or wake[0] < left):
                ready, waker = left, None  # preempted: ready from when it left its core
            elif wake is not None:
                ready, waker = wake
            else:
                ready, waker = left, None
            if cur in counted:
                total += max(0.0, min(switched_in, t1) - max(ready, t0))
            if waker is None or waker == 0 or self.comm.get(waker, "").startswith(KERNEL_THREADS):
                if i == 0:
                    break
                t = min(ready, left)  # its own previous run set this wait up
            else:
                cur, t = waker, ready
        return total


def run_recorded(scenario: Path, out: Path) -> tuple[Path, Schedule, set[int], dict[int, int]]:
    """`uxchaos run` under perf; the run folder, the events, the generator's threads and each user's
    journey thread."""
    perf = shutil.which("perf")
    if perf is None or os.geteuid() != 0:
        sys.exit("critical_path.py needs perf (Debian's linux-perf: `make perf`) and root")
    out.mkdir(parents=True, exist_ok=True)
    data = out / "sched.data"
    record = subprocess.Popen([perf, "record", "-q", "-a", "-e", "sched:sched_switch", "-e", "sched:sched_waking",
                               "-k", "CLOCK_MONOTONIC", "-m", "64", "-o", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    if record.poll() is not None:
        sys.exit(f"perf record ended at once ({record.returncode}): is tracing allowed here?")
    kinds: dict[int, str] = {}
    run = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(scenario), "--out", str(out / "runs")],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while run.poll() is None:  # renderers come and go with each attempt's context: list them often
            kinds.update(generator_processes(run.pid))
            time.sleep(0.2)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            run.wait(60)
        record.send_signal(signal.SIGINT)
        record.wait(60)
    if run.returncode not in (0, 1):
        sys.exit(f"uxchaos run failed ({run.returncode}): {run.stderr.read() if run.stderr else ''}")
    run_dir = next((out / "runs").glob("*/*/"))
    schedule = Schedule()
    script = subprocess.Popen([perf, "script", "-i", str(data), "-F", "pid,tid,cpu,time,trace"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace")
    assert script.stdout is not None
    for line in script.stdout:
        schedule.add(line)
    script.wait()
    data.unlink()
    schedule.finish()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    journeys = {r["user"]: r["thread"] for r in records if r["type"] == "endpoint" and r.get("thread")}
    generator = set(journeys.values()) | {tid for tid, pid in schedule.tgid.items()
                                          if kinds.get(pid) in GENERATOR_KINDS}
    return run_dir, schedule, generator, journeys


def samples(run_dir: Path) -> list[dict[str, Any]]:
    records = (json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines())
    return [r for r in records if r["type"] == "sample" and r["ok"]]


def action_median(rows: list[dict[str, Any]], prefix: str) -> float | None:
    times = [a["duration_s"] for s in rows for a in s["actions"] if a["name"].startswith(prefix)]
    return statistics.median(times) if times else None


def one_user(scenario: Path, folder: Path) -> Path:
    """The scenario with every phase run by one user, one attempt after another."""
    data = yaml.safe_load(scenario.read_text())
    for phase in data.get("phases", {}).values():
        if isinstance(phase, dict):
            for key in ("arrival_rate", "max_users", "users", "ramp"):
                phase.pop(key, None)
    data["name"] = f"{data['name']}-one-user"
    path = folder / "one-user.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def share_range(values: list[float]) -> str:
    return f"{statistics.median(values):.0%} ({min(values):.0%}–{max(values):.0%})" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "benchmarks" / "open-model.yaml")
    parser.add_argument("--no-reference", action="store_true", help="skip the one-user run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uxchaos-critical-path-") as tmp:
        folder = Path(tmp)
        offset = time.time() - time.monotonic()  # the runs' epoch times onto perf's CLOCK_MONOTONIC
        run_dir, schedule, generator, journeys = run_recorded(args.scenario.resolve(), folder / "users")
        reference = None
        if not args.no_reference:
            subprocess.run([sys.executable, "-m", "uxchaos", "run", str(one_user(args.scenario.resolve(), folder)),
                            "--out", str(folder / "one")], cwd=ROOT, check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            reference = next((folder / "one").glob("*/*/"), None)
        print(f"{args.scenario.name}: {len(journeys)} users, {len(generator)} generator threads seen; "
              f"kept = share ≤ {LEFT_OUT_SHARE:.0%}")
        print("| Phase | Opening median (s), run · one user | Login median (s), run · one user | Counters' bound, "
              "share of the attempt | Critical path's waits, share | Kept by the bound · by the path |")
        print("|---|---:|---:|---:|---:|---:|")
        for phase in PHASES:
            rows = [s for s in samples(run_dir) if s["phase"] == phase]
            if not rows:
                continue
            bound, path = [], []
            for s in rows:
                waited = sum(schedule.path_waits(journeys[s["user"]], s["started_at"] + st["at_s"] - offset,
                                                 s["started_at"] + st["at_s"] + st["duration_s"] - offset, generator)
                             for st in s["steps"] if st.get("at_s") is not None)
                path.append(waited / s["duration_s"])
                bound.append((s["bound_ms"] or 0.0) / 1000 / s["duration_s"])
            ref = [s for s in samples(reference) if s["phase"] == phase] if reference else []

            def both(prefix: str, rows: list[dict[str, Any]] = rows, ref: list[dict[str, Any]] = ref) -> str:
                ours, theirs = action_median(rows, prefix), action_median(ref, prefix)
                return f"{ours:.2f} · " + ("–" if theirs is None else f"{theirs:.2f}") if ours is not None else "–"
            print(f"| {phase} | {both('Opening')} | {both('Logging in')} | {share_range(bound)} | {share_range(path)} "
                  f"| {sum(b <= LEFT_OUT_SHARE for b in bound)} · {sum(p <= LEFT_OUT_SHARE for p in path)} "
                  f"of {len(rows)} |")


if __name__ == "__main__":
    main()

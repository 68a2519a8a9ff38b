"""How much did the load generator really delay each step? A multi-user run read beside the kernel
scheduler's own events, against the same journey run by one user alone.

The starvation bound (uxchaos/users/starvation.py) adds up, per 100 ms, the run-queue waits of every
thread a step's chain of work can pass through, capped by the CPU time of other work: a bound, and on
two cores shared by several pages a loose one. This benchmark measures how loose. perf records
`sched_switch` and `sched_waking` on every core while `uxchaos run SCENARIO` runs; afterwards, for each
step, a walk back along the chain of wake-ups from the step's end to its start — the journey thread was
woken by its Playwright driver, the driver by the browser, the browser by the renderer or the network
service, and so on through the target and back — sums the time the generator's threads on that path (the
user's journey thread, Playwright's node processes, Chromium's) were ready to run but waited for a core.
A thread woken by a timer (no thread woke it) continues the walk with its own previous run, which set
that wait up. A wake-up from an interrupt names the thread the core was running then (perf script's
lines do not say it came from an interrupt), so the walk can jump onto a thread off the path. Waits of
the target's threads on the path are not counted (as in the bound). That is the time the step's own path
waited for cores, whoever held them: an estimate of what starvation added, not a bound (work beside the
path that the step's end still depended on — a page polled for a state — can hide behind a timer's
wake-up).

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
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from uxchaos.results.records import read_results
from uxchaos.users.processes import CHAIN_THREADS, generator_processes
from uxchaos.users.starvation import LEFT_OUT_SHARE

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_KINDS = (*CHAIN_THREADS, "chromium")  # processes.process_kind: drivers and every Chromium process
KERNEL_THREADS = ("kworker", "ksoftirq", "swapper", "migration", "rcu_", "kdamond")
PHASES = ("before", "during", "after")


class Schedule:
    """perf's sched_switch and sched_waking events, by thread: when each was switched in and out (and
    in which state it left), and when and by whom it was woken."""

    def __init__(self) -> None:
        # per thread, in time order (perf script sorts the cores' events): switched in; switched out, and
        # in which state; woken, and by whom
        self.ins: dict[int, list[float]] = defaultdict(list)
        self.outs: dict[int, list[float]] = defaultdict(list)
        self.out_states: dict[int, list[str]] = defaultdict(list)
        self.wakes: dict[int, list[float]] = defaultdict(list)
        self.wakers: dict[int, list[int]] = defaultdict(list)
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
            self.outs[tid].append(now)
            self.out_states[tid].append(trace.rsplit(" prev_state=", 1)[1].split(" ", 1)[0])
            self.ins[int(trace.rsplit("next_pid=", 1)[1].split(" ", 1)[0])].append(now)
        else:
            woken = int(trace.rsplit(" pid=", 1)[1].split(" ", 1)[0])
            self.wakes[woken].append(now)
            self.wakers[woken].append(tid)

    def path_waits(self, thread: int, t0: float, t1: float, counted: set[int]) -> float:
        """Seconds the threads in `counted` waited for a core on the chain of wake-ups that led to
        `thread` running at t1, back to t0."""
        cur, t, total, own = thread, t1, 0.0, False
        for _ in range(100_000):
            if t <= t0:
                break
            ins = self.ins.get(cur, [])
            # a waker: its run under way at t (begun at t at the latest); the same thread going back: its
            # run before the one just walked (begun before t)
            i = (bisect_left(ins, t) if own else bisect_right(ins, t)) - 1
            if i < 0:
                break  # not seen since the recording began
            switched_in = ins[i]
            last_run = ins[i - 1] if i > 0 else float("-inf")
            k = bisect_right(self.outs.get(cur, []), switched_in) - 1
            left, state = (self.outs[cur][k], self.out_states[cur][k]) if k >= 0 else (last_run, "S")
            w = bisect_right(self.wakes.get(cur, []), switched_in) - 1
            # woken since its last run began (a wake-up can come just before it had left its core)
            woken = w >= 0 and self.wakes[cur][w] > last_run
            if state.startswith("R") and (not woken or self.wakes[cur][w] < left):
                ready, waker = left, None  # preempted: ready from when it left its core
            elif woken:
                ready, waker = self.wakes[cur][w], self.wakers[cur][w]
            else:
                ready, waker = left, None
            if cur in counted:
                total += max(0.0, min(switched_in, t1) - max(ready, t0))
            own = waker is None or waker == 0 or self.comm.get(waker, "").startswith(KERNEL_THREADS)
            if own:
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
    # --ns: to the microsecond, a switch and the next often fall on the same instant
    script = subprocess.Popen([perf, "script", "-i", str(data), "--ns", "-F", "pid,tid,cpu,time,trace"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace")
    assert script.stdout is not None
    for line in script.stdout:
        schedule.add(line)
    script.wait()
    data.unlink()
    records = read_results(run_dir)
    journeys = {r["user"]: r["thread"] for r in records if r["type"] == "endpoint" and r.get("thread")}
    generator = set(journeys.values()) | {tid for tid, pid in schedule.tgid.items()
                                          if kinds.get(pid) in GENERATOR_KINDS}
    return run_dir, schedule, generator, journeys


def samples(run_dir: Path) -> list[dict[str, Any]]:
    """Every attempt that went through, also those left out of the statistics."""
    return [r for r in read_results(run_dir) if r["type"] == "sample" and r["ok"]]


def action_median(rows: list[dict[str, Any]], prefix: str) -> float | None:
    times = [a["duration_s"] for s in rows for a in s["actions"] if a["name"].startswith(prefix)]
    return statistics.median(times) if times else None


def one_user(scenario: Path, folder: Path) -> Path:
    """The scenario with every phase run by one user, one attempt after another."""
    data = yaml.safe_load(scenario.read_text())
    for phase in data.get("phases", {}).values():
        if isinstance(phase, dict):
            for key in ("arrival_rate", "max_users", "users"):
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

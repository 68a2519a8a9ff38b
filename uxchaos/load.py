"""How loaded the machine was during each attempt, and how much the load generator's own starvation
can have added to what it timed.

A `LoadMonitor` thread samples, every 100 ms: the host CPU (/proc/stat deltas), the lateness of its
own timer (the coordinator's lag: the GIL, the scheduler), and the run-queue wait of the generator's
threads. The last one is the bound this module is for.

Why the run-queue wait. Host CPU counts the system under test too (the demo app and its database
share this host: one user alone shows ~90%), and a late timer says how late uxchaos's Python was, not
how much that changed a step — 140 ms matter to a 0.1 s step and hardly to a 3 s one. What the
generator's starvation can add to a step is time when a generator thread had work on the step's path
and was ready to run but waited for a core. Linux counts exactly that per thread: the second field of
/proc/<pid>/task/<tid>/schedstat (nanoseconds spent runnable on a run queue). The generator's threads
are this process's threads that run journeys and every thread of its descendants named node (the
Playwright drivers, the browser server) and chrom*/headless* (Chromium); the demo app and its
database, also descendants, are the target and are not counted, nor are this process's threads that
wake on timers of their own (this monitor, loops polling for Ctrl-C): on a busy host they wait for a
core without being on any step's path. Summed over a step's window (interpolated between samples), that wait
bounds the delay starvation can have added to the step: whenever the step's chain of work was held up
for a core on the generator, at least one of those threads was waiting. It over-counts (threads that
wait at the same time add up; other users' work in the shared Chromium counts too), so a kept attempt
never hides more than it says; it does not see a thread waiting for Python's GIL (the coordinator's
lag, recorded beside it, does). benchmarks/starvation.py compares it with what a CPU burner really adds.

An attempt is left out of the statistics (flagged `saturated`) when its bound is more than
`LEFT_OUT_SHARE` of the time it measured; otherwise it is kept, and the reports show its bound."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator

from uxchaos.results import Sample

MONITOR_INTERVAL_S = 0.1
PROCESS_REFRESH_S = 1.0  # how often the generator's processes and threads are listed again
GENERATOR_NAMES = ("node", "chrom", "headless")  # process names (comm) of Playwright drivers and Chromium
WAIT_HISTORY_S = 300.0  # per-thread samples kept: an attempt is bounded as soon as it ends
# Distinct generator threads one step's chain of work can pass through: the user's Python thread, its
# Playwright driver's main thread, Chromium's browser UI and IO threads, its network service, the
# page's renderer main and compositor threads — and one more for a Python thread holding the GIL.
CHAIN_THREADS = 8
LEFT_OUT_SHARE = 0.10  # a bound above this share of the attempt's time: left out of the statistics
BUSY_SHARE = 0.02  # a bound above this share of an action's median: the verdict says "busy generator"


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, or None where /proc/stat does not exist."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError:  # the process or thread has ended
        return None


def _descendants(pid: int) -> Iterator[int]:
    for tid in _list(f"/proc/{pid}/task"):
        for child in (_read(f"/proc/{pid}/task/{tid}/children") or "").split():
            yield int(child)
            yield from _descendants(int(child))


def _list(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


_journey_threads: set[int] = set()  # native ids of this process's threads that run journeys


@contextlib.contextmanager
def journey_thread() -> Iterator[None]:
    """Count the calling thread as the generator's while it runs journeys. Only these of this process
    are counted: its other threads (this monitor, loops polling for Ctrl-C, a proxy) wake on timers of
    their own and would wait for a core on a busy host without being on any step's path."""
    tid = threading.get_native_id()
    _journey_threads.add(tid)
    try:
        yield
    finally:
        _journey_threads.discard(tid)


def generator_threads(pid: int | None = None) -> list[str]:
    """The schedstat files of the generator's threads: this process's journey threads and every thread
    of its node/Chromium descendants."""
    root = pid or os.getpid()
    kids = [p for p in _descendants(root)
            if (_read(f"/proc/{p}/comm") or "").strip().lower().startswith(GENERATOR_NAMES)]
    own = [f"/proc/{root}/task/{tid}/schedstat" for tid in sorted(_journey_threads)]
    return own + [f"/proc/{p}/task/{tid}/schedstat" for p in kids for tid in _list(f"/proc/{p}/task")]


def run_queue_wait_ns(paths: list[str]) -> int:
    total = 0
    for path in paths:
        text = _read(path)
        if text:
            total += int(text.split()[1])
    return total


class LoadMonitor:
    """Samples host CPU, its own timer's lateness and the generator's run-queue wait, from its own thread."""

    def __init__(self, interval_s: float = MONITOR_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._ticks: deque[tuple[float, int, int, float]] = deque(maxlen=200_000)  # (mono, busy, total, lag s)
        # (epoch s, each generator thread's run-queue wait so far in ns), the last WAIT_HISTORY_S
        self._waits: deque[tuple[float, dict[str, int]]] = deque(maxlen=int(WAIT_HISTORY_S / interval_s))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="uxchaos-load-monitor", daemon=True)
        self._lock = threading.Lock()
        self.waits_seen = os.path.exists("/proc/self/schedstat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _loop(self) -> None:
        last = cpu_ticks()
        paths: list[str] = []
        listed = 0.0
        base: dict[str, int] = {}  # each thread's wait when first seen (0: born since the last listing)
        current: dict[str, int] = {}  # each thread's wait counted so far; an ended thread keeps its last
        ended: dict[str, float] = {}  # ended threads: when (monotonic) they were first missed
        target = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, target - time.monotonic())):
            now = time.monotonic()
            lag = max(0.0, now - target)
            ticks = cpu_ticks()
            if self.waits_seen:
                if now - listed >= PROCESS_REFRESH_S:
                    first, paths, listed = not listed, generator_threads(), now
                    base = {p: base.get(p, -1 if first else 0) for p in paths}
                    for p in current.keys() - base.keys():
                        ended.setdefault(p, now)
                for p in paths:
                    text = _read(p)
                    if text:
                        value = int(text.split()[1])
                        if base[p] < 0:  # there before the monitor: only what it waits from now on counts
                            base[p] = value
                        current[p] = value - base[p]
                        ended.pop(p, None)
                    elif p in current:
                        ended.setdefault(p, now)
                for p in [p for p, when in ended.items() if now - when > WAIT_HISTORY_S]:
                    del ended[p], current[p]  # gone long enough: no window reaches back to it
                with self._lock:
                    self._waits.append((time.time(), dict(current)))
            if ticks is not None and last is not None:
                with self._lock:
                    self._ticks.append((now, ticks[0] - last[0], ticks[1] - last[1], lag))
            last = ticks
            target = now + self.interval_s

    def window(self, t0: float, t1: float) -> tuple[float | None, float | None]:
        """(CPU busy fraction, worst lag in ms) between two monotonic times; the next sample when
        the window is shorter than one interval."""
        with self._lock:
            inside = [t for t in self._ticks if t0 <= t[0] <= t1 + self.interval_s]
        if not inside:
            return None, None
        busy, total = sum(t[1] for t in inside), sum(t[2] for t in inside)
        return (round(busy / total, 3) if total else None), round(max(t[3] for t in inside) * 1000, 1)

    def wait_ms(self, t0: float, t1: float) -> float | None:
        """The bound of what the generator's starvation can have added between two epoch times (ms): the
        CHAIN_THREADS largest run-queue waits of single generator threads in that window (interpolated
        between samples), at most the window itself. None when the samples do not cover the window."""
        with self._lock:
            waits = list(self._waits)
        if len(waits) < 2 or waits[0][0] > t0 or waits[-1][0] < t1:
            return None
        start, end = _at(waits, t0), _at(waits, t1)
        grown = sorted((max(0.0, v - start.get(p, 0.0)) for p, v in end.items()), reverse=True)
        return round(min(sum(grown[:CHAIN_THREADS]) / 1e6, (t1 - t0) * 1000), 1)

    def settle(self) -> None:
        """Wait until a sample after now exists, so that the window just ended is covered."""
        end = time.time()
        deadline = time.monotonic() + 3 * self.interval_s + 1.0
        while self.waits_seen and self._thread.is_alive() and time.monotonic() < deadline:
            with self._lock:
                if self._waits and self._waits[-1][0] >= end:
                    return
            time.sleep(self.interval_s / 4)


def _at(waits: list[tuple[float, dict[str, int]]], t: float) -> dict[str, float]:
    """Each thread's wait at epoch time t, linear between the two samples around it (a thread born
    between them counts from 0)."""
    lo, hi = 0, len(waits) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if waits[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (ta, a), (tb, b) = waits[lo], waits[hi]
    share = 1.0 if tb <= ta else min(1.0, max(0.0, (t - ta) / (tb - ta)))
    return {p: a.get(p, 0) + (v - a.get(p, 0)) * share for p, v in b.items()}


def bound_sample(sample: Sample, monitor: LoadMonitor) -> None:
    """Record on the sample, its actions and its steps how much the generator's starvation can have
    added (ms); flag it `saturated` when that is more than LEFT_OUT_SHARE of what it measured."""
    if not monitor.waits_seen:
        return
    monitor.settle()
    timed = [s for s in sample.steps if s.at_s is not None]
    if timed:
        for step in timed:
            assert step.at_s is not None
            began = sample.started_at + step.at_s
            step.bound_ms = monitor.wait_ms(began, began + step.duration_s)
        bounds = [s.bound_ms for s in timed]
        if any(b is None for b in bounds):
            return
        for action in sample.actions:
            mine = [s.bound_ms or 0.0 for s in timed if s.action == action.name]
            action.bound_ms = round(sum(mine), 1) if mine else None
        sample.bound_ms = round(sum(b or 0.0 for b in bounds), 1)
    else:  # a Python journey's blocks carry no start: the attempt's whole window
        sample.bound_ms = monitor.wait_ms(sample.started_at, sample.ended_at)
    if sample.bound_ms is not None and sample.duration_s > 0:
        sample.saturated = sample.bound_ms / 1000 > LEFT_OUT_SHARE * sample.duration_s


def measure_load(sample: Sample, monitor: LoadMonitor, began: float) -> None:
    """The host CPU and the coordinator's worst lag over the attempt (`began`: monotonic), and its bounds."""
    sample.host_cpu, sample.driver_lag_ms = monitor.window(began, time.monotonic())
    bound_sample(sample, monitor)

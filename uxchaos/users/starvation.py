"""How loaded the machine was during each attempt, and how much the load generator's own starvation
can have added to what it timed.

A `LoadMonitor` thread samples, every 100 ms: the host CPU (/proc/stat deltas), the lateness of its
own timer (the coordinator's lag: the GIL, the scheduler), and the run-queue wait of the generator's
threads. The last one is the bound this module is for.

Why the run-queue wait. Host CPU counts the system under test too (the demo app and its database
share this host: one user alone shows ~90%), and a late timer says how late uxchaos's Python was, not
how much that changed a step — 140 ms matter to a 0.1 s step and hardly to a 3 s one. What the
generator's starvation can add to a step is time when a thread on the step's chain of work was ready
to run but waited for a core. Linux counts exactly that per thread: the second field of
/proc/<pid>/task/<tid>/schedstat (nanoseconds spent runnable on a run queue).

Which threads. A step's chain runs from the user's journey thread in this process through its
Playwright driver (node; for shared local users also the browser server's node), Chromium's browser
process (its UI and IO threads), its network service and the page's renderer, and back. The bound of
a step is the wait, over its window (interpolated between samples), of: the user's own journey
thread; the two node processes that waited most; the browser process's UI and IO threads; the network
service; the renderer that waited most — at most the step's own time. Whenever the step's chain was
held up for a core, one of these was waiting, so it is an upper bound (they may wait at the same
time; the shared browser's waits for other users' work count too). Not counted: this process's other
threads (this monitor, loops polling for Ctrl-C, a proxy), Chromium's GPU, compositor and thread-pool
threads and other renderers — they wake on timers of their own, and on a busy host they wait for a
core without being on the step's path (summing every generator thread's wait instead put seconds of
"bound" on a `sleep` step, with the journey idle). Nor a thread waiting for Python's
GIL (the coordinator's lag, recorded beside it, shows that). benchmarks/starvation.py compares the
bound with what a CPU burner really adds.

An attempt of virtual users is left out of the statistics (flagged `saturated`) when its bound is more
than `LEFT_OUT_SHARE` of the time it measured; otherwise it is kept, and the reports show its bound. A
run's single sequential user gets its bounds too, shown and said in the verdicts, but is never left
out: it is the reference a bare script would measure, and nothing of the generator competes with it."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator

from uxchaos.results.records import Sample

MONITOR_INTERVAL_S = 0.1
PROCESS_REFRESH_S = 1.0  # how often the generator's processes and threads are listed again
GENERATOR_NAMES = ("node", "chrom", "headless")  # process names (comm) of Playwright drivers and Chromium
WAIT_HISTORY_S = 300.0  # per-thread samples kept: an attempt is bounded as soon as it ends
BROWSER_THREADS = ("CrBrowserMain", "Chrome_IOThread")  # the browser process's threads every message crosses
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


def _role(pid: int, comm: str) -> str | None:
    """What a descendant process is to a step's chain of work: a node process (a Playwright driver or
    the browser server), a renderer, Chromium's network service or its browser process; None: not on
    the chain (the GPU process, zygotes, storage, the target's processes)."""
    if comm.startswith("node"):
        return f"node:{pid}"
    if not comm.startswith(GENERATOR_NAMES):
        return None
    args = (_read(f"/proc/{pid}/cmdline") or "").split("\0")
    kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), "")
    if kind == "renderer":
        return f"renderer:{pid}"
    if kind == "utility" and any("NetworkService" in a for a in args):
        return "network"
    return "browser" if kind == "" else None


def generator_threads(pid: int | None = None) -> dict[str, str]:
    """The schedstat files of the threads a step's chain of work can pass through, with their role:
    this process's journey threads ("journey:<tid>"), every thread of each node process and renderer
    ("node:<pid>", "renderer:<pid>") and of the network service ("network"), and the browser
    process's UI and IO threads ("browser")."""
    root = pid or os.getpid()
    threads = {f"/proc/{root}/task/{tid}/schedstat": f"journey:{tid}" for tid in sorted(_journey_threads)}
    for kid in _descendants(root):
        role = _role(kid, (_read(f"/proc/{kid}/comm") or "").strip().lower())
        for tid in _list(f"/proc/{kid}/task") if role else []:
            if role == "browser" and (_read(f"/proc/{kid}/task/{tid}/comm") or "").strip() not in BROWSER_THREADS:
                continue
            threads[f"/proc/{kid}/task/{tid}/schedstat"] = role or ""
    return threads


class LoadMonitor:
    """Samples host CPU, its own timer's lateness and the generator's run-queue wait, from its own thread."""

    def __init__(self, interval_s: float = MONITOR_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._ticks: deque[tuple[float, int, int, float]] = deque(maxlen=200_000)  # (mono, busy, total, lag s)
        # (epoch s, each generator thread's run-queue wait so far in ns), the last WAIT_HISTORY_S
        self._waits: deque[tuple[float, dict[str, int]]] = deque(maxlen=int(WAIT_HISTORY_S / interval_s))
        self._roles: dict[str, str] = {}  # each thread's role on a step's chain (generator_threads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="uxchaos-load-monitor", daemon=True)
        self._lock = threading.Lock()
        self.waits_seen = os.path.exists("/proc/self/schedstat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # never started when the users' browsers failed to start
            self._thread.join(2.0)

    def _loop(self) -> None:
        last = cpu_ticks()
        paths: dict[str, str] = {}
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
                    with self._lock:
                        self._roles.update(paths)
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
                        self._roles.pop(p, None)
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

    def wait_ms(self, t0: float, t1: float, tid: int | None = None) -> float | None:
        """The bound of what the generator's starvation can have added between two epoch times (ms) to
        the chain of work of the journey thread `tid` (None: the journey thread that waited most);
        waits interpolated between samples; at most the window itself. None when the samples do not
        cover the window."""
        with self._lock:
            waits, roles = list(self._waits), dict(self._roles)
        if len(waits) < 2 or waits[0][0] > t0 or waits[-1][0] < t1:
            return None
        start, end = _at(waits, t0), _at(waits, t1)
        per_role: dict[str, float] = {}
        for p, v in end.items():
            role = roles.get(p, "")
            per_role[role] = per_role.get(role, 0.0) + max(0.0, v - start.get(p, 0.0))
        bound_ns = chain_wait_ns(per_role, tid)
        return round(min(bound_ns / 1e6, (t1 - t0) * 1000), 1)

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


def chain_wait_ns(per_role: dict[str, float], tid: int | None) -> float:
    """The run-queue wait one step's chain can have met, from each role's wait in its window: its own
    journey thread's; the two node processes that waited most (its Playwright driver, and the browser
    server of shared local users — which node is its driver is not known, so the busiest stand for it);
    the browser process's UI and IO threads and the network service (shared by every user); the
    renderer that waited most (its page's is one of them)."""
    def top(prefix: str, n: int) -> float:
        return sum(sorted((v for k, v in per_role.items() if k.startswith(prefix)), reverse=True)[:n])

    own = per_role.get(f"journey:{tid}", 0.0) if tid is not None else top("journey:", 1)
    return own + top("node:", 2) + per_role.get("browser", 0.0) + per_role.get("network", 0.0) + top("renderer:", 1)


def bound_sample(sample: Sample, monitor: LoadMonitor, tid: int | None = None, judge: bool = True) -> None:
    """Record on the sample, its actions and its steps how much the generator's starvation can have
    added (ms); with `judge`, flag it `saturated` when that is more than LEFT_OUT_SHARE of what it measured."""
    if not monitor.waits_seen:
        return
    monitor.settle()
    timed = [s for s in sample.steps if s.at_s is not None]
    if timed:
        for step in timed:
            assert step.at_s is not None
            began = sample.started_at + step.at_s
            step.bound_ms = monitor.wait_ms(began, began + step.duration_s, tid)
        bounds = [s.bound_ms for s in timed]
        if any(b is None for b in bounds):
            return
        for action in sample.actions:
            mine = [s.bound_ms or 0.0 for s in timed if s.action == action.name]
            action.bound_ms = round(sum(mine), 1) if mine else None
        sample.bound_ms = round(sum(b or 0.0 for b in bounds), 1)
    else:  # a Python journey's blocks carry no start: the attempt's whole window
        sample.bound_ms = monitor.wait_ms(sample.started_at, sample.ended_at, tid)
    if judge and sample.bound_ms is not None and sample.duration_s > 0:
        sample.saturated = sample.bound_ms / 1000 > LEFT_OUT_SHARE * sample.duration_s


def measure_load(sample: Sample, monitor: LoadMonitor, began: float, judge: bool = True) -> None:
    """The host CPU and the coordinator's worst lag over the attempt (`began`: monotonic), and its bounds;
    called on the thread that ran the attempt. `judge`: leave it out when its bound is material (virtual
    users); a run's single sequential user is the reference measurement and is only qualified by it."""
    sample.host_cpu, sample.driver_lag_ms = monitor.window(began, time.monotonic())
    bound_sample(sample, monitor, threading.get_native_id(), judge)

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
Playwright driver (node), the Chromium that driver started (each local user has its own: the browser
process, its network service and the page's renderer), and back. Of each, the threads that relay the
step's work: the driver's main thread (the user's own when known — own_driver; else the two node
processes that waited most), the browser's and the network service's main and IO threads, the main,
IO and compositor threads of the page's renderer (of its browser's renderers started while the
attempt opened its context and page, the one that waited most; when none is known, of all its
browser's). Whose browser a process is, is read from the process tree (processes.owners). Not
counted: thread pools (V8's and libuv's workers, Chromium's ThreadPool*), raster and GPU threads,
other renderers, this process's other threads — they run beside the chain, and summing their waits
counted the same moment several times: the former rule (every thread of each node process, every
Chromium process's IO thread) put 230–411 ms on 0.3–0.6 s actions of a quiet one-user run — and
missed the renderers and the network service altogether (Chromium's children rewrite their command
line into one space-separated string, so none showed its --type and all were taken for the browser
process).

How much of that wait the generator can have caused (chain_bound_ns), per sampling interval: at most
the interval (the chain is one sequence of work: waits at the same moment delay it once), at most the
chain's wait, and at most the CPU time of everything on the host but the step's own chain and the
target. A chain thread waits only while every core runs something else; what the step's own browser
does beside it (its page's raster and GPU work), and what the target does when it runs on the same
host (the demo's app and database, started here, and the fault proxy's thread), a bare script meets
just the same — they are no distortion of the generator's. Other users' drivers and browsers,
uxchaos's own threads, and any other job on the host (another test, a CPU burner) are: their CPU time
caps the wait that can be theirs. A thread waiting for Python's GIL is not counted (the coordinator's
lag, recorded beside it, shows that). While a step that waits for a navigation has its document at
the server, nothing else of the page in flight (users/at_server.py: from the request's first byte sent
to the answer's first byte), only the network service's wait is counted: the step cannot end before
the answer, and what the browser and the driver do for it meanwhile (the click's reply) only has to
be done before the answer comes — if it is later than that, that part of it is after the span and
counted. benchmarks/starvation.py compares the bound with what a CPU burner really adds.

An attempt of virtual users is left out of the statistics (flagged `saturated`) when its bound is more
than `LEFT_OUT_SHARE` of the time it measured; otherwise it is kept, and the reports show its bound. A
run's single sequential user gets its bounds too, shown and said in the verdicts, but is never left
out: it is the reference a bare script would measure, and nothing of the generator competes with it."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque

from uxchaos.results.records import Sample
from uxchaos.users.at_server import Span, covered_s, server_spans
from uxchaos.users.processes import (
    TARGET_THREADS,
    TICK_NS,
    born,
    chain_threads,
    children,
    cpu_ticks,
    drivers,
    family,
    forget_threads,
    generator_processes,
    generator_threads,
    kind_of,
    owned,
    owner_of,
    owners,
    process_kind,
    read_counter,
    run_ns,
    zygotes,
)

MONITOR_INTERVAL_S = 0.1
PROCESS_REFRESH_S = 1.0  # how often the generator's processes and threads are listed again
WAIT_HISTORY_S = 300.0  # per-thread samples kept: an attempt is bounded as soon as it ends
LEFT_OUT_SHARE = 0.10  # a bound above this share of the attempt's time: left out of the statistics
BUSY_SHARE = 0.02  # a bound above this share of an action's median: the verdict says "busy generator"


class LoadMonitor:
    """Samples host CPU, its own timer's lateness, the run-queue wait of the threads on a step's chain
    and the CPU time of the generator's and the target's processes, from its own thread.

    `shared_browser`: a browser process whose owner is not known (processes.owners) may work for
    several users — there are several local users and a user's driver could not be noted; False (one
    user): the browser and its driver are that user's own, as a bare script's would be."""

    def __init__(self, interval_s: float = MONITOR_INTERVAL_S, shared_browser: bool = False) -> None:
        self.interval_s = interval_s
        self.shared_browser = shared_browser
        self._ticks: deque[tuple[float, int, int, float]] = deque(maxlen=200_000)  # (mono, busy, total, lag s)
        # (epoch s, counters so far in ns), the last WAIT_HISTORY_S: per chain thread its run-queue wait
        # (its schedstat path); "run:<pid>" a process's CPU time, "run:j<tid>" a journey thread's;
        # "host" the CPU time of all cores
        self._waits: deque[tuple[float, dict[str, int]]] = deque(maxlen=int(WAIT_HISTORY_S / interval_s))
        self._roles: dict[str, str] = {}  # each counter's role: a chain role, or "run:<kind>[:<pid>]"
        self._renderers_born: dict[int, float] = {}  # each renderer's start (epoch s)
        self._zygotes: dict[int, int | None] = {}  # the browsers' zygotes (they fork renderers) → owner
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

    def _listing(self) -> dict[str, str]:
        """Every counter to read, with its role."""
        tree = family(os.getpid())
        processes = generator_processes(tree=tree)
        owner = owners(tree)
        counters = generator_threads(processes=processes, owner=owner)
        for role in list(counters.values()):
            if role.startswith("journey:"):
                counters["run:j" + role.split(":", 1)[1]] = "run:" + role
        for thread in threading.enumerate():
            if thread.name.startswith(TARGET_THREADS) and thread.native_id is not None:
                counters[f"run:j{thread.native_id}"] = f"run:target:t{thread.native_id}"
        for kid, kind in processes.items():
            if kind != "other":  # the rest is what the host's CPU has besides these
                counters[f"run:{kid}"] = owned(f"run:{kind}:{kid}", owner.get(kid) if kind != "node" else None)
            if kind == "renderer":
                self._note_renderer(kid)
        self._zygotes = {z: owner.get(z) for z in zygotes(processes)}
        forget_threads(set(processes))
        return counters

    def _new_renderers(self, known: dict[str, str]) -> dict[str, str]:
        """The counters of renderers started since the last reading (children of the browsers' zygotes
        not yet known), with their roles. Read every interval: a page's renderer lives as long as its
        attempt's context, often less than the second between two full listings, and its CPU time,
        never read, would count as other work and its threads' waits as nobody's."""
        new: dict[str, str] = {}
        for zygote, owner in self._zygotes.items():
            for kid in children(zygote):
                if f"run:{kid}" in known or process_kind(kid, "") != "renderer":
                    continue
                new.update(chain_threads(kid, "renderer", owner))
                new[f"run:{kid}"] = owned(f"run:renderer:{kid}", owner)
                self._note_renderer(kid)
        return new

    def _note_renderer(self, pid: int) -> None:
        """Its start, read again at every listing: pids are reused (32,768 here, and every page
        takes a dozen with its threads)."""
        started = born(pid)
        if started is not None:
            with self._lock:
                self._renderers_born[pid] = started

    def renderers_born(self, t0: float, t1: float) -> set[int]:
        """The renderers that started between two epoch times (give or take a clock tick): those of the
        pages an attempt opened then — with several users, perhaps also another user's."""
        slack = 2 * TICK_NS / 1e9
        with self._lock:
            return {pid for pid, born in self._renderers_born.items() if t0 - slack <= born <= t1 + slack}

    def _read_counter(self, key: str) -> int | None:
        if key == "host":
            ticks = cpu_ticks()
            return ticks[0] * TICK_NS if ticks else None
        if key.startswith("run:j"):
            text = read_counter(f"/proc/self/task/{key[5:]}/schedstat")
            return int(text.split()[0]) if text else None
        if key.startswith("run:"):
            return run_ns(int(key[4:]))
        text = read_counter(key)
        return int(text.split()[1]) if text else None

    def _loop(self) -> None:
        last = cpu_ticks()
        paths: dict[str, str] = {}
        listed: float | None = None  # the last listing, monotonic s
        listed_at = 0.0  # the last listing, epoch s
        # Each counter's value when first seen; -1: counted from its first reading (there before the
        # monitor; the CPU time of a process found later, so that what it ran before it was listed is not
        # taken for the step's own work — which could only make the others' share look smaller); 0: a
        # chain thread born since the last listing, its wait spread over the samples since then below,
        # and a renderer found at its zygote within an interval or two of its start (its CPU time too).
        base: dict[str, int] = {}
        current: dict[str, int] = {}  # each counter counted so far; an ended thread keeps its last
        ended: dict[str, float] = {}  # ended threads: when (monotonic) they were first missed
        target = time.monotonic() + self.interval_s
        while not self._stop.wait(max(0.0, target - time.monotonic())):
            now = time.monotonic()
            lag = max(0.0, now - target)
            ticks = cpu_ticks()
            if self.waits_seen:
                fresh: set[str] = set()
                if listed is None or now - listed >= PROCESS_REFRESH_S:
                    first, since, listed, listed_at = listed is None, listed_at, now, time.time()
                    paths = {"host": "host", **self._listing()}
                    with self._lock:
                        self._roles.update(paths)
                    fresh = set() if first else {p for p in paths.keys() - base.keys() if p.startswith("/")}
                    base = {p: base.get(p, 0 if p in fresh else -1) for p in paths}
                    for p in current.keys() - base.keys():
                        ended.setdefault(p, now)
                elif self._zygotes:
                    new = self._new_renderers(paths)
                    if new:
                        since = self._waits[-1][0] if self._waits else listed_at
                        paths.update(new)
                        with self._lock:
                            self._roles.update(new)
                        fresh = set(new)
                        base.update(dict.fromkeys(new, 0))
                for p in paths:
                    value = self._read_counter(p)
                    if value is not None:
                        if base[p] < 0:
                            base[p] = value
                        current[p] = value - base[p]
                        ended.pop(p, None)
                    elif p in current:
                        ended.setdefault(p, now)
                for p in [p for p, when in ended.items() if now - when > WAIT_HISTORY_S]:
                    del ended[p], current[p]  # gone long enough: no window reaches back to it
                    with self._lock:
                        self._roles.pop(p, None)
                stamp = time.time()
                with self._lock:
                    if fresh:
                        self._spread({p: current[p] for p in fresh if p in current}, since, stamp)
                    self._waits.append((stamp, dict(current)))
            if ticks is not None and last is not None:
                with self._lock:
                    self._ticks.append((now, ticks[0] - last[0], ticks[1] - last[1], lag))
            last = ticks
            target = now + self.interval_s

    def _spread(self, fresh: dict[str, int], since: float, now: float) -> None:
        """The wait of threads born since the last listing (epoch `since`) and first read at `now`,
        spread evenly over the samples from the thread's start: when in that time it waited is not
        known, and an even spread gives the per-interval bound (wait_ms) its largest value for the wait
        it had. The CPU time of a process born since then (a page's renderer, found within an interval
        of its start) is spread the same way: when in those one or two intervals it ran is no more known
        than when within one interval any counter grew."""
        for p, v in fresh.items():
            started = started_at(p)
            start = max(since, started) if started is not None else since
            if now <= start:
                continue
            for t, values in self._waits:
                if t > start:
                    values[p] = round(v * min(1.0, (t - start) / (now - start)))

    def window(self, t0: float, t1: float) -> tuple[float | None, float | None]:
        """(CPU busy fraction, worst lag in ms) between two monotonic times; the next sample when
        the window is shorter than one interval."""
        with self._lock:
            inside = [t for t in self._ticks if t0 <= t[0] <= t1 + self.interval_s]
        if not inside:
            return None, None
        busy, total = sum(t[1] for t in inside), sum(t[2] for t in inside)
        return (round(busy / total, 3) if total else None), round(max(t[3] for t in inside) * 1000, 1)

    def wait_ms(self, t0: float, t1: float, tid: int | None = None, renderers: set[int] | None = None,
                server: list[Span] | None = None) -> float | None:
        """The bound of what the generator's starvation can have added between two epoch times (ms) to
        the chain of work of the journey thread `tid` (None: the journey thread that waited most): per
        sampling interval, the least of the interval, the wait of the chain's threads and the CPU time
        that neither the step's own chain nor the target used (chain_bound_ns); counters interpolated
        between samples. `renderers`: those the attempt's page can be in (renderers_born); `server`:
        the spans when the step waited for the server alone (at_server.server_spans). None when the
        samples do not cover the window."""
        with self._lock:
            waits, roles = list(self._waits), dict(self._roles)
        if len(waits) < 2 or waits[0][0] > t0 or waits[-1][0] < t1:
            return None
        points = [(t0, _at(waits, t0))] + [w for w in waits if t0 < w[0] < t1] + [(t1, _at(waits, t1))]
        driver = drivers.get(tid) if tid is not None else None
        bound_ns = 0.0
        for (ta, a), (tb, b) in itertools.pairwise(points):
            per_role: dict[str, float] = {}
            for p, v in b.items():
                role = roles.get(p, "")
                per_role[role] = per_role.get(role, 0.0) + max(0.0, v - a.get(p, 0.0))
            at_server_ns = covered_s(server, ta, tb) * 1e9 if server else 0.0
            bound_ns += chain_bound_ns(per_role, (tb - ta) * 1e9, tid, driver, self.shared_browser, renderers,
                                       at_server_ns)
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


def started_at(counter: str) -> float | None:
    """When a counter's thread ("/proc/<pid>/task/<tid>/schedstat") or process ("run:<pid>") started."""
    parts = counter.split("/")
    if len(parts) > 4 and parts[2].isdigit() and parts[4].isdigit():
        return born(int(parts[2]), int(parts[4]))
    if counter.startswith("run:") and counter[4:].isdigit():
        return born(int(counter[4:]))
    return None


def _at(waits: list[tuple[float, dict[str, int]]], t: float) -> dict[str, float]:
    """Each counter at epoch time t, linear between the two samples around it (a thread born
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


def other_drivers(driver: int) -> set[int]:
    """The Playwright drivers (pids) of the users other than the one whose driver is `driver`."""
    return {pid for pid in drivers.values() if pid != driver}


def chain_wait_ns(per_role: dict[str, float], tid: int | None, driver: int | None = None,
                  renderers: set[int] | None = None) -> float:
    """The run-queue wait one step's chain can have met, from each role's wait: its own journey
    thread's; its own Playwright driver's (with any node process that is no other user's driver: a
    browser server started here) — or, when its driver is not known, the two node processes that waited most;
    its browser process's and network service's (its_own); the renderer that waited most of those its
    page can be in (`renderers`: started while the attempt opened its page, not another user's), or
    when none of them is known, of all its browser's."""
    def top(prefix: str, n: int) -> float:
        return sum(sorted((v for k, v in per_role.items() if k.startswith(prefix)), reverse=True)[:n])

    own = per_role.get(f"journey:{tid}", 0.0) if tid is not None else top("journey:", 1)
    if driver is not None:
        others = {f"node:{pid}" for pid in other_drivers(driver)}
        nodes = sum(v for k, v in per_role.items() if k.startswith("node:") and k not in others)
    else:
        nodes = top("node:", 2)
    pages = its_own(per_role, "renderer", driver)
    mine = [v for k, v in pages.items() if renderer_pid(k) in (renderers or ())]
    renderer = max(mine) if mine else max(pages.values(), default=0.0)
    return (own + nodes + sum(its_own(per_role, "browser", driver).values())
            + sum(its_own(per_role, "network", driver).values()) + renderer)


def its_own(per_role: dict[str, float], kind: str, driver: int | None) -> dict[str, float]:
    """The roles of one kind of Chromium process that a step's chain passes through: those of the
    user's own browser (its driver started it: processes.owners) when it has one; else those whose
    owner is not known — a browser shared by several users, or a single user's whose driver was not
    noted; every one of that kind when the step's driver is not known."""
    roles = {k: v for k, v in per_role.items() if kind_of(k) == kind}
    if driver is None:  # whose the step is, is not known: any browser's may be its
        return roles
    mine = {k: v for k, v in roles.items() if owner_of(k) == driver}
    return mine or {k: v for k, v in roles.items() if owner_of(k) is None}


def renderer_pid(role: str) -> int:
    """"renderer:<pid>[@<driver>]" → pid."""
    return int(role.split("@", 1)[0].split(":", 1)[1])


def chain_bound_ns(per_role: dict[str, float], interval_ns: float, tid: int | None, driver: int | None = None,
                   shared_browser: bool = True, renderers: set[int] | None = None, at_server_ns: float = 0.0
                   ) -> float:
    """What the generator's starvation can have added to one step's chain in one sampling interval: the
    least of (a) the interval itself — the chain is one sequence of work, so its delay is at most the
    time during which one of its threads waited, however many waited at once; (b) the chain's threads'
    wait (chain_wait_ns); (c) the CPU time in the interval of everything on the host but the step's own
    chain and the target. (c) because a chain thread waits only while every core runs something else,
    and the moments when one of them runs the generator's other work (other users' pages and drivers,
    a shared browser's work for them, uxchaos's own threads) or another job (a CPU burner, another test)
    add up to no more than that work's CPU time. The step's own browser work (its page's raster and
    GPU threads competing with its main thread) is what a bare script or a user's own browser meets
    too, and the target's CPU — on this host only because the demo runs here — is the target's: neither
    is the generator's distortion. A user's driver and the browser it started are its own, another
    user's are others' work (processes.owners). A browser whose owner is not known — shared by several
    users (`shared_browser`), or the one browser of a single user whose driver was not noted — counts as
    others' work when shared (their share for this user is not known), as the user's own when not; so do
    the drivers not known to be this user's.
    `at_server_ns`: the part of the interval in which the step waited for its navigation's document
    at the server, nothing else of the page in flight (users/at_server.py); there only the network
    service's wait can add to it. When in the interval the chain's threads waited is not known, so the
    rest of the interval takes what it can hold of the wait, and the part at the server the network
    service's wait on top."""
    wait = chain_wait_ns(per_role, tid, driver, renderers)
    if wait <= 0:
        return 0.0
    own_keys = {f"run:journey:{tid}"} if tid is not None else set()
    if driver is not None:
        own_keys.add(f"run:node:{driver}")
    theirs = {f"run:node:{pid}" for pid in other_drivers(driver)} if driver is not None else set()
    own = 0.0
    target = 0.0
    for role, v in per_role.items():
        if not role.startswith("run:"):
            continue
        if role.startswith("run:target:"):
            target += v
        elif (owner := owner_of(role)) is not None:  # a process of some user's own browser: its, or another's
            own += v if owner == driver else 0.0
        elif role in own_keys or (not shared_browser and not role.startswith("run:journey:") and role not in theirs):
            own += v
    others = max(0.0, per_role.get("host", 0.0) - own - target)
    bound = min(interval_ns, wait, others)
    services = its_own(per_role, "network", driver)
    if at_server_ns <= 0 or not services:  # no network service of its own found: it may run inside
        return bound  # the browser process, whose threads then read the answer
    away = max(0.0, interval_ns - at_server_ns)
    network = sum(services.values())
    return min(bound, min(away, wait, others) + min(at_server_ns, network, others))


def bound_sample(sample: Sample, monitor: LoadMonitor, tid: int | None = None, judge: bool = True,
                 opened: float | None = None) -> None:
    """Record on the sample, its actions and its steps how much the generator's starvation can have
    added (ms); with `judge`, flag it `saturated` when that is more than LEFT_OUT_SHARE of what it measured.
    `opened`: when (epoch s) the attempt began opening its context and page — the renderers started from
    then until its first step are those its page can be in."""
    if not monitor.waits_seen:
        return
    monitor.settle()
    renderers = monitor.renderers_born(opened, sample.started_at) if opened is not None else None
    server = server_spans(sample)
    timed = [s for s in sample.steps if s.at_s is not None]
    if timed:
        for step in timed:
            assert step.at_s is not None
            began = sample.started_at + step.at_s
            # only a step that waited for a navigation waited for its document's answer
            spared = server if step.navigation is not None else None
            step.bound_ms = monitor.wait_ms(began, began + step.duration_s, tid, renderers, spared)
        bounds = [s.bound_ms for s in timed]
        if any(b is None for b in bounds):
            return
        for action in sample.actions:
            mine = [s.bound_ms or 0.0 for s in timed if s.action == action.name]
            action.bound_ms = round(sum(mine), 1) if mine else None
        sample.generator.bound_ms = round(sum(b or 0.0 for b in bounds), 1)
    else:  # a Python journey's blocks carry no start: the attempt's whole window
        sample.generator.bound_ms = monitor.wait_ms(sample.started_at, sample.ended_at, tid, renderers)
    generator = sample.generator
    if judge and generator.bound_ms is not None and sample.duration_s > 0:
        generator.saturated = generator.bound_ms / 1000 > LEFT_OUT_SHARE * sample.duration_s


def measure_load(sample: Sample, monitor: LoadMonitor, began: float, judge: bool = True) -> None:
    """The host CPU and the coordinator's worst lag over the attempt (`began`: monotonic), and its bounds;
    called on the thread that ran the attempt. `judge`: leave it out when its bound is material (virtual
    users); a run's single sequential user is the reference measurement and is only qualified by it."""
    sample.generator.host_cpu, sample.generator.driver_lag_ms = monitor.window(began, time.monotonic())
    opened = time.time() - (time.monotonic() - began)
    bound_sample(sample, monitor, threading.get_native_id(), judge, opened)

"""The load generator judged by what its starvation can distort (users/starvation.py,
analysis/busy.py): the run-queue wait of its threads bounds each step, attempts are left out only
when that bound is a material share of their time, and the reports say how many and why. Real
threads and processes, /proc's real counters, real Chromium on the real demo; CPU burners are child
processes pinned with sched_setaffinity, bounded in time and stopped by their PID. Bounds are
generous: 2 shared cores."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scenario_builder import write_scenario
from test_run import only_run_dir, run_cli
from test_users import samples_of

from uxchaos.analysis.busy import HOST_CPU_GAP, qualify
from uxchaos.analysis.stats import compare
from uxchaos.analysis.summary import analyze
from uxchaos.demo.login import open_action
from uxchaos.report.markdown import render_markdown
from uxchaos.results.records import ActionTiming, GeneratorState, Sample, StepTiming
from uxchaos.results.rundata import RunData
from uxchaos.users import processes as generator
from uxchaos.users.processes import generator_threads, journey_thread
from uxchaos.users.starvation import LEFT_OUT_SHARE, LoadMonitor, bound_sample

BURN = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < end: pass\n"


@contextlib.contextmanager
def burners(count: int, cores: set[int], seconds: float) -> Iterator[list[int]]:
    """`count` busy-looping processes pinned to `cores`, each ending by itself after `seconds`, and
    stopped by PID on the way out."""
    procs = [subprocess.Popen([sys.executable, "-c", BURN, str(seconds)]) for _ in range(count)]
    try:
        for p in procs:
            os.sched_setaffinity(p.pid, cores)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            p.wait(10)


def _spin(seconds: float, core: int) -> None:
    """A journey thread's busy work on one core."""
    with journey_thread():
        os.sched_setaffinity(0, {core})  # this thread only
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass


def test_a_starved_thread_of_the_generator_shows_as_wait() -> None:
    """A thread of this process spinning on a core shared with three burners waits for the core most
    of the time: the monitor's bound over its window says so; the burners themselves are not counted."""
    monitor = LoadMonitor()
    monitor.start()
    time.sleep(0.5)  # its first samples: a window is bounded only once samples surround it
    try:
        with burners(3, {0}, 20.0) as pids:
            assert not any(f"/proc/{pid}/" in p for p in generator_threads() for pid in pids)
            t0 = time.time()
            spinner = threading.Thread(target=_spin, args=(1.5, 0))
            spinner.start()
            spinner.join()
            t1 = time.time()
        monitor.settle()
        starved = monitor.wait_ms(t0, t1)
    finally:
        monitor.stop()
    assert starved is not None
    # Alone on the core with three burners, the spinning thread runs about a quarter of the time.
    assert starved > 0.4 * (t1 - t0) * 1000, starved


@pytest.mark.browser
def test_the_chain_is_found_in_a_real_browser_and_the_target_is_told_apart(tmp_path: Path) -> None:
    """A real Chromium under Playwright: its renderers, network service and browser process are told
    apart (their children's command lines are one space-separated string), their main and IO threads are
    the chain, the journey thread's own driver is noted, and a database server started here and the
    fault proxy's thread are the target's, not the generator's."""
    from uxchaos.browser.session import BrowserSession
    from uxchaos.demo.db import PostgresServer
    from uxchaos.proxy import ProxyHub

    db = PostgresServer()
    db.start()
    hub = ProxyHub()  # the fault proxy's loop: a thread of this process, on the target's path
    monitor = LoadMonitor()
    try:
        with journey_thread(), BrowserSession() as session:
            monitor.start()
            generator.own_driver(session)
            session.new_context().new_page().goto("data:text/html,<p>an earlier page</p>")
            time.sleep(1.5)
            opened = time.time()
            page = session.new_context().new_page()
            page.goto("data:text/html,<p>hello</p>")
            started = time.time()
            processes = generator.generator_processes()
            threads = generator_threads(processes=processes, owner=generator.owners())
            driver = generator.drivers.get(threading.get_native_id())
            # Which renderer is the page's: the one whose CPU time grows while the page spins.
            renderers = [pid for pid, kind in processes.items() if kind == "renderer"]
            cpu = {pid: generator.run_ns(pid) or 0 for pid in renderers}
            page.evaluate("() => { const end = performance.now() + 400; while (performance.now() < end); }")
            spun = max(renderers, key=lambda pid: (generator.run_ns(pid) or 0) - cpu[pid])
            time.sleep(1.5)  # the monitor lists processes every second
            candidates = monitor.renderers_born(opened, started)
            counters = monitor._listing()
    finally:
        monitor.stop()
        hub.close()
        db.stop()
    assert counters.get(f"run:j{hub._thread.native_id}", "").startswith("run:target:"), counters
    # The page's renderer started while its context and page were opened; the earlier page's did not.
    assert spun in candidates and len(candidates) < len(renderers), (spun, candidates, renderers)
    kinds = set(processes.values())
    assert {"node", "browser", "renderer", "network", "chromium", "target"} <= kinds, processes
    assert driver is not None and processes[driver] == "node"
    roles = set(threads.values())
    assert f"journey:{threading.get_native_id()}" in roles and f"node:{driver}" in roles
    # The browser its own driver started, and that browser's children, are this user's (owners).
    assert {f"browser@{driver}", f"network@{driver}"} <= roles, roles
    assert any(r.startswith("renderer:") and r.endswith(f"@{driver}") for r in roles), roles
    assert counters.get(f"run:{spun}") == f"run:renderer:{spun}@{driver}", counters
    # Not the chain: the GPU process, thread pools, the target.
    chain_pids = {int(path.split("/")[2]) for path in threads}
    assert not any(processes.get(pid) in ("chromium", "target") for pid in chain_pids)
    names = {(_read_comm(path)) for path in threads if path.startswith("/proc/") and "ThreadPool" in _read_comm(path)}
    assert not names


@pytest.mark.browser
def test_a_short_lived_pages_renderer_is_read_from_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's renderer lives as long as its attempt's context, often less than the second between two
    listings of every process. The monitor reads the browsers' zygotes every interval, so it finds the
    renderer anyway — the user's own — and counts its CPU time from its start. (Here the full listing
    comes once, at the start: only the reading of the zygotes can find the page's renderer.)"""
    from uxchaos.browser.session import BrowserSession
    from uxchaos.users import starvation

    monkeypatch.setattr(starvation, "PROCESS_REFRESH_S", 600.0)
    with journey_thread(), BrowserSession() as session:
        generator.own_driver(session)
        driver = generator.drivers[threading.get_native_id()]
        session.new_context().close()  # the zygotes are there before the monitor's one listing
        monitor = LoadMonitor()
        monitor.start()
        try:
            time.sleep(0.5)
            before = {pid for pid, kind in generator.generator_processes().items() if kind == "renderer"}
            context = session.new_context()
            page = context.new_page()
            page.goto("data:text/html,<p>hello</p>")
            new = {pid for pid, kind in generator.generator_processes().items() if kind == "renderer"} - before
            cpu = {pid: generator.run_ns(pid) or 0 for pid in new}
            page.evaluate("() => { const end = performance.now() + 300; while (performance.now() < end); }")
            # the page's renderer: the new one whose CPU time grew while the page spun
            renderer = max(new, key=lambda pid: (generator.run_ns(pid) or 0) - cpu[pid])
            ran = generator.run_ns(renderer) or 0
            time.sleep(0.3)  # read again by the monitor, still alive
            context.close()
            time.sleep(0.2)
            with monitor._lock:
                roles, last = dict(monitor._roles), monitor._waits[-1][1]
        finally:
            monitor.stop()
    assert roles.get(f"run:{renderer}") == f"run:renderer:{renderer}@{driver}", roles
    assert f"/proc/{renderer}/task/{renderer}/schedstat" in roles, roles  # its main thread: the chain's
    # its CPU time counted from its start: all it had run by the end of the spin, to a clock tick
    assert ran > cpu[renderer] and last.get(f"run:{renderer}", 0) >= ran - generator.TICK_NS, (last, ran)


def test_a_burner_is_other_work_and_the_demos_processes_are_the_target() -> None:
    """A CPU burner started here counts against the generator (its CPU can be what a chain thread waited
    for); a process of the demo (its module on the command line) is the target's."""
    burner = subprocess.Popen([sys.executable, "-c", BURN, "20"])
    demo = subprocess.Popen([sys.executable, "-c", BURN, "20", "uxchaos.demo.app:app"])
    try:
        time.sleep(0.2)
        kinds = generator.generator_processes()
        counters = LoadMonitor()._listing()
    finally:
        for proc in (burner, demo):
            proc.kill()
            proc.wait(10)
    assert kinds[burner.pid] == "other" and kinds[demo.pid] == "target", kinds
    # The burner's CPU is not read on its own: it is in the host's, and nothing takes it out of "others".
    assert f"run:{burner.pid}" not in counters and counters[f"run:{demo.pid}"] == f"run:target:{demo.pid}"


def _read_comm(schedstat: str) -> str:
    return (generator.read_proc(schedstat.replace("schedstat", "comm")) or "").strip()


def _monitor_with(waits: list[tuple[float, dict[str, int]]], roles: dict[str, str] | None = None,
                  shared_browser: bool = True) -> LoadMonitor:
    """A monitor whose samples are given (its thread never started): the arithmetic alone. Unless the
    samples say otherwise, the host's CPU is busy with other work all along (two cores' worth)."""
    monitor = LoadMonitor(shared_browser=shared_browser)
    monitor._waits = deque((t, {"host": int(t * 2e9), **w}) for t, w in waits)
    monitor._roles = {"host": "host", **(roles or {p: "journey:1" for _, w in waits for p in w})}
    monitor.settle = lambda: None  # type: ignore[method-assign]
    return monitor


def test_the_bound_follows_one_chain_interpolated_and_at_most_the_window() -> None:
    # Per second of wait (ms): what each thread waits, and its role on a step's chain.
    per_s = {"j1": (100, "journey:1"), "j2": (700, "journey:2"),  # another user's thread: not this chain
             "n1": (50, "node:10"), "n2": (30, "node:11"), "n3": (20, "node:12"),  # the two busiest nodes count
             "b": (40, "browser"), "net": (10, "network"),
             "r1": (60, "renderer:20"), "r1b": (15, "renderer:20"), "r2": (50, "renderer:21")}  # busiest renderer
    waits = [(float(t), {p: t * ms * 1_000_000 for p, (ms, _) in per_s.items()}) for t in range(0, 5)]
    monitor = _monitor_with(waits, {p: role for p, (_, role) in per_s.items()})
    chain = 100 + 50 + 30 + 40 + 10 + 75
    assert monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(chain)
    assert monitor.wait_ms(1.25, 1.5, tid=1) == pytest.approx(chain / 4, abs=0.1)  # interpolated, to 0.1 ms
    assert monitor.wait_ms(1.0, 2.0, tid=2) == pytest.approx(chain - 100 + 700)
    assert monitor.wait_ms(3.0, 9.0, tid=1) is None  # not covered yet
    busy = _monitor_with([(float(t), {"j": t * 900_000_000, "n": t * 900_000_000}) for t in range(0, 5)],
                         {"j": "journey:1", "n": "node:3"})
    assert busy.wait_ms(1.0, 1.5, tid=1) == pytest.approx(500.0)  # never more than the window itself


def test_waits_at_the_same_time_count_once_per_interval() -> None:
    # Four chain threads each waiting 80 ms of every 100 ms interval: they waited at the same time, so the
    # chain can have been held up at most 100 ms per interval, not 320.
    waits = [(t / 10, {p: t * 80_000_000 for p in ("j", "n", "b", "r")}) for t in range(0, 30)]
    monitor = _monitor_with(waits, {"j": "journey:1", "n": "node:2", "b": "browser", "r": "renderer:3"})
    assert monitor.wait_ms(0.5, 1.5, tid=1) == pytest.approx(1000.0)
    half = [(t / 10, {p: t * 20_000_000 for p in ("j", "n")}) for t in range(0, 30)]
    assert _monitor_with(half, {"j": "journey:1", "n": "node:2"}).wait_ms(0.5, 1.5, tid=1) == pytest.approx(400.0)


def test_only_what_others_ran_can_have_starved_a_step() -> None:
    """A chain thread waits while every core runs something else. The step's own browser work and the
    target's are not the generator's distortion; other work (other users, uxchaos's own threads, other
    jobs) is, up to its CPU time."""
    roles = {"j": "journey:1", "r": "renderer:20", "run:j1": "run:journey:1", "run:20": "run:renderer:20",
             "run:30": "run:browser:30", "run:40": "run:target:40"}

    def monitor(host_ms: int, own_ms: int, browser_ms: int, target_ms: int, shared: bool) -> LoadMonitor:
        # per second: the chain waits 300 ms; the host ran host_ms of CPU, of which the user's own journey
        # thread and renderer own_ms, the browser process browser_ms and the target target_ms
        per_s = {"j": 100, "r": 200, "run:j1": own_ms // 2, "run:20": own_ms // 2, "run:30": browser_ms,
                 "run:40": target_ms}
        samples = [(float(t), {"host": t * host_ms * 1_000_000, **{k: t * v * 1_000_000 for k, v in per_s.items()}})
                   for t in range(0, 5)]
        m = _monitor_with(samples, roles, shared_browser=shared)
        m._waits = deque(samples)
        return m

    # Everything the host ran was the step's own browser work and the target's: nothing of the generator's.
    assert monitor(1000, 400, 200, 400, shared=False).wait_ms(1.0, 3.0, tid=1) == pytest.approx(0.0)
    # 150 ms a second of other work (say uxchaos's own threads): at most that much of the wait.
    assert monitor(1150, 400, 200, 400, shared=False).wait_ms(1.0, 3.0, tid=1) == pytest.approx(300.0)
    # Shared by several users, the browser process's work may be other users': it counts (200 ms + 150).
    assert monitor(1150, 400, 200, 400, shared=True).wait_ms(1.0, 3.0, tid=1) == pytest.approx(600.0)
    # Plenty of other work (a burner): the chain's whole wait.
    assert monitor(2000, 400, 200, 400, shared=False).wait_ms(1.0, 3.0, tid=1) == pytest.approx(600.0)


def test_a_users_own_driver_is_its_chain_and_other_users_drivers_are_not() -> None:
    # Driver 10 is user 1's, 11 user 2's, 12 the browser server's: user 1's chain has 10 and 12.
    per_s = {"j1": (10, "journey:1"), "n10": (50, "node:10"), "n11": (300, "node:11"), "n12": (20, "node:12")}
    waits = [(float(t), {p: t * ms * 1_000_000 for p, (ms, _) in per_s.items()}) for t in range(0, 5)]
    monitor = _monitor_with(waits, {p: role for p, (_, role) in per_s.items()})
    assert monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(10 + 300 + 50)  # unknown: the two busiest
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(generator.drivers, 1, 10)
        mp.setitem(generator.drivers, 2, 11)
        assert monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(10 + 50 + 20)


def test_another_users_driver_is_never_this_users_own_work() -> None:
    # One local user (its browser its own) beside a user whose driver talks to a remote browser: that
    # driver's CPU is other work, which can have starved this user's chain.
    roles = {"j": "journey:1", "run:j1": "run:journey:1", "run:10": "run:node:10", "run:11": "run:node:11"}
    per_s = {"j": 300, "run:j1": 100, "run:10": 100, "run:11": 200}
    samples = [(float(t), {"host": t * 400_000_000, **{k: t * v * 1_000_000 for k, v in per_s.items()}})
               for t in range(0, 5)]
    monitor = _monitor_with(samples, roles, shared_browser=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(generator.drivers, 1, 10)
        mp.setitem(generator.drivers, 2, 11)
        assert monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(200.0)


def test_a_users_own_browser_is_its_chain_and_its_own_work_and_another_users_browser_is_neither() -> None:
    """Each local user's driver starts a Chromium of its own: user 1 (driver 10) waits on its own
    browser, network service and page, never on user 2's (driver 11); its own browser's CPU is not what
    can have starved it, user 2's browser's is."""
    per_s = {"j1": (10, "journey:1"), "n10": (5, "node:10"), "n11": (5, "node:11"),
             "b10": (20, "browser@10"), "net10": (4, "network@10"), "r20": (30, "renderer:20@10"),
             "b11": (300, "browser@11"), "net11": (40, "network@11"), "r21": (400, "renderer:21@11")}
    waits = [(float(t), {p: t * ms * 1_000_000 for p, (ms, _) in per_s.items()}) for t in range(0, 5)]
    monitor = _monitor_with(waits, {p: role for p, (_, role) in per_s.items()})
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(generator.drivers, 1, 10)
        mp.setitem(generator.drivers, 2, 11)
        # the page's renderer not known: the busiest of its own browser's, not user 2's busier one
        assert monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(10 + 5 + 20 + 4 + 30)
        assert monitor.wait_ms(1.0, 2.0, tid=2, renderers={21}) == pytest.approx(5 + 300 + 40 + 400)

    # What can have starved user 1: per second the host ran 700 ms, of which user 1's journey thread,
    # driver and browser 100 + 100 + 300 — theirs — and user 2's browser 200: at most those 200 ms.
    roles = {"j": "journey:1", "b": "browser@10", "run:j1": "run:journey:1", "run:10": "run:node:10",
             "run:30": "run:browser:30@10", "run:31": "run:browser:31@11"}
    per_s_run = {"j": 150, "b": 150, "run:j1": 100, "run:10": 100, "run:30": 300, "run:31": 200}
    samples = [(float(t), {"host": t * 700_000_000, **{k: t * v * 1_000_000 for k, v in per_s_run.items()}})
               for t in range(0, 5)]
    for shared in (True, False):  # whether unowned browser processes may be several users': no matter here
        owned_monitor = _monitor_with(samples, roles, shared_browser=shared)
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(generator.drivers, 1, 10)
            mp.setitem(generator.drivers, 2, 11)
            assert owned_monitor.wait_ms(1.0, 2.0, tid=1) == pytest.approx(200.0)


def test_the_renderer_is_the_pages_when_known() -> None:
    per_s = {"j1": (10, "journey:1"), "r20": (40, "renderer:20"), "r21": (400, "renderer:21")}
    waits = [(float(t), {p: t * ms * 1_000_000 for p, (ms, _) in per_s.items()}) for t in range(0, 5)]
    monitor = _monitor_with(waits, {p: role for p, (_, role) in per_s.items()})
    assert monitor.wait_ms(1.0, 2.0, tid=1, renderers={20}) == pytest.approx(10 + 40)
    assert monitor.wait_ms(1.0, 2.0, tid=1, renderers={20, 21}) == pytest.approx(10 + 400)  # either may be it
    assert monitor.wait_ms(1.0, 2.0, tid=1, renderers={99}) == pytest.approx(10 + 400)  # none seen: the busiest


def _sample(steps: list[tuple[str, float, float]]) -> Sample:
    """steps: (action, start s after the attempt's start, duration s); the attempt starts at epoch 100."""
    timings = [StepTiming(a, i, "click", "x", d, True, at_s=at) for i, (a, at, d) in enumerate(steps)]
    names = dict.fromkeys(a for a, _, _ in steps)
    actions = [ActionTiming(a, sum(d for b, _, d in steps if b == a), True) for a in names]
    total = sum(d for _, _, d in steps)
    return Sample("during", 1, 100.0, 100.0 + total, total, True, actions, timings)


def test_an_attempt_is_left_out_only_when_its_bound_is_a_material_share() -> None:
    # One generator thread waiting 50 ms in each second from epoch 100 on.
    monitor = _monitor_with([(100.0 + t, {"a": t * 50_000_000}) for t in range(0, 20)])
    kept = _sample([("Opening", 0.0, 1.0), ("Logging in", 1.0, 3.0)])
    bound_sample(kept, monitor, 1)
    assert [s.bound_ms for s in kept.steps] == [50.0, 150.0]
    assert [a.bound_ms for a in kept.actions] == [50.0, 150.0] and kept.generator.bound_ms == 200.0
    assert not kept.generator.saturated and not kept.excluded  # 200 ms of 4 s: 5%
    monitor = _monitor_with([(100.0 + t, {"a": t * 300_000_000}) for t in range(0, 20)])
    starved = _sample([("Opening", 0.0, 1.0), ("Logging in", 1.0, 3.0)])
    bound_sample(starved, monitor, 1)
    generator = starved.generator
    assert generator.bound_ms == 1200.0 and generator.saturated and starved.excluded  # 30% > LEFT_OUT_SHARE
    assert LEFT_OUT_SHARE == 0.10


def test_verdict_words_say_a_busy_generator_and_a_busy_host() -> None:
    c = compare([1.0, 1.1, 1.05, 0.98, 1.02, 1.0], [3.0, 3.1, 3.2, 2.9, 3.05, 3.0])
    assert c.verdict == "slower, significant"
    assert qualify(c, 3.0, 20.0, False).verdict == "slower, significant"  # 20 ms of 3 s: small
    assert qualify(c, 3.0, 240.0, False).verdict == "slower, measured on a busy generator (±240 ms)"
    assert qualify(c, 3.0, None, True).verdict == "slower, measured while the host was busy"
    none = compare([], [])
    assert qualify(none, None, None, False, left_out=15).verdict == "too few samples: 15 left out ⌁ (busy generator)"


def _records(phase: str, seconds: float, bound_ms: float, cpu: float, saturated: bool = False) -> list[dict]:
    out = []
    for n in range(1, 9):
        d = seconds * (1 + n / 100)
        out.append(Sample(phase, n, 1000.0 * n, 1000.0 * n + d, d, True,
                          [ActionTiming("Logging in", d, True, bound_ms=bound_ms)],
                          generator=GeneratorState(host_cpu=cpu, bound_ms=bound_ms, saturated=saturated)).to_record())
    return out


def test_reports_show_bounds_host_cpu_and_what_was_left_out(tmp_path: Path) -> None:
    meta = {"scenario": {"name": "s", "journey": [{"action": "Logging in"}],
                         "expect": ['during["Logging in"].p50 < 60s']}}
    # The fault alone moving the during phase's CPU is no sign of another job: no warning.
    quiet = analyze(RunData.from_records(meta, _records("before", 1.0, 30.0, 0.60) + _records("during", 3.0, 30.0, 0.10)
                                         + _records("after", 1.0, 30.0, 0.60)))
    assert quiet.busy is not None and not quiet.busy.host_busy and not quiet.busy.warnings
    records = _records("before", 1.0, 30.0, 0.30) + _records("during", 3.0, 900.0, 0.95, saturated=True) \
        + _records("after", 1.0, 30.0, 0.80)
    run = RunData.from_records(meta, records)
    analysis = analyze(run)
    assert analysis.busy is not None and analysis.busy.host_busy  # after 80% vs before 30%: beyond HOST_CPU_GAP
    assert HOST_CPU_GAP < 0.80 - 0.30
    during = analysis.row("Logging in", "during")
    assert during is not None and during.stats.n == 0
    assert during.vs_before is not None and during.vs_before.verdict == "too few samples: 8 left out ⌁ (busy generator)"
    (e,) = analysis.expectations
    assert e.undecided and not e.passed and "8 of 8 during attempts left out" in e.message
    md = render_markdown(run, analysis)
    assert "## Machine load" in md and "| during | 8 | 95% | 8 | – |" in md and "| before | 8 | 30% | 0 | 30 |" in md
    assert "more than 20 points apart" in md and "8 of 8 during attempt(s) left out" in md
    assert "⚠ too few samples `during[\"Logging in\"].p50 < 60s`" in md and "1 with too few samples" in md
    assert "| Logging in | during | 0 | 8 | 0 | – | – |" in md, md
    # Kept with a large bound: the verdict says so instead of "significant".
    records = _records("before", 1.0, 30.0, 0.50) + _records("during", 3.0, 240.0, 0.55) \
        + _records("after", 1.0, 30.0, 0.5)
    analysis = analyze(RunData.from_records(meta, records))
    during = analysis.row("Logging in", "during")
    assert during is not None and during.stats.n == 8 and during.bound_ms == 240.0
    assert during.vs_before is not None
    assert during.vs_before.verdict == "slower, measured on a busy generator (±240 ms)", during.vs_before.verdict
    assert analysis.expectations[0].passed


# -- real users on the demo -----------------------------------------------------------------------

# The page, then a long pause: the generator is idle most of the attempt, as it is while a real step
# waits for a slow server. The old rule (host CPU ≥ 90% with two users busy) flagged such attempts on
# a loaded host; the bound does not: idle threads wait for no core.
OPEN_AND_WAIT = {"journey": [open_action(wait=True), {"action": "Reading", "steps": [{"sleep": "3s"}]}],
                 "phases": ({"users": 2, "attempts": 2}, 1, 1)}


@pytest.mark.timing
def test_a_starved_generator_leaves_attempts_out_and_says_so(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "e2e", **OPEN_AND_WAIT)
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "calm"))
    assert code == 0, err
    calm = only_run_dir(tmp_path / "calm")
    cores = os.sched_getaffinity(0)
    with burners(4 * len(cores), cores, 300.0):  # four busy loops per core: every runnable thread waits
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "starved"))
    assert code == 0, err
    starved = only_run_dir(tmp_path / "starved")
    for run_dir in (calm, starved):
        for s in samples_of(run_dir):
            # Every step has its bound, and left out means: bound above 10% of the attempt — no other rule.
            assert all(step["bound_ms"] is not None for step in s["steps"]), s["steps"]
            assert s["saturated"] == (s["bound_ms"] / 1000 > LEFT_OUT_SHARE * s["duration_s"]), s
            pause = next(step for step in s["steps"] if step["kind"] == "sleep")
            if s["concurrency"] == 1:  # alone and idle, the generator is not blamed for the host's load
                assert pause["bound_ms"] < 0.3 * pause["duration_s"] * 1000, pause
    calm_before = [s for s in samples_of(calm) if s["phase"] == "before"]
    starved_before = [s for s in samples_of(starved) if s["phase"] == "before"]
    assert len(calm_before) == len(starved_before) == 4

    def share(samples: list[dict[str, Any]]) -> float:
        return statistics.median(s["bound_ms"] / 1000 / s["duration_s"] for s in samples)

    # The burners' starvation shows in the bounds, and it leaves attempts out; the report says how many and why.
    assert share(starved_before) > share(calm_before), (share(calm_before), share(starved_before))
    left_out = sum(s["saturated"] for s in starved_before)
    assert left_out >= 1, [(s["bound_ms"], s["duration_s"]) for s in starved_before]
    report = (starved / "report.md").read_text()
    total = sum(s["saturated"] for s in samples_of(starved))
    assert f"⌁ **{total} attempt(s) were left out**" in report, report
    assert f"{left_out} of 4 before attempt(s) left out: the load generator's starvation" in report, report
    assert f"| Opening the login page | before | {4 - left_out} | {left_out} |" in report, report
    # Unstarved, the same run keeps at least as many (on a quiet machine, all: a busy host alone is not blamed).
    kept = sum(not s["saturated"] for s in calm_before)
    assert kept >= 4 - left_out, [(s["bound_ms"], s["duration_s"]) for s in calm_before]
    calm_report = (calm / "report.md").read_text()
    assert "± generator (ms)" in calm_report and "## Machine load" in calm_report
    assert f"| Opening the login page | before | {kept} | {4 - kept} |" in calm_report, calm_report


@pytest.mark.timing
def test_one_virtual_user_is_bounded_but_never_left_out(tmp_path: Path) -> None:
    """One user through the user pool (`--users 1`, or one remote endpoint) is the reference measurement,
    as a run's single browser is: a starved generator shows in its bounds, and no attempt is left out."""
    path = write_scenario(tmp_path, "e2e", journey=[open_action(wait=True)], phases=(3, 1, 1))
    cores = os.sched_getaffinity(0)
    with burners(4 * len(cores), cores, 300.0):
        code, _, err = run_cli("run", str(path), "--users", "1", "--out", str(tmp_path / "r"))
    assert code == 0, err
    samples = samples_of(only_run_dir(tmp_path / "r"))
    assert all(s["user"] == 1 and s["bound_ms"] is not None for s in samples), samples
    # under four busy loops a core the page's bound is a material share: a second user would leave it out
    assert any(s["bound_ms"] / 1000 > LEFT_OUT_SHARE * s["duration_s"] for s in samples), \
        [(s["bound_ms"], s["duration_s"]) for s in samples]
    assert not any(s["saturated"] for s in samples)

"""Virtual users: many people running the journey at once.

A closed model, `phases.during: {users: 8, attempts: 40, think: 500ms}` — 8 users, each running 40
attempts back to back with 500 ms between two of its attempts: the phase records users × attempts
samples. An open model, `phases.during: {arrival_rate: 2/s, max_users: 8, attempts: 40}` — 40
journeys, one due every 500 ms whether or not earlier ones have finished, each on a free user among 8;
when all 8 are busy the journey waits for one and is recorded as started late (its scheduled start and
lateness are in the sample), since the generator then no longer keeps the rate. Playwright's
sync API is bound to the thread that started it, so each user is one thread with its own Playwright
driver: nothing of Playwright crosses threads. A user's browser is on its endpoint; a local user's
is a Chromium of its own, which its driver starts, as each real user has a browser of their own. That
lets the starvation bound tell one user's browser work from another's (starvation.py), and in the
headless shell it costs no more journeys per second than one Chromium shared through a browser server
(benchmarks/concurrency.py; memory: browser/capacity.py). Each attempt has a fresh browser context, as
a bare script's would. The threads live for the whole run (a `UserPool`), so browsers are
started before the first phase — never while the fault is held — and an unreachable endpoint stops
the run before any fault.

Honest timings under load: a `LoadMonitor` (starvation.py) samples the host CPU, the lateness of its own
timer and the run-queue wait of the generator's threads every 100 ms. Each attempt carries the CPU
busy fraction and the worst lag over its own window, the most users busy at once during it, and per
step the bound of what the generator's starvation can have added (starvation.py says why that measure).
An attempt whose bound is more than 10% of its time is flagged `saturated`: shown, but kept out of the
statistics, like a straddled one; the others stay in, with their bounds.

An endpoint lost mid-run (its browser server died): the attempt in flight fails with the reason,
flagged `endpoint_lost` (kept out of the statistics: it measured the endpoint, not the target); the
user moves to the least loaded endpoint still alive, or — when none is — records its remaining
attempts as failed without running them, so a phase always holds users × attempts samples."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from uxchaos.browser.capacity import local_capacity
from uxchaos.browser.endpoints import LOCAL, Endpoint, parse_endpoint, round_trip_ms
from uxchaos.browser.session import BrowserSession
from uxchaos.errors import BadInput, EnvironmentProblem
from uxchaos.results.records import LATE_MS, GeneratorState, Sample
from uxchaos.users.processes import drivers, journey_thread, own_driver
from uxchaos.users.starvation import LoadMonitor, measure_load

log = logging.getLogger("uxchaos.users.pool")

START_TIMEOUT_S = 120.0


def assign_endpoints(users: int, endpoints: list[Endpoint]) -> list[Endpoint]:
    """Users spread over endpoints, least loaded first (ties: the order given)."""
    load = dict.fromkeys(range(len(endpoints)), 0)
    chosen = []
    for _ in range(users):
        i = min(load, key=lambda k: (load[k], k))
        load[i] += 1
        chosen.append(endpoints[i])
    return chosen


# measure(session, attempt number) → (unrecorded sample, when the engine decided to run it) or None: stop this user
Measure = Callable[[Any, int], "tuple[Sample, float] | None"]
Record = Callable[[Sample, float], None]


@dataclass
class _Slot:
    user: int
    endpoint: Endpoint
    jobs: queue.Queue[Any] = field(default_factory=queue.Queue)
    ready: threading.Event = field(default_factory=threading.Event)
    session: Any = None
    error: BaseException | None = None
    round_trip_ms: float | None = None
    lost: str | None = None  # why this user has no browser any more
    thread: threading.Thread | None = None


class UserPool:
    """N user threads, each with its own Playwright and browser, reused by every phase."""

    def __init__(self, users: int, endpoints: list[Endpoint], headed: bool = False,
                 on_endpoint: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.endpoints = endpoints or [parse_endpoint(LOCAL)]
        self.headed = headed
        self.on_endpoint = on_endpoint or (lambda record: None)
        self.slots = [_Slot(i + 1, ep) for i, ep in enumerate(assign_endpoints(users, self.endpoints))]
        # Each local user's Chromium is its own (its driver started it); a browser process whose owner
        # cannot be told — Playwright's private transport changed — may be any of several users'.
        self.monitor = LoadMonitor(shared_browser=sum(1 for slot in self.slots if slot.endpoint.is_local) > 1)
        self.dead: dict[str, str] = {}  # endpoint url → why
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def _open(self, slot: _Slot, endpoint: Endpoint) -> None:
        session = BrowserSession(self.headed, endpoint=endpoint)
        session.__enter__()
        # this user's steps are bounded by its own driver's and own browser's wait (starvation.py)
        own_driver(session)
        slot.session, slot.endpoint = session, endpoint
        try:
            context = session.new_context()
            try:
                page = context.new_page()
                slot.round_trip_ms = round_trip_ms(page)
            finally:
                context.close()
        except Exception as e:  # a round trip not measured is said, not fatal
            log.warning("no round trip measured on %s: %s", endpoint.url, e)
        # the user's journey thread and driver, for reading the run beside the scheduler's own events
        # (benchmarks/critical_path.py)
        thread = threading.get_native_id()
        self.on_endpoint({"type": "endpoint", "time": time.time(), "user": slot.user, "endpoint": endpoint.url,
                          "protocol": endpoint.protocol, "browser_version": session.version,
                          "round_trip_ms": slot.round_trip_ms, "thread": thread, "driver": drivers.get(thread)})

    def _worker(self, slot: _Slot) -> None:
        with journey_thread():  # its run-queue wait bounds its steps (starvation.py)
            self._serve(slot)

    def _serve(self, slot: _Slot) -> None:
        try:
            self._open(slot, slot.endpoint)
        except BaseException as e:
            slot.error = e
            slot.ready.set()
            return
        slot.ready.set()
        while True:
            item = slot.jobs.get()
            if item is None:
                break
            job, done, errors = item
            try:
                job(slot)
            except BaseException as e:  # handed to the main thread, which stops the run with it
                errors.append(e)
            finally:
                done.set()
        if slot.session is not None:
            slot.session.close()

    def start(self) -> None:
        """Start every user's browser; the first failure (an unreachable endpoint) is raised here."""
        self.monitor.start()
        for slot in self.slots:
            slot.thread = threading.Thread(target=self._worker, args=(slot,), name=f"uxchaos-user-{slot.user}",
                                           daemon=True)
            slot.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        for slot in self.slots:
            while not slot.ready.wait(0.2):  # short waits: Ctrl-C and SIGTERM reach the main thread
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(f"user {slot.user}'s browser on {slot.endpoint.url} did not start "
                                             f"within {START_TIMEOUT_S:g}s")
        failed = [s for s in self.slots if s.error is not None]
        if failed:
            raise failed[0].error  # type: ignore[misc]

    def close(self, wait_s: float = 10.0) -> None:
        """Ask every user to close its browser; threads still inside an attempt (an interrupted run)
        are not waited for beyond `wait_s`: they close their browser when the attempt ends."""
        for slot in self.slots:
            slot.jobs.put(None)
        deadline = time.monotonic() + wait_s
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        self.monitor.stop()

    # -- a phase --------------------------------------------------------------------------------
    def _runner(self, phase: str, measure: Measure, record: Record, stop: threading.Event,
                late: list[Sample]) -> Callable[[_Slot, int, tuple[float, float] | None], bool]:
        """One attempt on a user's browser, recorded: run(slot, number, due) → False when the phase has no
        more attempts (the fault was reverted). `due`: an open model's scheduled start (monotonic, epoch)."""
        from playwright.sync_api import Error as playwright_error

        peaks: dict[int, int] = {}  # user → most users busy at once since its attempt started

        def run(slot: _Slot, number: int, due: tuple[float, float] | None) -> bool:
            began = time.monotonic()
            if slot.lost is not None:
                sample = self._not_run(phase, number, slot)
                self._schedule(sample, due, began, late)
                record(sample, time.time())
                return True
            with self._lock:
                peaks[slot.user] = 0
                for user in peaks:
                    peaks[user] = max(peaks[user], len(peaks))
            try:
                got = measure(slot.session, number)
            except playwright_error as e:  # outside the journey's steps: the browser itself is gone
                if self._alive(slot):
                    raise
                got = self._failed(phase, number, slot, str(e).strip().splitlines()[0]), time.time()
            finally:
                with self._lock:
                    concurrency = peaks.pop(slot.user)
            if got is None:
                return False
            sample, began_at = got
            generator = sample.generator
            generator.user, generator.endpoint, generator.concurrency = slot.user, slot.endpoint.url, concurrency
            # one user alone (a remote endpoint's) is the reference a bare script would measure, as a run's
            # single browser is: bounded and said, never left out
            measure_load(sample, self.monitor, began, judge=len(self.slots) > 1)
            self._schedule(sample, due, began, late)
            if not sample.ok and not self._alive(slot):
                self._lose(slot, sample)
            if stop.is_set():
                return False  # interrupted: the run is ending; an attempt cut short is not a measurement
            record(sample, began_at)
            return True

        return run

    def _schedule(self, sample: Sample, due: tuple[float, float] | None, began: float, late: list[Sample]) -> None:
        if due is None:
            return
        schedule = sample.schedule
        schedule.scheduled_at = round(due[1], 6)
        schedule.late_ms = round(max(0.0, began - due[0]) * 1000, 1)
        schedule.started_late = schedule.late_ms > LATE_MS
        if schedule.started_late:
            with self._lock:
                late.append(sample)

    def run_phase(self, phase: str, users: int, attempts: int, think_s: float, measure: Measure,
                  record: Record) -> None:
        """A closed model: `users` users, each running `attempts` attempts back to back."""
        counter = itertools.count(1)
        stop = threading.Event()
        run = self._runner(phase, measure, record, stop, [])

        def job(slot: _Slot) -> None:
            for i in range(attempts):
                if stop.is_set() or (i and think_s and stop.wait(think_s)):
                    return
                with self._lock:
                    number = next(counter)
                if not run(slot, number, None):
                    return

        self._wait([(slot, job) for slot in self.slots[:users]], stop)

    def run_open_phase(self, phase: str, max_users: int, attempts: int, rate: float, measure: Measure,
                       record: Record) -> list[Sample]:
        """An open model: attempt i (from 0) is due i / rate seconds after the phase starts, whether or not
        earlier ones have finished, and runs on a free user among the first `max_users`. When all are
        busy it waits for one — and is recorded as started late. Returns the samples that started late."""
        stop, ended = threading.Event(), threading.Event()  # ended: no more attempts (the fault was reverted)
        late: list[Sample] = []
        run = self._runner(phase, measure, record, stop, late)
        free: queue.Queue[_Slot] = queue.Queue()
        for user in self.slots[:max_users]:
            free.put(user)

        def arrival(number: int, due: tuple[float, float]) -> Callable[[_Slot], None]:
            def job(slot: _Slot) -> None:
                try:
                    if not (stop.is_set() or ended.is_set()) and not run(slot, number, due):
                        ended.set()
                finally:
                    free.put(slot)
            return job

        errors: list[BaseException] = []
        done: list[threading.Event] = []
        t0, wall0 = time.monotonic(), time.time()
        try:
            for i in range(attempts):
                due = t0 + i / rate
                while not (ended.is_set() or errors) and (left := due - time.monotonic()) > 0:
                    time.sleep(min(left, 0.2))  # short sleeps: Ctrl-C reaches the main thread
                slot: _Slot | None = None
                while slot is None and not (ended.is_set() or errors):
                    try:
                        slot = free.get(timeout=0.2)
                    except queue.Empty:
                        continue
                if slot is None:
                    break
                event = threading.Event()
                done.append(event)
                slot.jobs.put((arrival(i + 1, (due, wall0 + i / rate)), event, errors))
            self._await(done, errors, stop)
        except BaseException:
            stop.set()
            raise
        return sorted(late, key=lambda s: s.attempt)

    def _wait(self, jobs: list[tuple[_Slot, Callable[[_Slot], None]]], stop: threading.Event) -> None:
        errors: list[BaseException] = []
        done = []
        for slot, job in jobs:
            event = threading.Event()
            done.append(event)
            slot.jobs.put((job, event, errors))
        try:
            self._await(done, errors, stop)
        except BaseException:
            stop.set()
            raise

    @staticmethod
    def _await(done: list[threading.Event], errors: list[BaseException], stop: threading.Event) -> None:
        for event in done:
            while not event.wait(0.2):  # short waits: Ctrl-C and SIGTERM reach the main thread
                if errors:
                    stop.set()
        if errors:
            raise errors[0]

    # -- endpoints lost mid-run -----------------------------------------------------------------
    @staticmethod
    def _alive(slot: _Slot) -> bool:
        """After a failure: is the user's browser still there? A context made and closed answers it (the
        disconnection of a dead endpoint is only noticed by the next call to it)."""
        browser = getattr(slot.session, "browser", None)
        if browser is None or not browser.is_connected():
            return False
        try:
            browser.new_context().close()
        except Exception:
            return False
        return bool(browser.is_connected())

    def _lose(self, slot: _Slot, sample: Sample) -> None:
        """The attempt's browser is gone: say so in the sample, then move the user to a live endpoint."""
        url = slot.endpoint.url
        with self._lock:
            first = url not in self.dead
            self.dead.setdefault(url, sample.failure or "disconnected")
        sample.generator.endpoint_lost = True
        sample.failure = f"browser endpoint {url} lost during the attempt: {sample.failure or 'disconnected'}"
        if first:
            self.on_endpoint({"type": "endpoint_lost", "time": time.time(), "endpoint": url, "user": slot.user,
                              "reason": self.dead[url]})
        try:
            slot.session.close()
        except Exception as e:
            log.debug("closing a lost session: %s", e)
        slot.session = None
        for endpoint in self._live_by_load():
            try:
                self._open(slot, endpoint)
                return
            except Exception as e:  # that one is gone too
                with self._lock:
                    self.dead.setdefault(endpoint.url, str(e))
        slot.lost = f"browser endpoint {url} lost, and no other endpoint is alive"

    def _live_by_load(self) -> list[Endpoint]:
        with self._lock:
            load = {ep.url: 0 for ep in self.endpoints if ep.url not in self.dead}
            for s in self.slots:
                if s.session is not None and s.endpoint.url in load:
                    load[s.endpoint.url] += 1
        order = [ep.url for ep in self.endpoints]
        return [next(ep for ep in self.endpoints if ep.url == url)
                for url in sorted(load, key=lambda u: (load[u], order.index(u)))]

    @staticmethod
    def _failed(phase: str, number: int, slot: _Slot, reason: str) -> Sample:
        now = time.time()
        return Sample(phase=phase, attempt=number, started_at=now, ended_at=now, duration_s=0.0, ok=False,
                      failure=reason,
                      generator=GeneratorState(user=slot.user, endpoint=slot.endpoint.url, endpoint_lost=True))

    def _not_run(self, phase: str, number: int, slot: _Slot) -> Sample:
        return self._failed(phase, number, slot, f"not run: {slot.lost}")


def check_capacity(users: int, endpoints: list[Endpoint]) -> None:
    """Local users beyond what this machine's memory holds are refused before anything starts."""
    local = sum(1 for ep in assign_endpoints(users, endpoints or [parse_endpoint(LOCAL)]) if ep.is_local)
    capacity = local_capacity()
    if local > capacity.max_users:
        raise BadInput(f"{local} local users: {capacity.explain()}; use fewer users, or spread them over remote "
                       "browsers (--browser-endpoint, or `uxchaos browser serve` on other machines)")


def pool_size(phase_users: list[int], override: int | None) -> int:
    return override if override is not None else max(phase_users, default=1)

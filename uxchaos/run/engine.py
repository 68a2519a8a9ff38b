"""The engine: before → inject → during → revert → settle → after.

It never guesses which phase a sample belongs to: each sample records the fault state at its
start and end, and a sample during which the fault was injected or reverted is flagged
`straddled` and kept out of the phase statistics. The fault is always reverted: at the end, on
any error, on Ctrl-C (a second Ctrl-C still reverts first), on SIGTERM and when the fault's
max duration runs out."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from uxchaos.browser.endpoints import parse_endpoint
from uxchaos.browser.session import BrowserSession
from uxchaos.errors import BadInput, UxchaosError
from uxchaos.faults import DriverOptions, FaultDriver, TargetRuntime
from uxchaos.faults.choice import NoFaultApplies, choose
from uxchaos.faults.ledger import Ledger
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.traces import TraceKeeper
from uxchaos.results.records import LATE_MS, Sample
from uxchaos.run.background_load import background_load
from uxchaos.run.controller import FaultController, effect_baseline, verify_effect
from uxchaos.run.interrupts import interrupts_deferred, signals_as_interrupts
from uxchaos.run.options import Listener, RunOptions, RunOutcome, new_run_dir
from uxchaos.run.record import RunRecord
from uxchaos.run.target import check_app_healthy, running_target
from uxchaos.run.turns import TurnCounter
from uxchaos.scenario.model import Scenario, fault_record
from uxchaos.users.pool import UserPool, check_capacity, pool_size
from uxchaos.users.processes import journey_thread
from uxchaos.users.starvation import LoadMonitor, measure_load
from uxchaos.util.durations import format_rate
from uxchaos.util.procs import writable_state_dir

log = logging.getLogger("uxchaos.run.engine")


class Engine:
    def __init__(self, scenario: Scenario, options: RunOptions, listeners: list[Listener] | None = None) -> None:
        self.scenario = scenario
        self.options = options
        self.run_dir = new_run_dir(options.out_dir, scenario.name)
        self.ledger = Ledger(f"{scenario.name}-{self.run_dir.name}-{os.getpid()}")
        self.fault: FaultController | None = None
        self.phase = "setup"  # where the run is: setup | before | during | after
        self.level: float | None = None  # the swept fault's current size
        self._missing_said = False
        self._reverted_said = False
        self.monitor: LoadMonitor | None = None  # one-user runs; the users' pool has its own
        self.pool: UserPool | None = None  # virtual users (users/pool.py), when a phase has more than one
        self.record = RunRecord(self.run_dir, scenario, listeners or [], TraceKeeper(options.trace, self.run_dir))
        # The record's parts the engine writes to (one writer at a time: its lock).
        self.store, self.meta, self.outcome = self.record.store, self.record.meta, self.record.outcome
        self._write_lock = self.record.lock

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        writable_state_dir()  # the ledger must be writable before a demo starts or a fault is injected
        self.meta["started_at"] = time.time()
        self.store.append({"type": "run_start", "time": self.meta["started_at"], "scenario": self.scenario.name})
        self.record.write_run_json()
        try:
            with signals_as_interrupts(self.options.deadline_s), \
                    running_target(self.scenario, self.options.base_url, self.ledger) as (runtime, variables):
                self.record.write_run_json(runtime)
                self._run_with_target(runtime, variables)
            self.outcome.status = "completed"
        except KeyboardInterrupt as e:
            self.outcome.status = "interrupted"
            # Where the signal landed, so a reader (and the interruption trials) can tell.
            with self._write_lock:
                self.store.append({"type": "interrupted", "time": time.time(), "phase": self.phase,
                                   "reason": str(e) or "signal SIGINT"})
            raise
        except BaseException as e:
            self.outcome.status = "failed"
            # Why the run ended early, for run.json and the report (the samples before it stay on disk).
            reason = str(e) if isinstance(e, UxchaosError) else f"internal error: {type(e).__name__}: {e}"
            self.meta["ended_because"] = reason
            with self._write_lock:
                self.store.append({"type": "run_failed", "time": time.time(), "phase": self.phase, "reason": reason})
            raise
        finally:
            if self.fault is not None and self.fault.watchdog is not None:
                self.fault.watchdog.cancel()
            self.ledger.end()
            with self._write_lock:
                self.meta["ended_at"] = time.time()
                self.store.append({"type": "run_end", "time": self.meta["ended_at"], "status": self.outcome.status})
                self.record.write_run_json()
                self.record.closed = True
                self.store.close()
        return self.outcome

    def _run_with_target(self, runtime: TargetRuntime, variables: dict[str, str]) -> None:
        options = DriverOptions(force=self.options.force, run_id=self.ledger.run_id)
        if runtime.proxies is not None and self.scenario.load is None:
            # (with protocol-level load beside the browsers, the services' turns cannot be told apart)
            self.record.turns = TurnCounter(runtime.proxies, self.record.append)
        driver = self._choose_fault(runtime, options)
        check_app_healthy(runtime.probe_url or runtime.base_url)
        # The protocol-level load (uxchaos/load/) ramps before the first phase and stops after the last.
        with background_load(self.scenario.load, runtime.base_url, self.run_dir, self.ledger, self._record_load,
                             self.record.say) as runtime.load:
            self._measure_phases(driver, runtime, variables)
            self.phase = "teardown"
            if self.record.turns is not None:
                self.record.turns.finish()  # the gap after the last attempt names clients still talking

    def _measure_phases(self, driver: FaultDriver | None, runtime: TargetRuntime, variables: dict[str, str]) -> None:
        if self._wants_users():
            self._run_users(driver, runtime, variables)
            return
        self.monitor = LoadMonitor()  # one user: the host's load and the generator's starvation (starvation.py)
        self.monitor.start()
        try:
            with journey_thread(), self.options.browser or BrowserSession(self.options.headed) as browser:
                self.meta["browser"] = {"executable": browser.executable, "version": browser.version}
                self.record.write_run_json(runtime)
                self._all_phases(driver, browser, runtime, variables)
        finally:
            self.monitor.stop()

    def _record_load(self, record: dict[str, Any]) -> None:
        """A `load` record or load event from Locust's reader thread, with where the run was then."""
        with self._write_lock:
            if self.record.closed:
                return
            self.store.append({**record, "phase": self.phase, "fault_active": bool(self.fault and self.fault.active),
                               "level": self.level if self.phase == "during" else None})
            if record["type"] == "load_event" and record["event"] in ("started", "warning"):
                self.meta.setdefault("locust", {}).setdefault("events", []).append(record)

    def _choose_fault(self, runtime: TargetRuntime, options: DriverOptions) -> FaultDriver | None:
        """The fault's driver after its pre-flight — or its alternative's, when the scenario gives one
        and the first cannot be applied here: which one and why is said, and kept in run.json and
        the results before anything is touched."""
        if self.scenario.fault is None:
            return None
        try:
            choice = choose(self.scenario.fault, runtime, options)
        except NoFaultApplies as e:
            self.meta["fault_choice"] = e.record()
            raise
        if choice.tried:
            self.meta["fault_choice"] = {**choice.record(), "fault": fault_record(choice.driver.spec)}
            self.record.say(("⚠ " if choice.fell_back else "") + choice.reason())
            self.record.event({"event": "fault_chosen", "time": time.time(), "used": choice.record()["used"],
                               "reason": choice.reason()})
            self.record.write_run_json(runtime)
        return choice.driver

    def _all_phases(self, driver: FaultDriver | None, browser: BrowserSession | None, runtime: TargetRuntime,
                    variables: dict[str, str]) -> None:
        if driver is not None and self.scenario.phase_order == "alternating":
            try:
                self._alternating_phases(driver, browser, runtime, variables)
            finally:
                driver.close()
            return
        self._phase("before", browser, runtime, variables)
        if driver is None:
            self._phase("during", browser, runtime, variables)
            self._phase("after", browser, runtime, variables)
            return
        try:
            self._faulty_phases(driver, browser, runtime, variables)
        finally:
            driver.close()

    def _wants_users(self) -> bool:
        return (self.options.users is not None or bool(self._endpoints())
                or any(p.users > 1 or p.is_open for p in self.scenario.phases.values()))

    def _endpoints(self) -> list[str]:
        """--browser-endpoint, else the scenario's `browsers:`; [] = browsers launched here."""
        return self.options.endpoints or self.scenario.browsers

    def check_users(self) -> None:
        if self._wants_users() and self.scenario.phase_order == "alternating" and self.scenario.fault is not None:
            raise BadInput("phases.order alternating runs one user's attempts in turn: not with --users or "
                           "browser endpoints")
        if self._wants_users():
            check_capacity(pool_size([p.users for p in self.scenario.phases.values()], self.options.users),
                           [parse_endpoint(url) for url in self._endpoints()])

    def _run_users(self, driver: FaultDriver | None, runtime: TargetRuntime, variables: dict[str, str]) -> None:
        """Virtual users: their browsers start (and endpoints answer) before the first phase and any fault."""
        endpoints = [parse_endpoint(url) for url in self._endpoints()]
        size = pool_size([p.users for p in self.scenario.phases.values()], self.options.users)
        check_capacity(size, endpoints)
        self.meta["users"] = {name: self._users(name) for name in self.scenario.phases}
        self.meta["endpoints"] = []

        def on_endpoint(record: dict[str, Any]) -> None:
            with self._write_lock:
                if self.record.closed:
                    return
                self.store.append(record)
                if record["type"] == "endpoint":
                    self.meta["endpoints"].append(record)
                else:
                    self.meta.setdefault("endpoints_lost", []).append(record)
                    self.record.say(f"⚠ browser endpoint {record['endpoint']} lost: {record['reason']}; its users "
                                    "move to the endpoints still alive")

        self.pool = UserPool(size, endpoints, self.options.headed, on_endpoint)
        try:
            self.pool.start()
            self.meta["browser"] = {"executable": ", ".join(sorted({s.endpoint.url for s in self.pool.slots})),
                                    "version": ", ".join(sorted({s.session.version for s in self.pool.slots}))}
            self.record.write_run_json(runtime)
            self._all_phases(driver, None, runtime, variables)
        finally:
            self.pool.close()

    def _faulty_phases(self, driver: FaultDriver, browser: BrowserSession | None, runtime: TargetRuntime,
                       variables: dict[str, str]) -> None:
        self.fault = FaultController(driver, self.record.event, self.ledger, self.record.say)
        verify = effect_baseline(driver, self.record.say)
        sweep = driver.spec.sweep
        try:
            for index, level in enumerate(sweep.levels if sweep else [None]):
                if sweep is not None and level is not None:
                    self.level = level
                    self.fault.set_level(sweep, index, level)
                else:
                    self.fault.inject()
                if not self.fault.active:
                    self.record.say("the fault was reverted (max duration): the remaining levels are not run")
                    break
                self._phase("during", browser, runtime, variables)
                # Measured at the end of the during phase (of each level), so it takes nothing from the
                # attempts' window and shows the fault was still in force when they finished.
                if verify is not None and self.fault.active:
                    verify_effect(driver.effect_probe() if sweep else verify[0], verify[1], self.level, self.record.say,
                                  self.record.event)
        finally:
            with interrupts_deferred(self.record.say):
                self.fault.revert()
                self.fault.poll()
        self._phase("after", browser, runtime, variables)
        self.fault.poll()

    def _alternating_phases(self, driver: FaultDriver, browser: BrowserSession | None, runtime: TargetRuntime,
                            variables: dict[str, str]) -> None:
        """`phases: {order: alternating}`: before and during attempts take turns — fault off, on, off,
        on … — so a drift in the machine's speed (another job starting) lands on both phases alike
        instead of on whichever phase ran while it lasted. Then the after phase, as usual. The fault
        is injected before each during attempt and reverted after it (drivers that toggle in
        milliseconds only: the scenario loader checks), so no attempt straddles a change."""
        assert browser is not None  # check_users refused users and endpoints before anything started
        self.fault = FaultController(driver, self.record.event, self.ledger, self.record.say)
        verify = effect_baseline(driver, self.record.say)
        rounds = max(self._attempts("before"), self._attempts("during"))
        self.record.emit("on_phase", "before ⇄ during (alternating)", rounds)
        try:
            for attempt in range(1, rounds + 1):
                if attempt <= self._attempts("before"):
                    self.phase = "before"
                    self.record.sample(*self._must(self._measure("before", attempt, browser, runtime, variables)))
                if attempt > self._attempts("during"):
                    continue
                self.fault.inject()
                self.phase = "during"
                measured = self._measure("during", attempt, browser, runtime, variables)
                if measured is None:  # reverted by its max duration
                    break
                self.record.sample(*measured)
                if verify is not None and self.fault.active:  # once, while the fault is on
                    verify_effect(verify[0], verify[1], self.level, self.record.say, self.record.event)
                    verify = None
                with interrupts_deferred(self.record.say):
                    self.fault.revert(reason="alternating: the next attempt is a before one")
        finally:
            with interrupts_deferred(self.record.say):
                self.fault.revert()
                self.fault.poll()
        self._phase("after", browser, runtime, variables)
        self.fault.poll()

    @staticmethod
    def _must(measured: tuple[Sample, float] | None) -> tuple[Sample, float]:
        assert measured is not None  # only a during attempt without its fault gives None
        return measured

    def _attempts(self, phase: str) -> int:
        return self.options.attempts or self.scenario.phases[phase].attempts

    def _phase(self, phase: str, browser: BrowserSession | None, runtime: TargetRuntime,
               variables: dict[str, str]) -> None:
        spec = self.scenario.phases[phase]
        self.phase = phase
        if spec.settle_s:
            self.record.say(f"settling {spec.settle_s:g}s before the {phase} phase")
            time.sleep(spec.settle_s)
        attempts = self._attempts(phase)
        if self.pool is not None:  # virtual users (users/pool.py): each user's attempts in its own thread and browser
            users = self._users(phase)

            def measure(session: Any, number: int) -> tuple[Sample, float] | None:
                return self._measure(phase, number, session, runtime, variables)

            if spec.arrival_rate is not None:
                self.record.emit("on_phase", phase, attempts)
                late = self.pool.run_open_phase(phase, users, attempts, spec.arrival_rate, measure,
                                                self.record.sample)
                self._late_starts(phase, late, attempts, spec.arrival_rate, users)
                return
            self.record.emit("on_phase", phase, users * attempts)
            self.pool.run_phase(phase, users, attempts, spec.think_s, measure, self.record.sample)
            return
        assert browser is not None
        self.record.emit("on_phase", phase, attempts)
        for attempt in range(1, attempts + 1):
            if attempt > 1 and spec.think_s:
                time.sleep(spec.think_s)  # the user's pause between attempts, as each virtual user's
            began = time.monotonic()
            measured = self._measure(phase, attempt, browser, runtime, variables)
            if measured is None:
                break
            if self.monitor is not None:
                measure_load(measured[0], self.monitor, began, judge=False)  # bounded and said, never left out
            self.record.sample(*measured)

    def _late_starts(self, phase: str, late: list[Sample], attempts: int, rate: float, users: int) -> None:
        """An open model whose users were all busy when journeys were due: the rate was not kept."""
        worst_ms = max((s.schedule.late_ms or 0.0 for s in late), default=0.0)
        record = {"type": "late_starts", "time": time.time(), "phase": phase, "late": len(late),
                  "attempts": attempts, "arrival_rate": rate, "max_users": users, "late_by_ms": LATE_MS,
                  "worst_ms": worst_ms}
        with self._write_lock:
            self.store.append(record)
            self.meta.setdefault("late_starts", {})[phase] = record
        if late:
            self.record.say(f"⚠ {len(late)} of {attempts} {phase} attempts started late by > {LATE_MS:g} ms (worst "
                            f"{worst_ms / 1000:.1f}s): arrival rate {format_rate(rate)} needs more than max_users "
                            f"{users} — these users were all busy when journeys were due")

    def _users(self, phase: str) -> int:
        return self.options.users or self.scenario.phases[phase].users

    def _measure(self, phase: str, attempt: int, browser: BrowserSession, runtime: TargetRuntime,
                 variables: dict[str, str]) -> tuple[Sample, float] | None:
        """One attempt, not yet recorded, and when it was decided; None: no more attempts in this phase."""
        if phase == "during" and self.fault is not None and self.fault.lost:
            return None  # said when it happened; the revert after the phase says whether the fault is gone
        if phase == "during" and self.fault is not None and not self.fault.active:
            with self._write_lock:
                if not self._reverted_said:
                    self._reverted_said = True
                    self.record.say("the fault was reverted (max duration): no more during-phase attempts")
            return None
        plan = AttemptPlan(phase, attempt, self.scenario.journey, runtime.base_url, variables,
                           self.scenario.step_timeout_s, self.run_dir / "screenshots",
                           self.scenario.python_journey,
                           trace_dir=None if self.options.trace == "off" else self.run_dir,
                           trace_screenshots=self.options.trace_screenshots,
                           secrets=set(self.scenario.secrets))
        began_at = time.time()
        watch = phase == "during" and self.fault is not None
        in_force_before = self.fault.in_force() if watch and self.fault else None
        sample = run_attempt(browser, plan, lambda: bool(self.fault and self.fault.active))
        sample.fault.level = self.level if phase == "during" else None
        if watch and self.fault is not None:
            in_force_after = self.fault.in_force() if self.fault.active else None
            sample.fault.fault_missing = False in (in_force_before, in_force_after)
            if sample.fault.fault_missing:
                self._fault_missing(sample)
        if self.fault is not None:
            with self._write_lock:
                self.fault.poll()
        return sample, began_at

    def _fault_missing(self, sample: Sample) -> None:
        if self._missing_said:
            return
        self._missing_said = True
        self.record.event({"event": "fault_missing", "time": time.time(), "attempt": sample.attempt})
        self.record.say("⚠ WARNING: the fault is not in force any more (removed behind the run's back?): during "
                        "attempts measured without it are flagged ‡ and kept out of the statistics")

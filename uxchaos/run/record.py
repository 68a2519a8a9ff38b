"""Everything a run writes, one writer at a time: results.jsonl (samples, fault events, and what
the engine adds), run.json, the outcome, and the listeners that follow along — progress on the
terminal, the pytest plugin; one failing never stops a run (locust's one event, many listeners)."""

from __future__ import annotations

import logging
import platform
import threading
from pathlib import Path
from typing import Any

import uxchaos
from uxchaos.faults import TargetRuntime
from uxchaos.journey.traces import TraceKeeper
from uxchaos.results.records import ResultsStore, Sample, scrub
from uxchaos.run.options import Listener, RunOutcome
from uxchaos.run.turns import TurnCounter
from uxchaos.scenario.model import Scenario

log = logging.getLogger("uxchaos.run.engine")


class RunRecord:
    def __init__(self, run_dir: Path, scenario: Scenario, listeners: list[Listener], traces: TraceKeeper) -> None:
        self.scenario = scenario
        self.listeners = listeners
        self.store = ResultsStore(run_dir, scenario.secrets)
        self.outcome = RunOutcome(run_dir)
        self.meta: dict[str, Any] = {}
        # The max-duration watchdog records its revert from a timer thread, user threads their
        # samples, Locust's reader its records, while the main thread records the rest.
        self.lock = threading.RLock()
        self.closed = False  # results.jsonl is closed: late samples of user threads are dropped
        self.traces = traces
        self.turns: TurnCounter | None = None  # the services' turns per action, when the target has proxies

    def emit(self, method: str, *args: Any) -> None:
        with self.lock:
            for listener in self.listeners:
                try:
                    getattr(listener, method)(*args)
                except Exception as e:  # a listener is somebody else's code: it never stops a run
                    log.warning("listener %s.%s failed: %s", type(listener).__name__, method, e)

    def say(self, text: str) -> None:
        self.emit("on_message", text)

    def append(self, record: dict[str, Any]) -> None:
        """A record of the engine's own (a background connection of the turns) into results.jsonl."""
        with self.lock:
            if not self.closed:
                self.store.append(record)

    def event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.outcome.events.append(event)
            self.store.append({"type": "fault_event", **event})
            self.emit("on_event", event)

    def sample(self, sample: Sample, began_at: float) -> None:
        """`began_at`: when the engine decided to run the attempt. A change of the fault between
        then and the attempt's end (also while its browser context was being made) straddles it."""
        if self.turns is not None and sample.captured.service_turns is None:
            self.turns.fill(sample)
        # Scrub secrets before anyone sees the sample (a failure message may quote a typed value).
        sample = Sample.from_record(scrub(sample.to_record(), self.scenario.secrets))
        with self.lock:
            if self.closed:  # a user thread finishing an attempt after an interrupted run ended
                return
            fault = sample.fault
            fault.straddled = fault.fault_active_at_start != fault.fault_active_at_end or any(
                e["event"] in ("injected", "reverted", "level_changed") and began_at <= e["time"] <= sample.ended_at
                for e in self.outcome.events
            )
            if not self.traces.keep(sample):
                sample.captured.trace = None  # deleted already: not named in results.jsonl
            self.outcome.samples.append(sample)
            self.store.append(sample.to_record())
            self.emit("on_sample", sample)

    def write_run_json(self, runtime: TargetRuntime | None = None) -> None:
        self.meta.update({
            "status": self.outcome.status,
            "scenario": self.scenario.masked(),
            "uxchaos_version": uxchaos.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "fault_timeline": self.outcome.events,
            "samples": len(self.outcome.samples),
        })
        if runtime is not None:
            self.meta["base_url"] = runtime.base_url
        self.store.write_json("run.json", self.meta)

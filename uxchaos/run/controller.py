"""The fault's side of a run: the controller that injects, reverts exactly once, changes a swept
fault's size and keeps the ledger; and the check that a fault has the effect it asks for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from uxchaos.errors import FaultError, FaultRefused, UxchaosError
from uxchaos.faults import EffectProbe, FaultDriver
from uxchaos.faults.base import Sweep
from uxchaos.faults.ledger import Ledger
from uxchaos.faults.probe import median_round_trip
from uxchaos.util.durations import format_level


class FaultController:
    """Owns the driver: injects, reverts exactly once, records every change with its time, and
    keeps the fault in the on-disk ledger from before it is applied until it is reverted. The
    max-duration watchdog reverts from its own thread; `record` serialises every write."""

    def __init__(self, driver: FaultDriver, record: Callable[[dict[str, Any]], None], ledger: Ledger,
                 say: Callable[[str], None]) -> None:
        self.driver = driver
        self.record = record
        self.ledger = ledger
        self.say = say
        self.active = False
        self.lock = threading.Lock()
        self.watchdog: threading.Timer | None = None
        self.lost: str | None = None  # why the fault's state cannot be known any more (its dependency is gone)
        self._unknown = 0  # in-force questions in a row that could not be answered

    def inject(self) -> None:
        with self.lock:
            resources = self.driver.resources()
            held = self.ledger.held_elsewhere(resources)
            if held:  # refused before anything is touched: the other run's fault stays as it is
                raise FaultRefused("another run holds the fault target; nothing was changed:\n  " + "\n  ".join(held))
            self.ledger.open("fault", {"kind": "fault", "driver": self.driver.name, "fault": self.driver.describe(),
                                       "resources": resources, "revert": self.driver.ledger_revert()})
            self.record({"event": "inject_requested", "time": time.time(), "fault": self.driver.describe()})
            try:
                details = self.driver.inject()
            except FaultRefused as e:
                self.ledger.close("fault")
                self.record({"event": "inject_failed", "time": time.time(), "error": str(e), "reverted": False})
                raise
            except BaseException as e:
                self.record({"event": "inject_failed", "time": time.time(), "error": str(e) or type(e).__name__,
                             "reverted": True})
                self.driver.revert()  # a half-applied fault is still a fault
                self.ledger.close("fault")
                raise
            self.active = True
            self.record({"event": "injected", "time": time.time(), "details": details})
        max_s = self.driver.spec.max_duration_s
        self.watchdog = threading.Timer(max_s, self.revert, kwargs={"reason": f"max duration {max_s:g}s reached"})
        self.watchdog.daemon = True
        self.watchdog.start()

    def revert(self, reason: str = "during phase finished") -> None:
        with self.lock:
            if not self.active:
                return
            try:
                details = self.driver.revert()
            except UxchaosError as e:  # its dependency went away mid-run: the entry stays in the ledger
                self.record({"event": "revert_failed", "time": time.time(), "error": str(e)})
                raise FaultError(f"the fault ({self.driver.describe()}) could not be reverted: {e} — it stays in the "
                                 "ledger: run `uxchaos recover` once that answers again") from None
            self.active = False
            self.ledger.close("fault")
            self.record({"event": "reverted", "time": time.time(), "reason": reason, "details": details})
        if self.watchdog is not None and self.watchdog is not threading.current_thread():
            self.watchdog.cancel()

    def change(self, param: str, value: float) -> None:
        """A sweep's next level while the fault is held: the driver's fault is replaced by one of the
        new size under the same lock (and ledger entry), so the watchdog never sees half a change."""
        with self.lock:
            if not self.active:
                return
            self.driver.revert()
            self.driver.spec.params[param] = value
            self.driver.inject()
            self.record({"event": "level_changed", "time": time.time(), "param": param, "level": value})

    def in_force(self) -> bool | None:
        """The driver's answer (None: it cannot tell); a failing check is said, not fatal."""
        if not self.active:
            return False
        try:
            answer = self.driver.in_force()
        except UxchaosError as e:
            # Once may be a hiccup; twice in a row (before and after an attempt) the fault's dependency
            # is gone: the during attempts would measure an unknown state, so the engine stops them.
            self._unknown += 1
            if self._unknown == 1:
                self.say(f"cannot tell whether the fault is still in force: {e}")
            elif self.lost is None:
                self.lost = str(e)
                self.record({"event": "fault_lost", "time": time.time(), "error": self.lost})
                self.say("lost track of the fault (asked twice in a row): no more during attempts")
            return None
        self._unknown = 0
        return answer

    def poll(self) -> None:
        for event in self.driver.poll_events():
            self.record(event)

    def set_level(self, sweep: Sweep, index: int, level: float) -> None:
        """The next size of a swept fault: the first is injected; then `step` changes the size of the
        held fault, `reset` reverts, settles and injects the next size."""
        if index == 0:
            self.driver.spec.params[sweep.param] = level
            self.inject()
        elif sweep.mode == "step":
            self.change(sweep.param, level)
        else:
            self.revert(reason=f"sweep: next level ({sweep.param} {level:g})")
            if sweep.settle_s:
                self.say(f"settling {sweep.settle_s:g}s before the next level")
                time.sleep(sweep.settle_s)
            self.driver.spec.params[sweep.param] = level
            self.inject()
        self.say(f"── level {index + 1}/{len(sweep.levels)}: {sweep.param} = {self.format_level(sweep, level)}")

    def format_level(self, sweep: Sweep, level: float) -> str:
        kind = self.driver.kinds[self.driver.spec.kind][sweep.param].kind
        return format_level(level, "s" if kind == "duration" else "")


def effect_baseline(driver: FaultDriver, say: Callable[[str], None]) -> tuple[EffectProbe, float] | None:
    """The driver's probe through the faulty link (if its fault has a measurable effect), and
    the round trip it measures before the fault."""
    try:
        found = driver.effect_probe()
        return None if found is None else (found, median_round_trip(found.probe, 5.0))
    except OSError as e:
        say(f"cannot verify the fault's effect: {e}")
        return None

def verify_effect(found: EffectProbe | None, baseline_s: float, level: float | None, say: Callable[[str], None],
              record: Callable[[dict[str, Any]], None]) -> None:
    """Is the fault even working? The probe's round trip during the fault, against the baseline."""
    if found is None:
        return
    requested_s = found.requested_s
    try:
        during_s = median_round_trip(found.probe, requested_s * 3 + 5)
    except OSError as e:
        say(f"cannot verify the fault's effect: {e}")
        return
    observed_ms = (during_s - baseline_s) * 1000
    ok = observed_ms >= 0.5 * requested_s * 1000
    record({"event": "effect_verified", "time": time.time(), "requested_ms": round(requested_s * 1000),
                       "observed_ms": round(observed_ms, 1), "ok": ok, "level": level})
    say(f"{'✓' if ok else '⚠ WARNING:'} requested {requested_s * 1000:.0f} ms, observed "
                             f"+{observed_ms:.0f} ms per round trip" + ("" if ok else " (less than half!)"))

"""From a run's records to verdicts: statistics per action × phase, comparisons with the
before phase, recovery time per action and the scenario's expectations."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from uxchaos.analysis.attribution import ActionAttribution, attribute
from uxchaos.analysis.busy import Busy, action_bound_ms, busy, qualify
from uxchaos.analysis.stats import Comparison, Describe, Recovery, compare, describe, recovery_time
from uxchaos.analysis.sweeps import Curve, analyze_sweep
from uxchaos.analysis.turns import TurnsReport, service_turns
from uxchaos.analysis.vitals import VitalsRow, unavailable, vitals_rows
from uxchaos.load.stats import LoadRow, find_row, load_rows
from uxchaos.results.rundata import RunData
from uxchaos.results.vitals import STATS as VITALS_STATS
from uxchaos.scenario.expect import Expectation, ExpectationError, NoData, evaluate
from uxchaos.scenario.model import PHASES
from uxchaos.util.durations import format_level

STAT_ALIASES = {"p50": "median"}


@dataclass
class ActionPhase:
    action: str
    phase: str  # what the tables show: "during", or for a swept fault "during · delay 500ms"
    stats: Describe
    vs_before: Comparison | None  # None for the before phase itself
    bound_ms: float | None = None  # the largest generator bound of its kept attempts (starvation.py, busy.py)
    level: float | None = None  # the swept fault's level of a during row


@dataclass
class ExpectationResult:
    text: str
    passed: bool
    values: dict[str, float | None] = field(default_factory=dict)
    message: str = ""
    undecided: bool = False  # too few samples were kept to judge it (they were left out): neither pass nor fail


@dataclass
class KillRecovery:
    """After a kill: what the platform did and what users saw (seconds after the kill)."""

    failure_seen_s: float | None
    replacement_running_s: float | None
    first_good_journey_s: float | None
    restart_delay_s: float | None
    exit_code: int | None
    state: str
    error: str
    tasks: list[dict[str, Any]] = field(default_factory=list)


def kill_recovery(run: RunData) -> KillRecovery | None:
    killed = next((e for e in run.events if e["event"] == "injected"), None)
    failed = next((e for e in run.events if e["event"] in ("task_failed", "target_exited")), None)
    if killed is None or failed is None:
        return None
    running = next((e for e in run.events if e["event"] == "replacement_running"), None)
    tasks: list[dict[str, Any]] = next((e["tasks"] for e in run.events if e["event"] == "service_tasks"), [])
    kill_time = killed.get("details", {}).get("killed_at") or killed["time"]  # the driver's own clock
    good = [s.ended_at for s in run.samples if s.ok and s.started_at >= kill_time]
    code = failed.get("exit_code", failed.get("returncode"))
    return KillRecovery(
        failure_seen_s=round(failed["time"] - kill_time, 3),
        replacement_running_s=running["after_kill_s"] if running else None,
        first_good_journey_s=round(min(good) - kill_time, 3) if good else None,
        restart_delay_s=failed.get("restart_delay_s"),
        exit_code=code, state=str(failed.get("state", failed.get("status", ""))), error=str(failed.get("error", "")),
        tasks=tasks,
    )


@dataclass
class Analysis:
    rows: list[ActionPhase]
    recovery: dict[str, Recovery]
    phases: dict[str, dict[str, int]]
    expectations: list[ExpectationResult]
    kill: KillRecovery | None = None
    curves: list[Curve] = field(default_factory=list)  # dose–response, when the fault was swept
    attribution: list[ActionAttribution] = field(default_factory=list)  # why each action got slower
    vitals: list[VitalsRow] = field(default_factory=list)  # Web Vitals per action × phase (analysis/vitals.py)
    vitals_unavailable: list[str] = field(default_factory=list)  # pages whose Web Vitals could not be measured
    turns: TurnsReport = field(default_factory=TurnsReport)  # the services' turns per action (analysis/turns.py)
    busy: Busy | None = None  # the host's CPU per phase, attempts left out for the generator's starvation
    load: list[LoadRow] = field(default_factory=list)  # the Locust load per phase and request name (load/stats.py)

    def curve(self, action: str) -> Curve | None:
        return next((c for c in self.curves if c.action == action), None)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    def vitals_row(self, action: str, phase: str) -> VitalsRow | None:
        return next((r for r in self.vitals if r.action == action and r.phase == phase), None)

    def row(self, action: str, phase: str) -> ActionPhase | None:
        """The action's row of a phase; for a sweep's during phase, the row of its highest level
        (the largest fault: what "did the fault slow it down" and `during.…` expectations mean)."""
        found = [r for r in self.rows if r.action == action and (r.phase == phase or r.phase.startswith(
            f"{phase} · "))]
        return max(found, key=lambda r: r.level or 0.0) if found else None

    def affected(self, action: str, tolerance: float = 1.2) -> bool:
        """Did the fault slow this action down? Significantly slower during than before, or — with
        too few samples for a test — a during median above `tolerance` × before (recovery's own
        tolerance). An action it never slowed has no recovery to report."""
        row = self.row(action, "during")
        c = row.vs_before if row else None
        if c is None or c.ratio is None:
            return True  # nothing to judge by: show what recovery says
        if c.verdict.startswith("too few samples"):
            return c.ratio > tolerance
        return c.verdict.startswith("slower,")  # significant, or measured on a busy machine

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": [{"action": r.action, "phase": r.phase, "level": r.level, **r.stats.to_dict(),
                         "vs_before": r.vs_before.to_dict() if r.vs_before else None} for r in self.rows],
            "recovery": {a: {**r.to_dict(), "affected": self.affected(a)} for a, r in self.recovery.items()},
            "phases": self.phases,
            "expectations": [asdict(e) for e in self.expectations],
            "kill_recovery": asdict(self.kill) if self.kill else None,
            "dose_response": [c.to_dict() for c in self.curves],
            "attribution": [a.to_dict() for a in self.attribution],
            "web_vitals": [r.to_dict() for r in self.vitals],
            "web_vitals_unavailable": self.vitals_unavailable,
            "service_turns": self.turns.to_dict(),
            "busy": self.busy.to_dict() if self.busy else None,
            "load": [r.to_dict() for r in self.load],
            "passed": self.passed,
        }


def _failures(run: RunData, action: str, phase: str) -> int:
    return sum(1 for s in run.attempts(phase) if not s.excluded and any(
        a.name == action and not a.ok and a.duration_s is not None for a in s.actions))


def _level_rows(run: RunData, action: str, base: list[float], base_bound: float | None,
                load: Busy) -> list[ActionPhase]:
    """A swept fault's during phase, one row per level: pooled, its levels would blur into one
    number (and one verdict) that no level had. Each level's verdict is said with the machine's
    load as a phase's is (busy.qualify)."""
    sweep = (run.fault or {}).get("sweep") or {}
    rows = []
    for level in (float(x) for x in sweep.get("levels", [])):
        attempts = [s for s in run.attempts("during") if s.fault.level == level]
        values = [a.duration_s for s in attempts if not s.excluded for a in s.actions
                  if a.name == action and a.ok and a.duration_s is not None]
        failures = sum(1 for s in attempts if not s.excluded and any(
            a.name == action and not a.ok and a.duration_s is not None for a in s.actions))
        label = f"during · {sweep.get('param', 'level')} {format_level(level, str(sweep.get('unit', '')))}"
        stats = describe(values, failures, sum(1 for s in attempts if s.fault.straddled))
        bounds = [a.bound_ms for s in attempts if not s.excluded
                  for a in s.actions if a.name == action and a.ok and a.bound_ms is not None]
        bound = max(bounds) if bounds else None
        worst = max((b for b in (base_bound, bound) if b is not None), default=None)
        left_out = (sum(1 for s in attempts if s.generator.saturated)
                    + sum(p.left_out for p in load.phases if p.phase == "before"))
        rows.append(ActionPhase(action, label, stats, qualify(compare(base, values), stats.median, worst,
                                                              load.host_busy, left_out), bound, level=level))
    return rows


def analyze(run: RunData) -> Analysis:
    rows = []
    load = busy(run)
    swept = bool((run.fault or {}).get("sweep"))
    for action in run.actions:
        base = run.action_durations(action, "before")
        base_bound = action_bound_ms(run, action, "before")
        for phase in PHASES:
            if phase == "during" and swept:
                rows += _level_rows(run, action, base, base_bound, load)
                continue
            values = run.action_durations(action, phase)
            straddled = sum(1 for s in run.attempts(phase) if s.fault.straddled)
            stats = describe(values, _failures(run, action, phase), straddled)
            bound = action_bound_ms(run, action, phase)
            vs = None
            if phase != "before":
                worst = max((b for b in (base_bound, bound) if b is not None), default=None)
                left_out = sum(p.left_out for p in load.phases if p.phase in ("before", phase))
                vs = qualify(compare(base, values), stats.median, worst, load.host_busy, left_out)
            rows.append(ActionPhase(action, phase, stats, vs, bound))
    # the last revert: a sweep in reset mode reverts between levels too
    reverted = next((e["time"] for e in reversed(run.events) if e["event"] == "reverted"), None)
    recovery = {}
    for action in run.actions:
        after = [(s.started_at, a.duration_s) for s in run.attempts("after") if not s.excluded
                 for a in s.actions if a.name == action and a.ok and a.duration_s is not None]
        recovery[action] = recovery_time(run.action_durations(action, "before"), after, reverted)
    phases = {p: {"n": len(run.attempts(p)),
                  "failures": sum(1 for s in run.attempts(p) if not s.ok and not s.excluded),
                  "straddled": sum(1 for s in run.attempts(p) if s.fault.straddled),
                  "fault_missing": sum(1 for s in run.attempts(p) if s.fault.fault_missing)} for p in PHASES}
    curves = analyze_sweep(run)
    # a sweep's during phase mixes levels: its dose–response says what the fault did instead
    attribution = [] if curves else attribute(run.samples, run.actions)
    analysis = Analysis(rows, recovery, phases, [], kill_recovery(run), curves, attribution,
                        vitals_rows(run.samples, run.actions, PHASES), unavailable(run.samples),
                        service_turns(run.samples, run.actions, run.fault), load,
                        load_rows(run.load_records, run.events, PHASES, (run.fault or {}).get("sweep")))
    analysis.expectations = [check_expectation(text, run, analysis)
                             for text in run.meta.get("scenario", {}).get("expect", [])]
    return analysis


def check_expectation(text: str, run: RunData, analysis: Analysis) -> ExpectationResult:
    def lookup(phase: str, action: str | None, stat: str | None) -> float | None:
        if phase == "recovery":
            assert action is not None
            rec = analysis.recovery.get(action)
            return rec.seconds if rec else None
        if phase in ("slope", "threshold"):
            assert action is not None
            found = analysis.curve(action)
            if found is None:
                return None
            if phase == "slope":
                return found.slope
            return found.threshold.level if found.threshold else None
        if stat and stat.startswith("load."):
            load = find_row(analysis.load, phase, action)
            return load.value(stat[len("load."):]) if load else None
        if action is None:
            return analysis.phases[phase][stat or "n"]
        if stat in VITALS_STATS:
            vitals = analysis.vitals_row(action, phase)
            return vitals.value(stat) if vitals else None
        row = analysis.row(action, phase)
        if row is None:
            return None
        return getattr(row.stats, STAT_ALIASES.get(stat or "", stat or ""))

    try:
        expectation = Expectation.parse(text, run.actions)
        passed, values = evaluate(expectation, lookup)
    except NoData as e:
        starved = [p for p in analysis.busy.phases if p.left_out] if analysis.busy else []
        if starved:  # not measured because its attempts were left out: too few samples, not a failure
            said = "; ".join(f"{p.left_out} of {p.attempts} {p.phase} attempts left out" for p in starved)
            return ExpectationResult(text, False, {}, f"too few samples to judge ({e}): {said} — the load "
                                     "generator's starvation can have distorted them", undecided=True)
        return ExpectationResult(text, False, {}, f"no data: {e}")
    except ExpectationError as e:
        return ExpectationResult(text, False, {}, str(e))
    return ExpectationResult(text, passed, values)

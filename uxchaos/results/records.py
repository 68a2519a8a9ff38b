"""Measurements and the crash-safe results store.

Every sample and fault event is appended to results.jsonl as soon as it exists (flushed and
fsynced), so a crash keeps everything measured so far. run.json describes the run."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from uxchaos.errors import EnvironmentProblem

MAX_REQUESTS_PER_ACTION = 200  # request records kept per action and attempt (journey/capture.py)


LATE_MS = 100.0  # an open-model attempt begun later than this after its scheduled start started late


@dataclass
class StepTiming:
    action: str
    index: int
    kind: str
    label: str
    duration_s: float
    ok: bool
    http_status: int | None = None
    navigation: dict[str, Any] | None = None  # status, url, timing_ms (the browser's Navigation Timing)
    artifacts: list[str] | None = None  # files the step wrote into the run folder (screenshots)
    at_s: float | None = None  # when the step began, seconds after its sample's started_at
    bound_ms: float | None = None  # most the load generator's starvation can have added to it (starvation.py)


@dataclass
class ActionTiming:
    name: str
    duration_s: float | None  # None when the attempt failed before reaching it
    ok: bool
    failure: str | None = None
    started_at: float | None = None  # epoch seconds: the action's span, to line up with the proxies' turns
    ended_at: float | None = None
    bound_ms: float | None = None  # the sum of its steps' bounds (starvation.py)


@dataclass
class FaultState:
    """The fault during an attempt: in force or not at its ends, changed during it, missing, its sweep level.
    Set by the runner and the engine (run/engine.py), straddled by the record (run/record.py)."""

    fault_active_at_start: bool = False
    fault_active_at_end: bool = False
    straddled: bool = False  # the fault was injected or reverted during this attempt
    fault_missing: bool = False  # a during attempt measured while the driver said the fault was not in force
    level: float | None = None  # in a sweep: the fault's size during this attempt (seconds for durations)


@dataclass
class GeneratorState:
    """The load generator's side of an attempt: whether it measured the target or the machine measuring it.

    Virtual users (uxchaos/users/pool.py): who ran the attempt, where its browser was, how loaded the
    generator was (cpu_load is taken for every attempt, also without virtual users)."""

    user: int | None = None  # 1..N in a phase run by virtual users
    endpoint: str | None = None  # "local" or the browser endpoint's URL
    concurrency: int | None = None  # most users of the phase busy with an attempt at once during this one
    cpu_load: float | None = None  # 1-minute load average when the attempt started
    host_cpu: float | None = None  # host CPU busy fraction (0..1, all cores, /proc/stat) over the attempt
    driver_lag_ms: float | None = None  # worst lateness of the generator's 100 ms timer during the attempt
    bound_ms: float | None = None  # most the generator's starvation can have added to its steps (starvation.py)
    saturated: bool = False  # left out: bound_ms is a material share of duration_s (starvation.py's rule)
    endpoint_lost: bool = False  # the browser endpoint was lost: the attempt measured the generator, not the target


@dataclass
class Schedule:
    """Open model (arrival_rate): when the journey was due, and how late it began (all max_users were busy)."""

    scheduled_at: float | None = None  # epoch seconds
    late_ms: float | None = None  # from its scheduled start to when a user began it
    started_late: bool = False  # late by more than LATE_MS: the generator could not keep the rate


@dataclass
class Captured:
    """What was recorded beside the timings: the page's requests and Web Vitals, the trace, the proxies' turns."""

    # what the page fetched, one dict per request with its "action" (journey/capture.py); None: not captured
    requests: list[dict[str, Any]] | None = None
    requests_capped: dict[str, int] | None = None  # per action: requests left out of `requests` (the cap)
    # Web Vitals, one dict per top-level document (journey/vitals.py); None: not captured
    vitals: list[dict[str, Any]] | None = None
    trace: str | None = None  # the attempt's Playwright trace in the run folder (it may be discarded later)
    # request → answer turns each fault proxy counted during each action: {proxy: {action: turns}} (run/turns.py);
    # None: not counted (no proxy that counts, or other users' turns were mixed in)
    service_turns: dict[str, dict[str, int]] | None = None
    # the same per connection, {proxy: {action: {connection id: turns}}}: the report leaves out connections
    # found to be another client's only after this attempt (turns.py)
    turn_connections: dict[str, dict[str, dict[str, int]]] | None = None


@dataclass
class Sample:
    """One attempt of the journey: its timings, and the parts that say under what conditions it ran.

    The parts are kept apart so that a feature adds a field to its part, not to Sample. results.jsonl
    stays flat (to_record / from_record): each part's fields are written as top-level keys, with the same
    names as when Sample was one flat record, so runs written by any uxchaos remain readable."""

    phase: str
    attempt: int
    started_at: float  # epoch seconds, to line up with browser and Docker timestamps
    ended_at: float
    duration_s: float  # from the monotonic clock
    ok: bool
    actions: list[ActionTiming] = field(default_factory=list)
    steps: list[StepTiming] = field(default_factory=list)
    failure: str | None = None
    failed_action: str | None = None
    screenshot: str | None = None
    fault: FaultState = field(default_factory=FaultState)
    generator: GeneratorState = field(default_factory=GeneratorState)
    schedule: Schedule = field(default_factory=Schedule)
    captured: Captured = field(default_factory=Captured)

    @property
    def excluded(self) -> bool:
        """Shown in tables, but kept out of the statistics: the attempt did not measure one phase."""
        return (self.fault.straddled or self.fault.fault_missing or self.generator.saturated
                or self.generator.endpoint_lost)

    def to_record(self) -> dict[str, Any]:
        """The flat results.jsonl record: the parts' fields beside the core ones, not nested under them."""
        record: dict[str, Any] = {"type": "sample", **asdict(self)}
        for name in PARTS:
            record.update(record.pop(name))
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sample:
        """A sample from a flat record; a key added by a later uxchaos is skipped, not fatal, and one an older
        uxchaos did not write keeps its part's default."""
        core = {f.name for f in fields(cls)} - set(PARTS)
        data: dict[str, Any] = {k: v for k, v in record.items() if k in core}
        data["actions"] = [ActionTiming(**a) for a in data.get("actions", [])]
        data["steps"] = [StepTiming(**s) for s in data.get("steps", [])]
        for name, part in PARTS.items():
            data[name] = part(**{f.name: record[f.name] for f in fields(part) if f.name in record})
        return cls(**data)


# Sample's parts by field name. Their fields share one flat namespace in results.jsonl, so no two parts
# (nor a part and Sample) may name a field alike; tests/test_records.py checks the flattened keys against
# those of the record Sample wrote when it was flat.
PARTS: dict[str, type[FaultState] | type[GeneratorState] | type[Schedule] | type[Captured]] = {
    "fault": FaultState, "generator": GeneratorState, "schedule": Schedule, "captured": Captured}


def scrub_text(text: str, secrets: set[str]) -> str:
    """Replace every secret by ***, also where it stands JSON-escaped (a secret with a quote or a
    backslash is written differently inside JSON)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(json.dumps(secret, ensure_ascii=False)[1:-1], "***")
    return text


def scrub(record: dict[str, Any], secrets: set[str]) -> dict[str, Any]:
    """The record with every secret value replaced by ***."""
    text = json.dumps(record, ensure_ascii=False)
    replaced = scrub_text(text, secrets)
    return record if replaced == text else dict(json.loads(replaced))


class ResultsStore:
    def __init__(self, run_dir: Path, secrets: set[str] | None = None) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "results.jsonl"
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise self.problem(e) from None
        self.secrets = {s for s in (secrets or set()) if s}

    def problem(self, error: OSError) -> EnvironmentProblem:
        return EnvironmentProblem(f"cannot write the run folder {self.run_dir}: {error.strerror or error}. "
                                  "Free space there, or write runs elsewhere with --out")

    def append(self, record: dict[str, Any]) -> None:
        try:
            self._file.write(scrub_text(json.dumps(record, ensure_ascii=False), self.secrets) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as e:  # a full disk: what was written before stays, fsynced
            raise self.problem(e) from None

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.run_dir / name
        tmp = path.with_suffix(".tmp")
        text = scrub_text(json.dumps(data, indent=2, ensure_ascii=False), self.secrets)
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file
        return path

    def close(self) -> None:
        self._file.close()


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """All complete records; a torn last line (crash mid-write) is ignored."""
    records = []
    path = run_dir / "results.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records

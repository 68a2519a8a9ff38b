"""Sample's typed parts and the flat results.jsonl record they are written as (uxchaos/results/records.py).

The record format is the compatibility contract: `uxchaos report` and `compare` read run folders written
by any uxchaos, so the parts flatten into the keys Sample had when it was one flat dataclass."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from uxchaos.results.records import (
    PARTS,
    ActionTiming,
    Captured,
    FaultState,
    GeneratorState,
    ResultsStore,
    Sample,
    Schedule,
    StepTiming,
    read_results,
)
from uxchaos.results.rundata import RunData

# The keys of a sample record, as uxchaos wrote them before Sample was split into parts. A key may be
# added (append it here); renaming or removing one makes older runs unreadable, or newer ones to older
# readers. Written out literally, not derived from the dataclasses, so that a change to them shows here.
RECORD_KEYS = [
    "type", "phase", "attempt", "started_at", "ended_at", "duration_s", "ok", "actions", "steps", "failure",
    "failed_action", "screenshot", "fault_active_at_start", "fault_active_at_end", "straddled", "cpu_load",
    "fault_missing", "level", "user", "endpoint", "concurrency", "host_cpu", "driver_lag_ms", "bound_ms",
    "saturated", "endpoint_lost", "scheduled_at", "late_ms", "started_late", "requests", "requests_capped",
    "vitals", "trace", "service_turns", "turn_connections",
]

# A sample record as an older uxchaos (one flat Sample) wrote it into results.jsonl, plus a key from a
# later version that this one does not know.
OLD_LINE = (
    '{"type": "sample", "phase": "during", "attempt": 3, "started_at": 1700000000.25, '
    '"ended_at": 1700000002.75, "duration_s": 2.4, "ok": true, '
    '"actions": [{"name": "Logging in", "duration_s": 2.4, "ok": true, "failure": null, '
    '"started_at": 1700000000.3, "ended_at": 1700000002.7, "bound_ms": 12.5}], '
    '"steps": [{"action": "Logging in", "index": 0, "kind": "click", "label": "click Sign in", '
    '"duration_s": 2.4, "ok": true, "http_status": 200, "navigation": null, "artifacts": null, '
    '"at_s": 0.05, "bound_ms": 12.5}], '
    '"failure": null, "failed_action": null, "screenshot": null, "fault_active_at_start": true, '
    '"fault_active_at_end": true, "straddled": false, "cpu_load": 1.5, "fault_missing": false, "level": 0.3, '
    '"user": 2, "endpoint": "local", "concurrency": 4, "host_cpu": 0.62, "driver_lag_ms": 8.0, '
    '"bound_ms": 12.5, "saturated": false, "endpoint_lost": false, "scheduled_at": 1700000000.0, '
    '"late_ms": 250.0, "started_late": true, '
    '"requests": [{"action": "Logging in", "method": "POST", "url": "http://app/login", "status": 303}], '
    '"requests_capped": {"Logging in": 3}, '
    '"vitals": [{"action": "Logging in", "url": "http://app/dashboard", "ttfb": 310.0}], '
    '"trace": "trace-during-3.zip", "service_turns": {"database": {"Logging in": 6}}, '
    '"turn_connections": {"database": {"Logging in": {"17": 6}}}, "from_a_later_version": 42}'
)


def _full() -> Sample:
    """A sample with every field of every part away from its default."""
    return Sample(
        "during", 7, 1_700_000_100.5, 1_700_000_103.0, 2.5, False,
        actions=[ActionTiming("Logging in", 2.5, False, "timeout", 1_700_000_100.5, 1_700_000_103.0, 40.0)],
        steps=[StepTiming("Logging in", 0, "click", "click Sign in", 2.5, False, 500, {"status": 500},
                          ["shot.png"], 0.0, 40.0)],
        failure="timeout", failed_action="Logging in", screenshot="during-7.png",
        fault=FaultState(fault_active_at_start=True, fault_active_at_end=True, straddled=True, fault_missing=True,
                         level=0.15),
        generator=GeneratorState(user=3, endpoint="ws://browser:3000/", concurrency=5, cpu_load=2.25, host_cpu=0.9,
                                 driver_lag_ms=120.0, bound_ms=400.0, saturated=True, endpoint_lost=True),
        schedule=Schedule(scheduled_at=1_700_000_100.0, late_ms=500.0, started_late=True),
        captured=Captured(requests=[{"action": "Logging in", "method": "POST", "url": "http://app/login"}],
                          requests_capped={"Logging in": 2},
                          vitals=[{"action": "Logging in", "url": "http://app/dashboard", "lcp": 900.0}],
                          trace="trace-during-7.zip", service_turns={"database": {"Logging in": 4}},
                          turn_connections={"database": {"Logging in": {"9": 4}}}),
    )


def test_every_part_round_trips_through_a_flat_record() -> None:
    sample = _full()
    for part in PARTS:  # the fixture really sets every field: a default left in would not be tested
        value = getattr(sample, part)
        defaults = type(value)()
        assert all(getattr(value, f.name) != getattr(defaults, f.name) for f in fields(value)), part
    record = json.loads(json.dumps(sample.to_record()))  # as results.jsonl holds it
    assert not any(isinstance(v, dict) and k in PARTS for k, v in record.items())  # flat: no part nested
    again = Sample.from_record(record)
    assert again == sample
    assert again.excluded


def test_the_record_keys_are_the_flat_ones_sample_always_wrote() -> None:
    # a set: JSON readers take keys by name (only cpu_load's place in the line moved, to its part's)
    assert set(_full().to_record()) == set(RECORD_KEYS) and len(RECORD_KEYS) == len(set(RECORD_KEYS))
    assert set(Sample("before", 1, 1.0, 2.0, 1.0, True).to_record()) == set(RECORD_KEYS)
    # each key belongs to the core or to exactly one part: none hides another when flattened
    names = [f.name for f in fields(Sample) if f.name not in PARTS]
    names += [f.name for part in PARTS.values() for f in fields(part)]
    assert sorted(names) == sorted(RECORD_KEYS[1:])


def test_a_record_written_by_an_older_uxchaos_is_read_into_the_parts(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text(OLD_LINE + "\n", encoding="utf-8")
    (record,) = read_results(tmp_path)
    sample = Sample.from_record(record)  # the key from a later version is skipped
    assert (sample.phase, sample.attempt, sample.ok, sample.duration_s) == ("during", 3, True, 2.4)
    assert sample.actions[0].bound_ms == 12.5 and sample.steps[0].at_s == 0.05
    assert sample.fault == FaultState(True, True, False, False, 0.3)
    assert sample.generator == GeneratorState(2, "local", 4, 1.5, 0.62, 8.0, 12.5, False, False)
    assert sample.schedule == Schedule(1_700_000_000.0, 250.0, True)
    assert sample.captured.requests == [{"action": "Logging in", "method": "POST", "url": "http://app/login",
                                         "status": 303}]
    assert sample.captured.requests_capped == {"Logging in": 3}
    assert sample.captured.vitals == [{"action": "Logging in", "url": "http://app/dashboard", "ttfb": 310.0}]
    assert sample.captured.trace == "trace-during-3.zip"
    assert sample.captured.service_turns == {"database": {"Logging in": 6}}
    assert sample.captured.turn_connections == {"database": {"Logging in": {"17": 6}}}
    # written again, it is the same line but for the key this version does not know
    old = json.loads(OLD_LINE)
    del old["from_a_later_version"]
    assert sample.to_record() == old


def test_a_record_from_before_a_part_existed_gets_its_defaults() -> None:
    """The first uxchaos versions wrote neither virtual users, nor a schedule, nor captures."""
    sample = Sample.from_record({"type": "sample", "phase": "before", "attempt": 1, "started_at": 5.0,
                                 "ended_at": 6.0, "duration_s": 1.0, "ok": True, "straddled": True})
    assert sample.fault == FaultState(straddled=True) and sample.excluded
    assert (sample.generator, sample.schedule, sample.captured) == (GeneratorState(), Schedule(), Captured())
    assert sample.actions == [] and sample.steps == []


def test_old_records_feed_the_analysis_as_before(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(json.loads(OLD_LINE))
    store.append({**json.loads(OLD_LINE), "attempt": 4, "saturated": True})
    store.close()
    run = RunData.from_records({}, read_results(tmp_path))
    assert [s.excluded for s in run.samples] == [False, True]
    assert run.action_durations("Logging in", "during") == [2.4]  # the saturated one left out


@pytest.mark.parametrize("flag", ["straddled", "fault_missing", "saturated", "endpoint_lost"])
def test_each_flag_that_left_an_attempt_out_still_does(flag: str) -> None:
    record: dict[str, Any] = {"phase": "during", "attempt": 1, "started_at": 0.0, "ended_at": 1.0,
                              "duration_s": 1.0, "ok": True}
    assert not Sample.from_record(record).excluded
    assert Sample.from_record({**record, flag: True}).excluded


def test_parts_are_not_shared_between_samples() -> None:
    a, b = Sample("before", 1, 0.0, 1.0, 1.0, True), Sample("before", 2, 0.0, 1.0, 1.0, True)
    a.fault.straddled, a.generator.user, a.schedule.late_ms, a.captured.trace = True, 1, 5.0, "t.zip"
    assert (b.fault, b.generator, b.schedule, b.captured) == (FaultState(), GeneratorState(), Schedule(), Captured())

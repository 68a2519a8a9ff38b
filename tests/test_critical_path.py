"""benchmarks/critical_path.py's walk back along a step's chain of wake-ups, on lines as perf prints
them: only the waits on the path count, only the counted threads', a thread a timer woke continues with
its own previous run, and events at the same instant do not stall it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from critical_path import Schedule


def switch(t: float, tid: int, state: str, nxt: int) -> str:
    """`perf script -F pid,tid,cpu,time,trace` for sched_switch: the core leaves `tid` for `nxt`."""
    return (f"{tid:>6}/{tid:<6} [000] {t:.6f}: prev_comm=t{tid} x prev_pid={tid} prev_prio=120 "
            f"prev_state={state} ==> next_comm=t{nxt} next_pid={nxt} next_prio=120")


def waking(t: float, waker: int, woken: int) -> str:
    return f"{waker:>6}/{waker:<6} [001] {t:.6f}: comm=t{woken} pid={woken} prio=120 target_cpu=000"


def schedule(lines: list[str]) -> Schedule:
    s = Schedule()
    for line in lines:
        s.add(line)
    return s


# Journey thread 10 ← driver 20 ← browser 30; browser woken by a timer (no thread: the idle task 0),
# and thread 99 — another user's page — runs and waits beside them, never on the path.
CHAIN = [switch(0.00, 0, "R", 30), switch(0.05, 30, "S", 99),   # browser's previous run, then it sleeps
         waking(0.20, 0, 30), switch(0.25, 99, "R", 30),        # a timer wakes it; it waits 50 ms
         waking(0.45, 30, 20), switch(0.50, 30, "S", 99),       # it wakes the driver, which waits …
         switch(0.60, 99, "R", 20),                             # … 150 ms behind 99
         waking(0.90, 20, 10), switch(0.95, 20, "S", 99),       # the driver wakes the journey thread
         switch(1.30, 99, "R", 10), switch(1.40, 10, "S", 0)]   # which waits 400 ms, then ends the step


def test_the_walk_sums_the_waits_on_the_chain_of_wake_ups_within_the_step() -> None:
    s = schedule(CHAIN)
    generator = {10, 20, 30}
    # from the step's end back: journey 0.90→1.30, driver 0.45→0.60, browser 0.20→0.25
    assert s.path_waits(10, 0.0, 1.35, generator) == pytest.approx(0.40 + 0.15 + 0.05)
    # only the part of each wait inside the step's window
    assert s.path_waits(10, 0.5, 1.35, generator) == pytest.approx(0.40 + 0.10)
    # 99 waited too (preempted at 0.60 until 1.30… and before) but is not on the path
    assert s.path_waits(10, 0.0, 1.35, generator | {99}) == pytest.approx(0.60)


def test_a_thread_a_timer_woke_continues_with_its_own_previous_run() -> None:
    # 20 woke 10 at 0.05; 10 ran and slept on a timer, which woke it at 0.50 (no thread: 0); it waited
    # until 0.60, while 20 had waited 0.02–0.04 before it woke 10
    s = schedule([waking(0.02, 0, 20), switch(0.04, 0, "R", 20), waking(0.05, 20, 10), switch(0.06, 20, "S", 10),
                  switch(0.10, 10, "S", 0), waking(0.50, 0, 10), switch(0.55, 0, "R", 99),
                  switch(0.60, 99, "R", 10), switch(0.70, 10, "S", 0)])
    # back from 0.65: 10's wait 0.50→0.60, then its run before (woken by 20: 0.05→0.06), then 20's 0.02→0.04
    assert s.path_waits(10, 0.0, 0.65, {10, 20}) == pytest.approx(0.10 + 0.01 + 0.02)


def test_a_switch_out_and_in_at_the_same_instant_does_not_stall_the_walk() -> None:
    # 10 is preempted on one core and switched in on the other in the same nanosecond, then waits again
    s = schedule([waking(0.05, 20, 10), switch(0.10, 0, "R", 10), switch(0.30, 10, "R", 99),
                  switch(0.30, 98, "R", 10), switch(0.40, 10, "R", 97), switch(0.45, 97, "S", 10),
                  switch(0.50, 10, "S", 0)])
    assert s.path_waits(10, 0.0, 0.48, {10}) == pytest.approx(0.05 + 0.05)


def test_a_preempted_thread_continues_with_its_own_previous_run() -> None:
    # 10 runs from 0.1, is preempted by 99 at 0.3 and waits until 0.7; before, 20 woke it at 0.05
    s = schedule([waking(0.05, 20, 10), switch(0.10, 0, "R", 10), switch(0.30, 10, "R", 99),
                  switch(0.70, 99, "S", 10), switch(0.80, 10, "S", 0)])
    assert s.path_waits(10, 0.0, 0.75, {10, 20}) == pytest.approx(0.40 + 0.05)

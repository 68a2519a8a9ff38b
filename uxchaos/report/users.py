"""The report's parts for virtual users (uxchaos/users/pool.py): the seed-form table when attempts are
many, figures per phase (its users, closed or open model) and per number of users busy at once, the
generator's saturation, late starts of an open model, and the browser endpoints. Pure functions of a
run's data; the templates (_users.md.j2, report.html.j2) lay them out."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from uxchaos.results.records import LATE_MS, Sample
from uxchaos.results.rundata import RunData
from uxchaos.users.starvation import LEFT_OUT_SHARE
from uxchaos.util.durations import format_rate

PHASES = ("before", "during", "after")
MANY_ATTEMPTS = 20  # beyond this many attempts in a phase, the seed-form table shows medians per phase


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def many_attempts(run: RunData) -> bool:
    return max((len(run.attempts(p)) for p in PHASES), default=0) > MANY_ATTEMPTS


def medians_table(run: RunData) -> str:
    """The seed report's table, one row per action: the median of each phase (counted attempts only)
    with how many were counted, failed and left out."""
    lines = ["| Action | Before (s) | During (s) | After (s) |", "|---|---:|---:|---:|"]
    for action in run.actions:
        cells = []
        for phase in PHASES:
            samples = run.attempts(phase)
            values = run.action_durations(action, phase)
            failed = sum(1 for s in samples if not s.excluded and any(a.name == action and not a.ok for a in s.actions))
            left_out = sum(1 for s in samples if s.excluded)
            if not samples:
                cells.append("")
                continue
            median = f"{statistics.median(values):.2f}" if values else "–"
            extra = [f"n={len(values)}"] + ([f"✗{failed}"] if failed else []) + ([f"{left_out} left out"] if left_out
                                                                                   else [])
            cells.append(f"{median} ({', '.join(extra)})")
        lines.append(f"| {_md(action)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mark(sample: Sample) -> str:
    """The footnote marks of a sample left out of the statistics for load reasons."""
    return " ⌁" if sample.generator.saturated else " ⊘" if sample.generator.endpoint_lost else ""


@dataclass
class Figures:
    """Journey times (s) of a group of attempts: every ok one, also those left out of the summary."""

    attempts: int
    ok: int
    median_s: float | None
    p95_s: float | None

    @classmethod
    def of(cls, samples: list[Sample]) -> Figures:
        ok = [s.duration_s for s in samples if s.ok]
        return cls(len(samples), len(ok), float(np.median(ok)) if ok else None,
                   float(np.percentile(ok, 95)) if ok else None)


@dataclass
class PhaseRow:
    phase: str
    model: str  # "4 users (closed)", "2/s on at most 8 users (open)"
    users: int
    figures: Figures
    saturated: int
    late: int | None  # an open model's attempts that started late; None for a closed model


@dataclass
class ConcurrencyRow:
    phase: str
    busy: int  # users busy at once
    figures: Figures
    saturated: int
    host_cpu: float | None


@dataclass
class EndpointRow:
    url: str
    lost: bool
    figures: Figures
    failed: int  # failed, not with the endpoint
    lost_attempts: int
    round_trip_ms: float | None


@dataclass
class UsersReport:
    phases: list[PhaseRow]
    concurrency: list[ConcurrencyRow]
    endpoints: list[EndpointRow]
    lost: list[tuple[str, str]]  # endpoint, why
    saturated: int
    saturated_at: list[int]  # users busy at once when it happened
    late: int  # open-model attempts that started late
    scheduled: int  # open-model attempts
    worst_late_s: float | None
    late_by_ms: float = LATE_MS
    left_out_share: float = LEFT_OUT_SHARE


def _model(run: RunData, phase: str, users: int) -> str:
    spec = (run.meta.get("scenario", {}).get("phases") or {}).get(phase) or {}
    rate = spec.get("arrival_rate")
    if rate:
        return f"{format_rate(rate)} on at most {users} user{'s' if users != 1 else ''} (open)"
    return f"{users} user{'s' if users != 1 else ''} (closed)"


def users_report(run: RunData) -> UsersReport | None:
    """The figures of a run by virtual users; None for a one-user run."""
    if not any(s.generator.user is not None for s in run.samples):
        return None
    users = run.meta.get("users") or {}
    phases = []
    for phase in PHASES:
        samples = run.attempts(phase)
        if not samples:
            continue
        n = int(users.get(phase) or max((s.generator.user or 1 for s in samples), default=1))
        scheduled = any(s.schedule.scheduled_at is not None for s in samples)
        phases.append(PhaseRow(phase, _model(run, phase, n), n, Figures.of(samples),
                               sum(s.generator.saturated for s in samples),
                               sum(s.schedule.started_late for s in samples) if scheduled else None))
    concurrency = []
    for phase in PHASES:
        by_count: dict[int, list[Sample]] = {}
        for s in run.attempts(phase):
            by_count.setdefault(s.generator.concurrency or 1, []).append(s)
        for count in sorted(by_count):
            group = by_count[count]
            cpu = [s.generator.host_cpu for s in group if s.generator.host_cpu is not None]
            concurrency.append(ConcurrencyRow(phase, count, Figures.of(group),
                                              sum(s.generator.saturated for s in group),
                                              float(np.median(cpu)) if cpu else None))
    saturated = [s.generator for s in run.samples if s.generator.saturated]
    late = [s.schedule for s in run.samples if s.schedule.started_late]
    return UsersReport(phases, concurrency, *_endpoints(run), len(saturated),
                       sorted({g.concurrency for g in saturated if g.concurrency is not None}), len(late),
                       sum(s.schedule.scheduled_at is not None for s in run.samples),
                       max((t.late_ms or 0.0 for t in late), default=0.0) / 1000 if late else None)


def _endpoints(run: RunData) -> tuple[list[EndpointRow], list[tuple[str, str]]]:
    groups: dict[str, list[Sample]] = {}
    for s in run.samples:
        groups.setdefault(s.generator.endpoint or "local", []).append(s)
    trips: dict[str, list[float]] = {}
    for record in run.meta.get("endpoints") or []:
        if record.get("round_trip_ms") is not None:
            trips.setdefault(record["endpoint"], []).append(record["round_trip_ms"])
    lost = {r["endpoint"]: str(r.get("reason", "")) for r in run.meta.get("endpoints_lost") or []}
    rows = [EndpointRow(url, url in lost, Figures.of(group),
                        sum(not s.ok and not s.generator.endpoint_lost for s in group),
                        sum(s.generator.endpoint_lost for s in group),
                        float(statistics.median(trips[url])) if url in trips else None)
            for url, group in groups.items()]
    return rows, list(lost.items())


def users_section(run: RunData) -> str:
    """The report's "Virtual users" section in markdown (the template _users.md.j2); "" for a one-user run."""
    from uxchaos.report.templating import render

    return render("_users.md.j2", None, users=users_report(run)).strip()

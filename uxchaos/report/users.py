"""The report's parts for virtual users (uxchaos/users.py): the seed-form table when attempts are
many, the generator's saturation, and the browser endpoints. Pure functions of a run's data."""

from __future__ import annotations

import statistics
from typing import Any

from uxchaos.report.data import RunData
from uxchaos.results import Sample

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
    return " ⌁" if sample.saturated else " ⊘" if sample.endpoint_lost else ""


def users_section(run: RunData) -> list[str]:
    """Markdown lines: saturation, users per phase, per-endpoint figures. Empty for a one-user run."""
    if not any(s.user is not None for s in run.samples):
        return []
    parts: list[str] = ["## Virtual users", ""]
    users = run.meta.get("users") or {}
    if users:
        parts += ["Users per phase: " + ", ".join(f"{p} {n}" for p, n in users.items()) + ".", ""]
    saturated = [s for s in run.samples if s.saturated]
    if saturated:
        at = sorted({s.concurrency for s in saturated if s.concurrency is not None})
        parts += [f"⌁ **{len(saturated)} attempt(s) were measured while the load generator was saturated** (host CPU "
                  f"≥ 90% or the generator's timer ≥ 100 ms late, with {', '.join(map(str, at))} users busy at once): "
                  "shown, but left out of the summary — their times say as much about this machine as about the "
                  "target. Use fewer users, or spread them over remote browsers.", ""]
    else:
        parts += ["No attempt was measured while the load generator was saturated.", ""]
    parts += ["| Phase | Users busy at once | Attempts | Saturated | Median journey, every ok attempt (s) | "
              "Host CPU (median) |",
              "|---|---:|---:|---:|---:|---:|"]
    for phase in PHASES:
        by_count: dict[int, list[Sample]] = {}
        for s in run.attempts(phase):
            by_count.setdefault(s.concurrency or 1, []).append(s)
        for count in sorted(by_count):
            group = by_count[count]
            ok = [s.duration_s for s in group if s.ok]
            cpu = [s.host_cpu for s in group if s.host_cpu is not None]
            parts.append(f"| {phase} | {count} | {len(group)} | {sum(s.saturated for s in group)} | "
                         f"{(f'{statistics.median(ok):.2f}' if ok else '–')} | "
                         f"{(f'{statistics.median(cpu):.0%}' if cpu else '–')} |")
    parts += ["", *endpoints_table(run), ""]
    return parts


def endpoints_table(run: RunData) -> list[str]:
    endpoints: dict[str, list[Sample]] = {}
    for s in run.samples:
        endpoints.setdefault(s.endpoint or "local", []).append(s)
    trips: dict[str, list[float]] = {}
    for record in run.meta.get("endpoints") or []:
        if record.get("round_trip_ms") is not None:
            trips.setdefault(record["endpoint"], []).append(record["round_trip_ms"])
    lost: dict[str, Any] = {r["endpoint"]: r for r in run.meta.get("endpoints_lost") or []}
    lines = ["| Browser endpoint | Attempts | OK | Failed | Lost with the endpoint | "
             "Median journey, every ok attempt (s) | "
             "Round trip (ms) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for url, group in endpoints.items():
        ok = [s.duration_s for s in group if s.ok]
        trip = f"{statistics.median(trips[url]):.1f}" if url in trips else "–"
        failed = sum(not s.ok and not s.endpoint_lost for s in group)
        lines.append(f"| {_md(url)}{' (lost)' if url in lost else ''} | {len(group)} | {sum(s.ok for s in group)} | "
                     f"{failed} | {sum(s.endpoint_lost for s in group)} | "
                     f"{(f'{statistics.median(ok):.2f}' if ok else '–')} | {trip} |")
    for url, record in lost.items():
        lines.append("")
        lines.append(f"⊘ {_md(url)} was lost: {_md(str(record.get('reason', '')))} — its attempts in flight failed "
                     "and are left out of the summary; its users moved to the endpoints still alive.")
    return lines

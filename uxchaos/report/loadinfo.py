"""What the report says about the Locust load besides its table: what ran, where, and how busy the host
was (a load generator on the browsers' machine takes their CPU)."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field

from uxchaos.load.stats import ALL
from uxchaos.results.rundata import RunData


@dataclass
class LoadInfo:
    started: bool = False
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    all: str = ALL


def load_info(run: RunData) -> LoadInfo:
    spec = run.meta.get("scenario", {}).get("load")
    started = next((e for e in run.load_events if e.get("event") == "started"), None)
    if spec is None and started is None:
        return LoadInfo()
    spec = spec or {}
    source = f"locustfile `{os.path.basename(spec['locustfile'])}`" if spec.get("locustfile") else \
        f"the scenario's requests ({', '.join(spec.get('requests', []))})"
    workers = int(spec.get("workers") or 0)
    where = f"a Locust master and {workers} worker processes" if workers else "one Locust process"
    where += " on the same machine as the browsers"
    if spec.get("master"):
        where = f"a Locust master on {spec['master']} with {workers} workers started elsewhere (`uxchaos load worker`)"
    loads = [s.generator.cpu_load for s in run.samples if s.generator.cpu_load is not None]
    busy = (f"; the host's 1-minute load average at the browser attempts: median {statistics.median(loads):.1f}, "
            f"max {max(loads):.1f} on {os.cpu_count()} cores") if loads else ""
    summary = (f"{spec.get('users', '?')} users from {source}, spawned at {spec.get('spawn_rate', 0):g}/s, run by "
               f"{where}{busy}.")
    if started is None:
        summary += " The load never started (the run ended before)."
    warnings = [str(e.get("text")) for e in run.load_events if e.get("event") == "warning"]
    return LoadInfo(started is not None, summary, warnings)

"""A run as the renderers see it, rebuilt from run.json and results.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uxchaos.errors import BadInput, EnvironmentProblem
from uxchaos.results.records import Sample, read_results


@dataclass
class RunData:
    meta: dict[str, Any]
    samples: list[Sample]
    events: list[dict[str, Any]]
    run_dir: Path | None = None
    actions: list[str] = field(default_factory=list)
    load_records: list[dict[str, Any]] = field(default_factory=list)  # `load` records: the Locust load, every second
    load_events: list[dict[str, Any]] = field(default_factory=list)  # started, ramped, warning, stopped

    @classmethod
    def load(cls, run_dir: Path) -> RunData:
        meta_path = run_dir / "run.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
            return cls.from_records(meta, read_results(run_dir), run_dir)
        except OSError as e:
            raise EnvironmentProblem(f"cannot read the run folder {run_dir}: {e.strerror or e}") from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # not UTF-8, not JSON, not uxchaos's records
            raise BadInput(f"{run_dir} does not hold a readable uxchaos run (results.jsonl, run.json): "
                           f"{type(e).__name__}: {' '.join(str(e).split())[:120]}") from None

    @classmethod
    def from_records(cls, meta: dict[str, Any], records: list[dict[str, Any]], run_dir: Path | None = None) -> RunData:
        samples = [Sample.from_record(r) for r in records if r.get("type") == "sample"]
        events = [{k: v for k, v in r.items() if k != "type"} for r in records if r.get("type") == "fault_event"]
        actions = [a["action"] for a in meta.get("scenario", {}).get("journey", [])]
        for s in samples:
            for a in s.actions:
                if a.name not in actions:
                    actions.append(a.name)
        load_records = [r for r in records if r.get("type") == "load"]
        load_events = [r for r in records if r.get("type") == "load_event"]
        # connections found to be another client's (a queue worker) after some attempts were counted
        without_background(samples, {(r["proxy"], int(r["connection"])) for r in records
                                     if r.get("type") == "turn_background"})
        return cls(meta, samples, events, run_dir, actions, load_records, load_events)

    @property
    def fault(self) -> dict[str, Any] | None:
        """The fault the run applied: the scenario's, or its alternative when the pre-flight chose it."""
        chosen = self.meta.get("fault_choice") or {}
        return chosen.get("fault") or self.meta.get("scenario", {}).get("fault")

    def action_durations(self, action: str, phase: str) -> list[float]:
        """Successful, non-straddled timings of one action in one phase."""
        out = []
        for s in self.samples:
            if s.phase != phase or s.excluded:
                continue
            for a in s.actions:
                if a.name == action and a.ok and a.duration_s is not None:
                    out.append(a.duration_s)
        return out

    def attempts(self, phase: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == phase]


def without_background(samples: list[Sample], background: set[tuple[str, int]]) -> None:
    """Takes the turns of every connection found in the background — also those found after an attempt
    was counted — out of the samples' turns per action (from their turns per connection)."""
    for sample in samples:
        captured = sample.captured
        if not captured.turn_connections:
            continue
        captured.service_turns = {
            proxy: {action: sum(n for conn, n in conns.items() if (proxy, int(conn)) not in background)
                    for action, conns in actions.items()}
            for proxy, actions in captured.turn_connections.items()}

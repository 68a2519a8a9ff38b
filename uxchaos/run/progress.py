"""Live progress on the terminal: phase, attempt, last timings, fault events."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any, TextIO

from uxchaos.results.records import Sample


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.phase = ""
        self.total = 0

    def _say(self, text: str) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        print(f"{stamp}  {text}", file=self.stream, flush=True)

    def on_phase(self, phase: str, attempts: int) -> None:
        self.phase, self.total = phase, attempts
        self._say(f"── {phase} phase: {attempts} attempt(s)")

    def on_sample(self, sample: Sample) -> None:
        parts = [f"{a.name} {a.duration_s:.2f}s" if a.ok and a.duration_s is not None else f"{a.name} ✗"
                 for a in sample.actions]
        fault, generator = sample.fault, sample.generator
        flag = "  (straddled the fault change)" if fault.straddled else \
            "  (the fault was not in force)" if fault.fault_missing else \
            f"  ⌁ left out: the generator's starvation can have added {generator.bound_ms:.0f} ms" \
            if generator.saturated and generator.bound_ms is not None else ""
        verdict = "✓" if sample.ok else f"✗ {sample.failure}"
        self._say(f"[{sample.phase} {sample.attempt}/{self.total}] " + " · ".join(parts) + f"  {verdict}{flag}")

    def on_event(self, event: dict[str, Any]) -> None:
        name = event["event"]
        if name == "inject_requested":
            self._say(f"⚡ injecting: {event.get('fault')}")
        elif name == "reverted":
            self._say(f"✔ fault reverted ({event.get('reason')})")
        elif name == "target_exited":
            self._say(f"target process {event.get('pid')} exited: {event.get('status')}")
        elif name == "replacement_running":
            # a supervised process has a pid; a Swarm task's replacement is a container
            who = f"pid {event['pid']}" if event.get("pid") is not None else \
                f"container {event.get('container')} of {event.get('service')}"
            self._say(f"replacement running as {who}, {event.get('after_kill_s')}s after the kill")

    def on_message(self, text: str) -> None:
        self._say(text)

"""What a run is given and what it gives back: its options, the listeners that follow it (progress
on the terminal, the pytest plugin), its outcome, and the folder it writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from uxchaos.browser.session import BrowserSession
from uxchaos.journey.traces import default_mode
from uxchaos.results.records import Sample


class Listener(Protocol):
    def on_phase(self, phase: str, attempts: int) -> None: ...
    def on_sample(self, sample: Sample) -> None: ...
    def on_event(self, event: dict[str, Any]) -> None: ...
    def on_message(self, text: str) -> None: ...


@dataclass
class RunOptions:
    out_dir: Path = Path("reports")
    attempts: int | None = None  # overrides every phase's attempts
    base_url: str | None = None
    headed: bool = False
    deadline_s: float | None = 7200.0  # the whole run; None = no deadline
    force: bool = False  # targets that match many containers are allowed
    browser: BrowserSession | None = None  # an open session to use (the pytest plugin's); else one is launched
    users: int | None = None  # overrides every phase's users; given, the phases run as virtual users (users/pool.py)
    endpoints: list[str] = field(default_factory=list)  # browser endpoints (browser/endpoints.py); [] = local
    # Playwright traces kept (journey/traces.py): off, on, retain-on-failure, slowest; default $UXCHAOS_TRACE or slowest
    trace: str = field(default_factory=default_mode)
    trace_screenshots: bool = False  # traces also record the screencast (journey/traces.py says what it costs)


@dataclass
class RunOutcome:
    run_dir: Path
    samples: list[Sample] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"  # completed | interrupted | failed


def new_run_dir(out_dir: Path, scenario_name: str) -> Path:
    """The run's own folder, made here: two runs of one scenario started in the same second (in
    parallel, into one --out) each claim a folder of their own — checked and made later, they shared
    one and one run's run.json replaced the other's."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    n = 1
    while True:
        run_dir = out_dir / scenario_name / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            n += 1
            continue
        except OSError:
            pass  # the results store says what is wrong with the folder, in one line
        return run_dir

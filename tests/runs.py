"""`uxchaos run` as a child process, for tests that signal it or watch it mid-run."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from uxchaos.results import read_results


@contextlib.contextmanager
def started_run(scenario: Path, out: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """The run with its stderr piped (read it with `communicate`); killed on the way out if it is
    still running, so a failing test never leaves a run holding a fault."""
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(scenario), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def has_event(out: Path, event: str) -> bool:
    """Whether a run under `out` has recorded the fault event (e.g. "injected") yet."""
    return any(r.get("event") == event for f in out.glob("*/*/results.jsonl") for r in read_results(f.parent))

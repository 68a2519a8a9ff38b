"""`uxchaos run` as a child process, for tests that signal it or watch it mid-run."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from uxchaos.results.records import read_results


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


def browser_processes(ancestor: int | None = None) -> set[int]:
    """PIDs of Chromium browser processes — not its renderers, GPU or utility processes, which carry
    --type= (in an argv each rewrites into one string) — from /proc: those descended from `ancestor`,
    or with None every one on the machine (a killed run's orphans are no one's descendants)."""
    parents: dict[int, int] = {}
    commands: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == ancestor:
                return True
        return False

    return {pid for pid, argv in commands.items()
            if "chrom" in Path(argv[0].split(" ")[0]).name and not any("--type=" in a for a in argv)
            and (ancestor is None or descends(pid))}

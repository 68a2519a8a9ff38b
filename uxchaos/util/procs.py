"""Process helpers: children that cannot outlive uxchaos (if uxchaos dies, even by SIGKILL, the
kernel sends them a signal: Linux PR_SET_PDEATHSIG), whether a pid is alive, and the state folder."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from uxchaos.errors import EnvironmentProblem

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn for subprocess.Popen (None where the kernel has no such feature)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def state_dir() -> Path:
    """Where uxchaos keeps state between processes (the ledger, the demo's state file)."""
    base = os.environ.get("UXCHAOS_STATE_DIR") or os.path.join(tempfile.gettempdir(), f"uxchaos-{os.getuid()}")
    return Path(base)


def state_problem(error: OSError) -> EnvironmentProblem:
    """A write to the state folder failed (read-only, full, not ours): say where and what to do."""
    source = "UXCHAOS_STATE_DIR" if os.environ.get("UXCHAOS_STATE_DIR") else "the default state folder"
    return EnvironmentProblem(
        f"cannot write uxchaos's state folder {state_dir()} ({source}): {error.strerror or error}. "
        "uxchaos keeps its fault ledger there, so a killed run can be undone: free space there, or point "
        "UXCHAOS_STATE_DIR at a writable folder")


def writable_state_dir() -> Path:
    """The state folder, made if missing and known to take a file — checked before anything is started
    or injected, so a run never holds a fault it could not write down."""
    folder = state_dir()
    probe = folder / f".probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "w") as f:
            f.write("uxchaos state folder probe\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise state_problem(e) from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return folder


def pid_alive(pid: int) -> bool:
    """Is the process there (a zombie counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True

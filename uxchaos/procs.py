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

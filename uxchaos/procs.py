"""Child processes that cannot outlive uxchaos: if uxchaos dies, even by SIGKILL, the kernel sends
them a signal (Linux PR_SET_PDEATHSIG), so a killed run leaves no demo server running."""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn for subprocess.Popen (None where the kernel has no such feature)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec

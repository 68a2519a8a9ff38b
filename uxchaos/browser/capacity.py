"""How many local browser users this machine holds: its cores and available memory against what one
local user costs (a Playwright driver and a page) beside the Chromium they share."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Sized from the memory (PSS) of local users with one demo page open each (benchmarks/RESULTS.md).
MB_PER_LOCAL_USER = 120  # a Playwright driver, and a context with its page in the shared Chromium
MB_SHARED_BROWSER = 500  # the Chromium the local users share, and its browser server


@dataclass
class Capacity:
    cores: int
    available_mb: int
    max_users: int

    def explain(self) -> str:
        return (f"this machine has {self.cores} core(s) and {self.available_mb} MB of memory available; the local "
                f"users share one Chromium (about {MB_SHARED_BROWSER} MB) and each runs a Playwright driver and a "
                f"page of its own (about {MB_PER_LOCAL_USER} MB), so at most "
                f"{self.max_users} local users fit — and the CPU saturates far sooner (about one user per core "
                "for a login journey; attempts the generator's starvation may have distorted are flagged)")


def local_capacity() -> Capacity:
    available_kb = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available_kb = int(line.split()[1])
    except (OSError, ValueError):
        available_kb = 4 * 1024 * 1024
    available_mb = available_kb // 1024
    return Capacity(os.cpu_count() or 1, available_mb, max(1, (available_mb - MB_SHARED_BROWSER) // MB_PER_LOCAL_USER))

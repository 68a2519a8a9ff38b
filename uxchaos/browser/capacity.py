"""How many local browser users this machine holds: its cores and available memory against what one
local user costs (a Playwright driver, a Chromium of its own and a page)."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Sized from the memory (PSS) of local users with one small page open each, headless shell: one user
# 317 MB, four 748 MB (the first browser carries the libraries the others then share). A shown window
# (--headed: the full Chromium) takes more; headed runs with many users are rare.
MB_PER_LOCAL_USER = 150  # a Playwright driver, its Chromium (headless shell) and a context with its page
MB_FIRST_USER = 350  # the first of them, with the libraries every browser and driver then shares


@dataclass
class Capacity:
    cores: int
    available_mb: int
    max_users: int

    def explain(self) -> str:
        return (f"this machine has {self.cores} core(s) and {self.available_mb} MB of memory available; each local "
                f"user runs a Playwright driver, a Chromium and a page of its own (the first about {MB_FIRST_USER} MB, "
                f"each further one about {MB_PER_LOCAL_USER} MB), so at most "
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
    return Capacity(os.cpu_count() or 1, available_mb, max(1, 1 + (available_mb - MB_FIRST_USER) // MB_PER_LOCAL_USER))

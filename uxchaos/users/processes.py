"""The load generator's processes and threads, read from /proc: which descendants of this process are
Playwright drivers, Chromium's browser, renderers and network service, the target uxchaos started
here, or other work; which of their threads relay a step's chain of work; their CPU time and start
times. users/starvation.py bounds a step by these threads' run-queue waits."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

# The threads of each process kind that relay a step's work, besides the process's main thread (comm
# names, at most 15 characters): Chromium's IO threads carry every IPC message, a renderer's compositor
# thread its input events and frames.
CHAIN_THREADS = {"browser": ("Chrome_IOThread",), "network": ("Chrome_ChildIOT",),
                 "renderer": ("Chrome_ChildIOT", "Compositor"), "node": ()}
# Processes of the system under test when uxchaos started it on this host (the demo's app, worker and
# database; the Laravel demo's PHP and MariaDB): their CPU is the target's work, not the generator's.
TARGET_NAMES = ("postgres", "mariadbd", "mysqld", "php", "redis-server", "uvicorn")
TARGET_ARGS = ("uxchaos.demo",)
# This process's threads that are the target's path, not the generator: the fault proxy's loop (every byte
# between the app and its database passes through it, as it would for a bare script measuring the same
# target) and the demo's worker supervisor.
TARGET_THREADS = ("uxchaos-proxy", "uxchaos-supervisor")
TICK_NS = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, or None where /proc/stat does not exist."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def read_proc(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:  # the process or thread has ended
        return None


def descendants(pid: int) -> Iterator[int]:
    yield from family(pid)


def family(pid: int) -> dict[int, int]:
    """Every descendant of a process → its parent, in one walk of the tree (every thread's children:
    a process may have been started by any of its threads)."""
    tree: dict[int, int] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        for tid in list_dir(f"/proc/{parent}/task"):
            for child in (read_proc(f"/proc/{parent}/task/{tid}/children") or "").split():
                tree[int(child)] = parent
                parents.append(int(child))
    return tree


def list_dir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def born(pid: int, tid: int | None = None) -> float | None:
    """When a process (or one of its threads) started (epoch s, to a clock tick): /proc's start time
    counts from boot on the boot-time clock (/proc/stat's btime is whole seconds: too coarse)."""
    text = read_proc(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    if not text or not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    started = int(text.rsplit(")", 1)[-1].split()[19]) * TICK_NS / 1e9
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - started)


def read_counter(path: str) -> bytes | None:
    """A small /proc file, raw. The load monitor reads about a hundred every 100 ms; os.read costs
    about a third of open()'s text file (10 µs against 35 here)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # the process or thread has ended
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def run_ns(pid: int) -> int | None:
    """The CPU time (user + system) of every thread of a process so far, ns (clock-tick resolution)."""
    text = read_counter(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(b")", 1)[-1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) * TICK_NS


journey_threads: set[int] = set()  # native ids of this process's threads that run journeys
drivers: dict[int, int] = {}  # journey thread → the pid of its own Playwright driver (node), when known


@contextlib.contextmanager
def journey_thread() -> Iterator[None]:
    """Count the calling thread as the generator's while it runs journeys. Only these of this process
    are counted: its other threads (this monitor, loops polling for Ctrl-C, a proxy) wake on timers of
    their own and would wait for a core on a busy host without being on any step's path."""
    tid = threading.get_native_id()
    journey_threads.add(tid)
    try:
        yield
    finally:
        journey_threads.discard(tid)
        drivers.pop(tid, None)


def own_driver(session: Any) -> None:
    """Note the Playwright driver (node process) of the calling journey thread's session, so that its
    steps are bounded by their own driver's wait and not by the busiest of all users' drivers. Reads
    Playwright's private transport; where that is not there, the busiest drivers stand for it."""
    try:
        pid = int(session._pw_manager._client._transport._proc.pid)
    except (AttributeError, TypeError, ValueError):
        return
    drivers[threading.get_native_id()] = pid


def process_kind(pid: int, comm: str) -> str:
    """What a descendant process is: "node" (a Playwright driver or the browser server), Chromium's
    "browser" process, "renderer", "network" service or another Chromium process ("chromium": GPU,
    zygotes, storage), "target" (the system under test, started here) or "other" (anything else: a
    load generator such as Locust, a test's CPU burner)."""
    if comm.startswith("node"):
        return "node"
    # Chromium's children rewrite their command line into one space-separated string.
    args = (read_proc(f"/proc/{pid}/cmdline") or "").replace("\0", " ").split()
    kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), None)
    if kind == "renderer":
        return "renderer"
    if kind == "utility" and any("NetworkService" in a for a in args):
        return "network"
    if kind is not None:
        return "chromium"
    if comm.startswith(("chrom", "headless")):
        return "browser"
    if comm.startswith(TARGET_NAMES) or any(t in a for a in args for t in TARGET_ARGS):
        return "target"
    return "other"


def generator_processes(pid: int | None = None, tree: dict[int, int] | None = None) -> dict[int, str]:
    """This process's descendants (or those of `tree`, from family()), by kind (process_kind)."""
    return {kid: process_kind(kid, (read_proc(f"/proc/{kid}/comm") or "").strip().lower())
            for kid in (tree if tree is not None else family(pid or os.getpid()))}


def owners(tree: dict[int, int] | None = None) -> dict[int, int]:
    """Each process a user's own Playwright driver started (its Chromium and that browser's children)
    → that driver's pid: whose work a process does, when each local user has a browser of its own.
    `tree`: this process's family(), when already read."""
    tree = tree if tree is not None else family(os.getpid())
    mine = set(drivers.values())
    owner: dict[int, int] = {}
    for kid in tree:
        up = tree.get(kid)
        while up is not None and up not in mine:
            up = tree.get(up)
        if up is not None:
            owner[kid] = up
    return owner


def owned(role: str, owner: int | None) -> str:
    """A role with its process's owner (a user's driver), when known: "browser@<driver>"."""
    return role if owner is None else f"{role}@{owner}"


# Both run for every role in every sampling interval of every step an attempt bounds (starvation.wait_ms,
# on the users' own threads, where their CPU is other users' "other work"); the roles repeat.
@functools.lru_cache(maxsize=65536)
def owner_of(role: str) -> int | None:
    """The driver whose user a role's process works for (owned), or None when not known."""
    _, at, owner = role.rpartition("@")
    return int(owner) if at and owner.isdigit() else None


@functools.lru_cache(maxsize=65536)
def kind_of(role: str) -> str:
    """A role without its pid and owner: "renderer:<pid>@<driver>" → "renderer"."""
    return role.split("@", 1)[0].split(":", 1)[0]


def generator_threads(pid: int | None = None, processes: dict[int, str] | None = None,
                      owner: dict[int, int] | None = None) -> dict[str, str]:
    """The schedstat files of the threads a step's chain of work passes through, with their role: this
    process's journey threads ("journey:<tid>"); each node process's main thread ("node:<pid>"); the
    browser process's main and IO threads ("browser"); the network service's ("network"); each
    renderer's main, IO and compositor threads ("renderer:<pid>"). A Chromium process some user's own
    driver started carries that driver (`owner`, from owners()): "browser@<driver>"."""
    root = pid or os.getpid()
    owner = owner or {}
    threads = {f"/proc/{root}/task/{tid}/schedstat": f"journey:{tid}" for tid in sorted(journey_threads)}
    for kid, kind in (processes if processes is not None else generator_processes(root)).items():
        threads.update(chain_threads(kid, kind, owner.get(kid)))
    return threads


def chain_threads(pid: int, kind: str, owner: int | None = None) -> dict[str, str]:
    """One process's threads on a step's chain (generator_threads), with their role."""
    if kind not in CHAIN_THREADS:
        return {}
    role = f"{kind}:{pid}" if kind in ("node", "renderer") else kind
    if kind != "node":
        role = owned(role, owner)
    threads = {}
    for tid in list_dir(f"/proc/{pid}/task"):
        if tid == str(pid) or thread_name(pid, tid).startswith(CHAIN_THREADS[kind]):
            threads[f"/proc/{pid}/task/{tid}/schedstat"] = role
    return threads


_names: dict[tuple[int, str], str] = {}  # (pid, tid) → the thread's name, read once


def thread_name(pid: int, tid: str) -> str:
    """A thread's name (comm), read once: Chromium and node name their threads when they start them,
    and the monitor lists the same threads every second (a third of its listing's reads, before)."""
    key = (pid, tid)
    if key not in _names:
        name = read_proc(f"/proc/{pid}/task/{tid}/comm")
        if name is None:
            return ""
        _names[key] = name
    return _names[key]


def forget_threads(alive: set[int]) -> None:
    """Forget the names of the threads of processes that have ended: their pids will be reused."""
    for key in [k for k in _names if k[0] not in alive]:
        del _names[key]


def zygotes(processes: dict[int, str]) -> list[int]:
    """The Chromium processes that fork renderers (--type=zygote), among `processes`."""
    return [pid for pid, kind in processes.items()
            if kind == "chromium" and "--type=zygote" in (read_proc(f"/proc/{pid}/cmdline") or "")]


def children(pid: int) -> list[int]:
    """A single-threaded process's children (a zygote's renderers): one read, cheap enough for every
    sampling interval, where listing every descendant is not (≈ 2.6 ms per browser)."""
    return [int(kid) for kid in (read_proc(f"/proc/{pid}/task/{pid}/children") or "").split()]

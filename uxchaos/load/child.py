"""The Locust process: `python -m uxchaos.load.child …`. Everything gevent lives here, never in the
process that drives Playwright (importing Locust monkey-patches the standard library).

Locust is used as a library (its `Environment` and runners) rather than as `locust --headless`,
because the run changes the number of users while it goes (a surge steps up at inject and down at
revert) and needs every second's numbers as they happen; the CLI follows a fixed or shape-defined
schedule and writes cumulative CSV rows. Protocol, one JSON object per line:
- out (the original stdout; the locustfile's own prints go to stderr with Locust's log):
  {"kind": "ready"}, {"kind": "ramped", "users": N}, {"kind": "stats", …} every interval,
  {"kind": "warning", "text": …}, {"kind": "error", "text": …, "file": …, "line": …};
- in (stdin): {"users": N, "spawn_rate": R} changes the users; {"stop": true} or end of input stops.

Modes: a local runner (default), a master (`--workers N`: waits for N workers), a worker
(`--worker --master HOST:PORT`), and `--check` (import the locustfile, list its user classes)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from typing import Any, TextIO

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from gevent.fileobject import FileObjectPosix  # noqa: E402

WORKER_REPORT_INTERVAL_S = 1.0  # Locust's default is 3 s: the master would see each second's numbers late


def _percentile(hist: dict[int, int], q: float) -> int:
    total = sum(hist.values())
    if not total:
        return 0
    rank, seen = q * total, 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return ms
    return max(hist)


class Protocol:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def send(self, **record: Any) -> None:
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.out.flush()


def _error_record(e: BaseException, locustfile: str) -> dict[str, Any]:
    """Where in the locustfile it went wrong: its deepest frame in that file."""
    line = getattr(e, "lineno", None) if isinstance(e, SyntaxError) else None
    for frame in traceback.extract_tb(e.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(locustfile):
            line = frame.lineno
    return {"kind": "error", "file": locustfile, "line": line, "text": f"{type(e).__name__}: {e}"}


def load_users(locustfile: str) -> list[Any]:
    from locust.util.load_locustfile import load_locustfile

    user_classes, _shapes = load_locustfile(locustfile)
    if not user_classes:
        raise LookupError("no Locust user class in it (a class deriving from User, HttpUser or FastHttpUser)")
    return list(user_classes.values())


class Sampler:
    """Each interval's numbers per request name, as differences of Locust's cumulative statistics
    (so they work the same on a local runner and on a master fed by its workers)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.previous: dict[str, tuple[int, int, dict[int, int]]] = {}
        self.last = time.time()

    def sample(self) -> dict[str, Any]:
        now = time.time()
        requests: dict[str, Any] = {}
        for (name, method), entry in list(self.runner.stats.entries.items()):
            key = f"{method} {name}"
            n0, f0, h0 = self.previous.get(key, (0, 0, {}))
            hist = {int(ms): c - h0.get(ms, 0) for ms, c in entry.response_times.items() if c - h0.get(ms, 0) > 0}
            self.previous[key] = (entry.num_requests, entry.num_failures, dict(entry.response_times))
            n, failures = entry.num_requests - n0, entry.num_failures - f0
            if n or failures:
                requests[key] = {"n": n, "failures": failures, "p50_ms": _percentile(hist, 0.5),
                                 "p95_ms": _percentile(hist, 0.95), "max_ms": max(hist, default=0), "hist": hist}
        interval, self.last = now - self.last, now
        return {"time": now, "interval_s": round(interval, 3), "users": self.runner.user_count,
                "requests": requests}


def fetch_locustfile(host: str, port: int, folder: str) -> str:
    """`--locustfile -`: the master's locustfile, asked of the master as Locust's own workers do."""
    from locust.argument_parser import download_locustfile_from_master

    files = download_locustfile_from_master(host, port)
    if len(files) != 1 or not isinstance(files[0], dict):
        raise LookupError(f"the master at {host}:{port} sent {len(files)} locustfiles, not one file")
    path = os.path.join(folder, os.path.basename(files[0]["filename"]))
    with open(path, "w", encoding="utf-8") as f:
        f.write(files[0]["contents"])
    return path


def run_worker(args: argparse.Namespace, proto: Protocol) -> int:
    from locust import runners
    from locust.env import Environment

    runners.WORKER_REPORT_INTERVAL = WORKER_REPORT_INTERVAL_S
    host, _, port = args.master.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if args.locustfile == "-":
        args.locustfile = fetch_locustfile(host, int(port), tempfile.mkdtemp(prefix="uxchaos-locustfile-"))
    env = Environment(user_classes=load_users(args.locustfile), host=args.host)
    runner = env.create_worker_runner(host, int(port))
    proto.send(kind="ready")
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    runner.greenlet.join()
    return 0


def run_driver(args: argparse.Namespace, proto: Protocol) -> int:
    """The local runner or the master: starts the users, reports each interval, obeys stdin."""
    from locust.env import Environment

    # parsed_locustfiles: what the master sends a worker that asks for it (`--locustfile -`)
    env = Environment(user_classes=load_users(args.locustfile), host=args.host,
                      parsed_locustfiles=[os.path.abspath(args.locustfile)])
    if args.workers:
        host, _, port = args.bind.rpartition(":")
        runner: Any = env.create_master_runner(host.strip("[]") or "127.0.0.1", int(port))
        deadline = time.monotonic() + args.worker_timeout
        while runner.worker_count < args.workers:
            if time.monotonic() > deadline:
                proto.send(kind="error", file=None, line=None,
                           text=f"{runner.worker_count} of {args.workers} Locust workers connected to "
                           f"{args.bind} within {args.worker_timeout:g}s")
                return 3
            gevent.sleep(0.1)
    else:
        runner = env.create_local_runner()
    done = gevent.event.Event()
    env.events.spawning_complete.add_listener(lambda user_count, **_: proto.send(kind="ramped", users=user_count))
    proto.send(kind="ready")
    runner.start(args.users, args.spawn_rate)
    sampler = Sampler(runner)
    warned = False

    def report() -> None:
        nonlocal warned
        while not done.wait(args.interval):  # at the stop, the final sample below covers the rest
            proto.send(kind="stats", **sampler.sample())
            if not warned and (runner.cpu_warning_emitted or getattr(runner, "worker_cpu_warning_emitted", False)):
                warned = True
                proto.send(kind="warning", text="Locust reports high CPU usage (above 90%): its numbers and the "
                           "browser timings may be skewed; use load.workers or another machine")

    def control() -> None:
        stdin = FileObjectPosix(sys.stdin.fileno(), "rb")
        for line in stdin:
            try:
                command = json.loads(line)
            except ValueError:
                continue
            if command.get("stop"):
                break
            runner.start(int(command["users"]), float(command.get("spawn_rate") or command["users"]))
        done.set()

    gevent.signal_handler(signal.SIGTERM, done.set)
    gevent.signal_handler(signal.SIGINT, done.set)
    greenlets = [gevent.spawn(report), gevent.spawn(control)]
    done.wait()
    runner.quit()
    proto.send(kind="stats", final=True, **sampler.sample())
    gevent.killall(greenlets, timeout=2)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m uxchaos.load.child")
    p.add_argument("--locustfile", required=True)
    p.add_argument("--host", default="")
    p.add_argument("--users", type=int, default=1)
    p.add_argument("--spawn-rate", type=float, default=1.0)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=0, help="be a master and wait for this many workers")
    p.add_argument("--bind", default="127.0.0.1:5557", help="the master's address")
    p.add_argument("--worker-timeout", type=float, default=60.0)
    p.add_argument("--worker", action="store_true")
    p.add_argument("--master", default="127.0.0.1:5557")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    # The protocol keeps the real stdout; anything else printed (the locustfile's prints) goes to stderr.
    proto = Protocol(os.fdopen(os.dup(1), "w"))
    os.dup2(2, 1)
    from locust.log import setup_logging

    setup_logging("INFO")
    try:
        if args.check:
            users = load_users(args.locustfile)
            proto.send(kind="checked", user_classes=[u.__name__ for u in users])
            return 0
        return run_worker(args, proto) if args.worker else run_driver(args, proto)
    except (Exception, SystemExit) as e:  # reported to the parent, which turns it into one clear line
        proto.send(**_error_record(e, args.locustfile))
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())

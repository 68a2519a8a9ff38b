"""Fault proxy benchmark: round-trip latency and throughput direct vs through `uxchaos proxy serve`
(no toxic), a MariaDB query round trip (MySQL's protocol, where the server speaks first), and the
accuracy of injected latency. Echo server, database, proxies and client are separate processes,
all on 127.0.0.1.

    python benchmarks/proxy_bench.py [--rounds 3000] [--megabytes 32] [--pairs 9] [--baseline DIR]
                                     [--reference socat,haproxy] [--queries 2000]

Goals: throughput ≥ 0.9 × socat's in the same rounds; added round trip ≤ 200 µs.

This checkout's proxy (and, with `--baseline DIR`, the proxy of another checkout, e.g. the last
release, for a before/after figure) run side by side; every round measures direct, then each proxy,
so that a busy machine (this one is shared) weighs on all of them alike. Figures are medians over
the rounds; each share of direct is the median of per-round ratios to the direct run just before;
the CPU time the proxy process spent per MB comes from /proc and depends far less on that load.

`--reference` adds relays written in C, where installed (Debian's `socat` and `haproxy` packages),
as a yardstick for what any user-space proxy reaches on this machine: each of them, like ours, does
a receive and a send per chunk and direction on top of the echo's own.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from uxchaos.proxy.control import ControlClient
from uxchaos.util.netutil import free_port, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from dbservers import MariaDB, ServerMissing

ECHO = """
import socket, threading, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (d := c.recv(262144)):
        c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()
"""


@dataclass
class Variant:
    name: str
    port: int
    process: subprocess.Popen[str]
    control: ControlClient | None = None
    rtts: list[float] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # CPU time the proxy process spent in the throughput runs
    forks: bool = False  # serves each connection in a child process: its CPU time is not seen


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rtts(port: int, rounds: int, payload: bytes = b"x" * 64) -> list[float]:
    out = []
    with connect(port) as s:
        for _ in range(rounds):
            t = time.perf_counter()
            s.sendall(payload)
            got = 0
            while got < len(payload):
                got += len(s.recv(65536))
            out.append(time.perf_counter() - t)
    return out


def throughput(port: int, megabytes: int) -> float:
    total = megabytes * 1_000_000
    chunk = b"y" * 262144
    with connect(port) as s:
        def send() -> None:
            sent = 0
            while sent < total:
                s.sendall(chunk[: min(len(chunk), total - sent)])
                sent += min(len(chunk), total - sent)

        t = time.perf_counter()
        threading.Thread(target=send, daemon=True).start()
        got = 0
        while got < total:
            got += len(s.recv(1 << 20))
        return total / (time.perf_counter() - t) / 1e6


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (independent of how busy the machine is)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if q < 100 else max(values)


def start_proxy(name: str, echo_port: int, pythonpath: str | None) -> Variant:
    port = free_port()
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.Popen(
        [sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy",
         f"echo=127.0.0.1:{echo_port},listen=127.0.0.1:{port}", "--control", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    line = ""
    while "control API" not in line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"proxy variant {name} did not start")
    return Variant(name, port, proc, ControlClient(re.search(r"http://\S+", line).group(0)))  # type: ignore[union-attr]


HAPROXY_CFG = """
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option splice-auto
listen relay
    bind 127.0.0.1:{port}
    server echo 127.0.0.1:{echo_port}
"""


def query_rtts(port: int, queries: int) -> list[float]:
    """`SELECT 1` round trips of a MySQL-protocol client (PyMySQL) on one connection."""
    conn = MariaDB.connect(f"127.0.0.1:{port}", database=None)
    out = []
    try:
        with conn.cursor() as cur:
            for _ in range(queries):
                t = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetchone()
                out.append(time.perf_counter() - t)
    finally:
        conn.close()
    return out


def mariadb_round_trips(variants: list[Variant], queries: int, workdir: str) -> None:
    """Direct vs through each relay, interleaved: a proxy per relay in front of a real MariaDB."""
    try:
        db = MariaDB().start()
    except ServerMissing as e:
        print(f"note: MariaDB round trip left out: {e}", file=sys.stderr)
        return
    fronts: list[tuple[str, int, subprocess.Popen[str] | None]] = [("direct", db.port, None)]
    try:
        for v in variants:
            if v.control is not None:
                listen = v.control.create("mariadb", db.address)["listen"]
                fronts.append((v.name, int(listen.rsplit(":", 1)[1]), None))
            elif v.name == "socat":
                port = free_port()
                proc = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
                                         f"TCP:{db.address},nodelay"], stdout=subprocess.DEVNULL, text=True)
                wait_until(lambda port=port: bool(query_rtts(port, 1)), 10, "socat in front of MariaDB")
                fronts.append(("socat", port, proc))
        times: dict[str, list[float]] = {name: [] for name, _, _ in fronts}
        for _ in range(3):  # interleaved so drift affects all alike
            for name, port, _ in fronts:
                times[name] += query_rtts(port, queries // 3)
        base = statistics.median(times["direct"])
        print(f"MariaDB query round trip (SELECT 1 with PyMySQL, {len(times['direct'])} each, µs)")
        print(f"  {'':10}{'p50':>10}{'p99':>10}{'added':>10}")
        for name, _, _ in fronts:
            print(f"  {name:10}{statistics.median(times[name]) * 1e6:10.1f}{pct(times[name], 99) * 1e6:10.1f}"
                  f"{(statistics.median(times[name]) - base) * 1e6:10.1f}")
    finally:
        for _, _, proc in fronts:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        db.stop()


def start_reference(name: str, echo_port: int, workdir: str) -> Variant | None:
    """A C relay in front of the echo server, or None (with a note) when it is not installed."""
    port = free_port()
    if name == "socat":
        # One connection at a time is all the benchmark makes; 256 KiB reads like the echo server's.
        cmd = ["socat", "-b", "262144", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
               f"TCP:127.0.0.1:{echo_port},nodelay"]
    elif name == "haproxy":
        cfg = os.path.join(workdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=port, echo_port=echo_port))
        cmd = ["haproxy", "-db", "-f", cfg]
    else:
        raise SystemExit(f"--reference: unknown relay {name!r} (allowed: socat, haproxy)")
    if not shutil.which(cmd[0]):
        print(f"note: {name} is not installed (apt-get install {name}); left out", file=sys.stderr)
        return None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, text=True)
    wait_until(lambda: bool(rtts(port, 1)), 10, name)
    return Variant(name, port, proc, forks=name == "socat")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3000, help="64-byte round trips per variant")
    ap.add_argument("--megabytes", type=int, default=32, help="echoed per throughput run")
    ap.add_argument("--pairs", type=int, default=9, help="throughput rounds (direct, then each proxy)")
    ap.add_argument("--baseline", help="also run the proxy of this checkout (PYTHONPATH), e.g. the last release")
    ap.add_argument("--reference", default="", help="comma-separated C relays to run alongside: socat, haproxy")
    ap.add_argument("--queries", type=int, default=2000, help="MariaDB round trips per variant (0: leave out)")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="proxy-bench-")
    echo_port = free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)])
    variants: list[Variant] = []
    try:
        wait_until(lambda: bool(rtts(echo_port, 1)), 10, "echo server")
        if args.baseline:
            variants.append(start_proxy("baseline", echo_port, args.baseline))
        variants.append(start_proxy("proxy", echo_port, None))
        for name in filter(None, args.reference.split(",")):
            if (ref := start_reference(name.strip(), echo_port, workdir)) is not None:
                variants.append(ref)
        direct = Variant("direct", echo_port, echo)
        for v in [direct, *variants]:
            rtts(v.port, 200)  # warm-up
        for _ in range(3):  # interleaved so drift affects all alike
            for v in [direct, *variants]:
                v.rtts += rtts(v.port, args.rounds // 3)
        for _ in range(args.pairs):
            cpu = cpu_seconds(echo.pid)
            d = throughput(echo_port, args.megabytes)
            direct.cpu_s += cpu_seconds(echo.pid) - cpu
            direct.throughputs.append(d)
            for v in variants:
                cpu = cpu_seconds(v.process.pid)
                v.throughputs.append(throughput(v.port, args.megabytes))
                v.cpu_s += cpu_seconds(v.process.pid) - cpu
                v.ratios.append(v.throughputs[-1] / d)
        print(f"round trip, 64-byte messages, {len(direct.rtts)} each (µs); added = proxy p50 - direct p50")
        print(f"  {'':10}{'p50':>10}{'p99':>10}{'added':>10}")
        for v in [direct, *variants]:
            added = (statistics.median(v.rtts) - statistics.median(direct.rtts)) * 1e6
            print(f"  {v.name:10}{statistics.median(v.rtts) * 1e6:10.1f}{pct(v.rtts, 99) * 1e6:10.1f}"
                  f"{added if v is not direct else 0:10.1f}")
        print(f"throughput through echo, {args.megabytes} MB each way, {args.pairs} rounds (MB/s, median); "
              "share of direct = median of per-round ratios (goal ≥ 80%, added round trip ≤ 200 µs)")
        mb = args.megabytes * args.pairs * 2  # both directions
        print(f"  {'direct':10}{statistics.median(direct.throughputs):8.0f}   "
              f"(echo server CPU {direct.cpu_s / mb * 1e3:.2f} ms/MB)")
        for v in variants:
            cpu = "(forks)" if v.forks else f"{v.cpu_s / mb * 1e3:.2f} ms/MB"
            print(f"  {v.name:10}{statistics.median(v.throughputs):8.0f}   {statistics.median(v.ratios):4.0%} of direct"
                  f"  proxy CPU {cpu}  (rounds: {' '.join(f'{r:.0%}' for r in v.ratios)})")
        socat = next((v for v in variants if v.name == "socat"), None)
        if socat is not None:
            for v in variants:
                if v.control is not None:
                    vs = statistics.median(a / b for a, b in zip(v.throughputs, socat.throughputs, strict=True))
                    print(f"  {v.name} vs socat: {vs:.2f} × (median of per-round ratios; goal ≥ 0.9)")
        if args.queries:
            mariadb_round_trips(variants, args.queries, workdir)
        first = next(v for v in variants if v.name == "proxy")
        assert first.control is not None
        print(f"injected latency (downstream) through '{first.name}', requested vs measured added median round trip")
        base = statistics.median(rtts(first.port, 50))
        for ms in (10, 50, 200, 1000):
            first.control.add_toxic("echo", {"type": "latency", "name": "l", "attributes": {"latency": ms}})
            measured = statistics.median(rtts(first.port, 7 if ms >= 1000 else 25)) - base
            first.control.remove_toxic("echo", "l")
            print(f"  requested {ms:5d} ms  measured {measured * 1e3:9.2f} ms  error {measured * 1e3 - ms:+.2f} ms")
    finally:
        for v in variants:
            v.process.terminate()
            v.process.wait(10)
        echo.terminate()
        echo.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Fault proxy benchmark: round-trip latency and throughput direct vs through `uxchaos proxy serve`
(no toxic), and the accuracy of injected latency. Everything is measured side by side in one run;
echo server, proxy and client are separate processes, all on 127.0.0.1.

    python benchmarks/proxy_bench.py [--rounds 3000] [--megabytes 64]
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

from uxchaos.netutil import free_port, wait_until
from uxchaos.proxy.control import ControlClient

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


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if q < 100 else max(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--megabytes", type=int, default=64)
    args = ap.parse_args()
    echo_port, proxy_port, control_port = free_port(), free_port(), free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)])
    proxy = subprocess.Popen(
        [sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy",
         f"echo=127.0.0.1:{echo_port},listen=127.0.0.1:{proxy_port}", "--control", f"127.0.0.1:{control_port}"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proxy.stdout is not None
        line = ""
        while "control API" not in line:
            line = proxy.stdout.readline()
        control = ControlClient(re.search(r"http://\S+", line).group(0))  # type: ignore[union-attr]
        wait_until(lambda: bool(rtts(echo_port, 1)), 10, "echo server")
        rtts(echo_port, 200)
        rtts(proxy_port, 200)  # warm-up
        # Interleave direct and proxied runs so drift affects both alike.
        direct, proxied = [], []
        for _ in range(3):
            direct += rtts(echo_port, args.rounds // 3)
            proxied += rtts(proxy_port, args.rounds // 3)
        tp_direct = statistics.median(throughput(echo_port, args.megabytes) for _ in range(3))
        tp_proxy = statistics.median(throughput(proxy_port, args.megabytes) for _ in range(3))
        print(f"round trip, 64-byte messages, {len(direct)} each (µs)")
        print(f"  {'':10}{'p50':>10}{'p99':>10}")
        for name, values in (("direct", direct), ("proxy", proxied)):
            print(f"  {name:10}{statistics.median(values) * 1e6:10.1f}{pct(values, 99) * 1e6:10.1f}")
        added = (statistics.median(proxied) - statistics.median(direct)) * 1e3
        print(f"  added median round trip through the proxy: {added:.3f} ms (goal ≤ 0.2 ms)")
        print(f"throughput through echo, {args.megabytes} MB each way (MB/s): direct {tp_direct:.0f}, "
              f"proxy {tp_proxy:.0f} ({tp_proxy / tp_direct:.0%} of direct)")
        print("injected latency (downstream), requested vs measured added median round trip")
        base = statistics.median(rtts(proxy_port, 50))
        for ms in (10, 50, 200, 1000):
            control.add_toxic("echo", {"type": "latency", "name": "l", "attributes": {"latency": f"{ms}ms"}})
            measured = statistics.median(rtts(proxy_port, 7 if ms >= 1000 else 25)) - base
            control.remove_toxic("echo", "l")
            print(f"  requested {ms:5d} ms  measured {measured * 1e3:9.2f} ms  error {measured * 1e3 - ms:+.2f} ms")
    finally:
        proxy.terminate()
        echo.terminate()
        proxy.wait(10)
        echo.wait(10)


if __name__ == "__main__":
    main()

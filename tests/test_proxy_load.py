"""The proxy under load: 1000 concurrent connections through a delayed proxy, every byte delivered
in order, no file descriptor left open afterwards, memory bounded. The proxy runs in this process
(so /proc/self tells its file descriptors and memory); the echo server and the 1000 clients run in
a child process, so they do not share the proxy's interpreter lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from uxchaos.proxy import ProxyHub
from uxchaos.util.netutil import wait_until

CONNECTIONS = 1000
CLIENTS = r"""
import asyncio, sys, time
MESSAGES, SIZE, CONNECTIONS = 8, 2000, int(sys.argv[1])

def message(n, m):
    return f"{n:04d}:{m:02d}:".encode().ljust(SIZE, b"abcdefghijklmnopqrstuvwxyz"[m:m + 1])

async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()

async def client(port, n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()
    for m in range(MESSAGES):  # each answered before the next is sent
        writer.write(message(n, m))
        received += await reader.readexactly(SIZE)
    writer.close()
    await writer.wait_closed()
    return bytes(received) == b"".join(message(n, m) for m in range(MESSAGES))

async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    port = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    started = time.perf_counter()
    results = await asyncio.gather(*(client(port, n) for n in range(CONNECTIONS)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    good = sum(r is True for r in results)
    errors = {repr(r) for r in results if r is not True}
    print(f"{good} {elapsed:.2f} {sorted(errors)[:3]}", flush=True)
    await asyncio.sleep(0.5)  # the proxy closes its upstream side; the echo tasks end
    server.close()

asyncio.run(main())
"""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.timing
def test_thousand_concurrent_connections_through_a_delayed_proxy() -> None:
    clients = subprocess.Popen([sys.executable, "-c", CLIENTS, str(CONNECTIONS)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert clients.stdin is not None and clients.stdout is not None
        echo_port = int(clients.stdout.readline())
        fds_before, rss_before = open_fds(), rss_mb()
        with ProxyHub(seed=1) as hub:
            listen = hub.create("load", f"127.0.0.1:{echo_port}")["listen"]
            hub.add_toxic("load", {"type": "latency", "stream": "both", "attributes": {"latency": 20, "jitter": 10}})
            clients.stdin.write(listen.rsplit(":", 1)[1] + "\n")
            clients.stdin.flush()
            peaks = {"rss": rss_before, "fds": float(fds_before)}
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.02):
                    peaks["rss"], peaks["fds"] = max(peaks["rss"], rss_mb()), max(peaks["fds"], open_fds())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            line = clients.stdout.readline()
            done.set()
            sampler.join()
            peak_rss, peak_fds = peaks["rss"], peaks["fds"]
            print(f"1000 connections: {line.strip()} peak RSS +{peak_rss - rss_before:.0f} MB, peak fds {peak_fds:.0f}")
            assert line, "the clients ended without a result"
            good, elapsed, errors = line.split(" ", 2)
            assert int(good) == CONNECTIONS, errors  # every byte of every connection, in order
            assert 0.32 <= float(elapsed) <= 20  # 8 round trips of ≥ 40 ms each, all connections at once
            assert hub.describe("load")["total_connections"] == CONNECTIONS
            assert peak_fds >= fds_before + CONNECTIONS  # they were open at the same time
            wait_until(lambda: hub.describe("load")["connections"] == 0, 10, "the proxy closing every connection")
            # what is left is the hub itself: its event loop (epoll, self-pipe pair) and the listener
            assert open_fds() <= fds_before + 4, (fds_before, open_fds())
        assert open_fds() <= fds_before, (fds_before, open_fds())  # nothing left once the hub is closed
        assert peak_rss - rss_before < 150, f"RSS grew {peak_rss - rss_before:.0f} MB for {CONNECTIONS} connections"
        assert clients.wait(10) == 0
    finally:
        if clients.poll() is None:
            clients.kill()

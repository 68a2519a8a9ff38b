"""Effect verification: one protocol round trip to a service, timed — so a run can say "requested
2000 ms, observed +2001 ms" instead of hoping the delay works (the hand-made report asked: how do we
know the delay is working?)."""

from __future__ import annotations

import http.client
import socket
import statistics
import time
from collections.abc import Callable

from uxchaos.util import httpget

# Probes that make common servers answer at once: an HTTP request, and PostgreSQL's SSLRequest
# (the server answers one byte, 'N' or 'S').
PROBES = {
    "http": b"HEAD / HTTP/1.0\r\nHost: uxchaos-probe\r\n\r\n",
    "postgres": b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
}


def round_trip(host: str, port: int, payload: bytes, timeout_s: float) -> float:
    """Seconds from sending the payload to the first byte of the answer (connection set-up excluded)."""
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = time.perf_counter()
        s.sendall(payload)
        if not s.recv(1):
            raise ConnectionError("closed without an answer")
        return time.perf_counter() - t


def find_probe(host: str, port: int) -> Callable[[float], float] | None:
    """A probe the service answers, or None."""
    for payload in PROBES.values():
        try:
            round_trip(host, port, payload, 2.0)
        except OSError:
            continue
        def probe(timeout_s: float, payload: bytes = payload) -> float:
            return round_trip(host, port, payload, timeout_s)

        return probe
    return None


def page_probe(url: str) -> Callable[[float], float]:
    """The report's own check, `Measure-Command { curl URL }`: a GET on a new connection, body read
    to the end. Used for delays where no link-level probe exists (netem through Docker or Pumba)."""

    def probe(timeout_s: float) -> float:
        t = time.perf_counter()
        try:
            httpget.get(url, timeout_s)
        except http.client.HTTPException as e:
            raise ConnectionError(f"GET {url}: {e}") from None
        return time.perf_counter() - t

    return probe


def median_round_trip(probe: Callable[[float], float], timeout_s: float, n: int = 3) -> float:
    return statistics.median(probe(timeout_s) for _ in range(n))

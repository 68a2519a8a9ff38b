"""Small helpers for loopback servers: free ports and waiting for readiness with a deadline."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on a free port, to hand to a child process (no port race)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(128)
    s.set_inheritable(True)
    return s


class StopWaiting(Exception):
    """Raised by a check of wait_until when waiting longer is pointless (the server process exited)."""


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except StopWaiting:
            raise
        except Exception as e:  # the thing is not up yet; keep the last reason for the message
            last_error = e
        time.sleep(interval_s)
    reason = f": {last_error}" if last_error else ""
    raise TimeoutError(f"{what} was not ready within {timeout_s:.0f}s{reason}")


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return bool(200 <= resp.status < 300)
    except urllib.error.HTTPError:
        return False

"""One plain HTTP GET on a new connection, body read to the end — what `curl` does. Shared by the
`http_get` step, the pre-flight health check and the effect probe."""

from __future__ import annotations

import http.client
import urllib.parse
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    body: bytes


def get(url: str, timeout_s: float) -> Response:
    """Raises OSError (unreachable, timeout) or http.client.HTTPException (not HTTP)."""
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        return Response(response.status, response.read())
    finally:
        conn.close()

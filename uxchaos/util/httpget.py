"""One plain HTTP GET on a new connection, body read to the end — what `curl` does. Shared by the
`http_get` step, the pre-flight health check and the effect probe.

Certificates are verified, except for the origin of a target whose scenario sets
`target.ignore_https_errors: true` while its run uses it (`https_errors_ignored`, entered by
uxchaos.run.target; the browser context gets the same option)."""

from __future__ import annotations

import contextlib
import http.client
import ssl
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

_IGNORED: set[str] = set()  # origins whose certificate errors are ignored, while their run lasts


class UntrustedCertificate(OSError):
    """The server's certificate failed verification (self-signed, expired, wrong name…)."""


@dataclass
class Response:
    status: int
    body: bytes


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


@contextlib.contextmanager
def https_errors_ignored(base_url: str) -> Iterator[None]:
    key = origin(base_url)
    _IGNORED.add(key)
    try:
        yield
    finally:
        _IGNORED.discard(key)


def ignores_https_errors(url: str) -> bool:
    return origin(url) in _IGNORED


def get(url: str, timeout_s: float) -> Response:
    """Raises OSError (unreachable, timeout, UntrustedCertificate) or http.client.HTTPException (not HTTP)."""
    parts = urllib.parse.urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl._create_unverified_context() if ignores_https_errors(url) else ssl.create_default_context()
        conn = http.client.HTTPSConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        return Response(response.status, response.read())
    except ssl.SSLCertVerificationError as e:
        raise UntrustedCertificate(
            f"the certificate of {origin(url)} is not trusted ({e.verify_message}); for a test server's "
            "self-signed certificate set `target.ignore_https_errors: true` in the scenario") from None
    finally:
        conn.close()

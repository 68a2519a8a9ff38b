"""Dependencies that fail the ways real ones do, as real sockets on loopback: a port that refuses,
a server that accepts and never answers, one that answers something that is not HTTP, and one that
answers HTTP that is not the API asked for (an ordinary web page). And a healthy site ("hello") for
the cells whose subject is something else."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WAYS = ("refuses", "hangs", "garbage", "wrong-http")
NOT_HTTP = b"SSH-2.0-OpenSSH_9.2 not what you asked for\r\n"
WEB_PAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\nConnection: close\r\n\r\n"
            b"<html>a web page</html>\r\n\r\n")


class BadServer:
    """Listens on 127.0.0.1 (or a unix socket) and fails the way `way` says, until closed."""

    def __init__(self, way: str, unix: bool = False) -> None:
        assert way in WAYS, way
        self.way = way
        self._conns: list[socket.socket] = []
        self._dir = tempfile.TemporaryDirectory(prefix="uxchaos-bad-") if unix else None
        self.sock = socket.socket(socket.AF_UNIX if unix else socket.AF_INET)
        if self._dir is not None:
            self.path = str(Path(self._dir.name) / "sock")
            self.sock.bind(self.path)
            self.address = f"unix://{self.path}"
        else:
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            self.address = f"127.0.0.1:{self.port}"
        if way == "refuses":  # bound but never listening: connections are refused, and no one else takes the port
            if unix:
                self.sock.close()  # a unix socket file nobody listens on refuses
            return
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return self.address if self.address.startswith("unix://") else f"http://{self.address}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)  # held open: "hangs" never answers, the others answer and close
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        if self.way == "hangs":
            return
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            conn.recv(65536)  # the request (or its first part)
            conn.sendall(NOT_HTTP if self.way == "garbage" else WEB_PAGE)
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        if self._dir is not None:
            self._dir.cleanup()


@contextlib.contextmanager
def bad_server(way: str, unix: bool = False) -> Iterator[BadServer]:
    server = BadServer(way, unix)
    try:
        yield server
    finally:
        server.close()


def refused_port() -> int:
    """A port nothing listens on (bound and closed at once; the kernel does not hand it out again soon)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_with(**changes: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(changes)
    return env


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>hello</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def hello_site() -> Iterator[str]:
    """A page saying hello, at the yielded base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()

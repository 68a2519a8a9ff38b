"""Real components on loopback: an echo server, a proxy hub, and the demo stack."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scenario_builder import shared_demo_target, write_scenario

from uxchaos.demo.stack import DemoInfo, DemoStack
from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlServer


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers start with SIGINT ignored, and an ignored signal stays ignored in every
    child: the `uxchaos run` processes the tests interrupt with SIGINT (a Ctrl-C) would not hear it —
    uxchaos keeps an inherited SIG_IGN, as a background job started by a shell script should. Tests
    model a run started from a terminal, so the workers take SIGINT back."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Tracing every attempt (the default, `--trace slowest`) costs about a quarter of each browser
    # attempt; the tests of traces ask for them, or clear this to test the default itself.
    os.environ.setdefault("UXCHAOS_TRACE", "off")
    if os.environ.get("UXCHAOS_CHECK"):
        # `make check` leaves out the tests marked `browser` and `docker`. The others get neither, so
        # a test that needs one but is not marked fails here, by a name that says why, instead of
        # slowing the quick check down.
        os.environ["UXCHAOS_BROWSER"] = "/make-check/has-no-browser/mark-the-test-browser"
        os.environ["DOCKER_HOST"] = "unix:///make-check/has-no-docker/mark-the-test-docker.sock"


class TcpServer:
    """A loopback server: `on_accept(conn)` runs in its own thread for every connection."""

    def __init__(self, on_accept: Callable[[socket.socket], None], backlog: int = 64) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.on_accept = on_accept
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.on_accept(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


class EchoServer(TcpServer):
    def __init__(self) -> None:
        super().__init__(self._echo)

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        while data := conn.recv(65536):
            conn.sendall(data)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def make_scenario(tmp_path: Path) -> Callable[..., Path]:
    """`make_scenario(name="test", target=..., journey=..., fault=..., phases=..., expect=..., **extra)`:
    a scenario file in tmp_path built from parts (scenario_builder.scenario_doc: the demo, its login,
    no fault, one attempt per phase unless told otherwise)."""

    def make(name: str = "test", file: str | None = None, **parts: Any) -> Path:
        return write_scenario(tmp_path, name, file, **parts)

    return make


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    with ProxyHub(seed=7) as h:
        yield h


@pytest.fixture(scope="session")
def demo_stack() -> Iterator[DemoStack]:
    stack = DemoStack()
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def demo(demo_stack: DemoStack) -> Iterator[DemoInfo]:
    """The shared demo, with every toxic removed afterwards whatever the test did."""
    assert demo_stack.info is not None
    demo_stack.hub.reset()
    yield demo_stack.info
    demo_stack.hub.reset()


@pytest.fixture
def demo_target(demo_stack: DemoStack, demo: DemoInfo) -> Iterator[dict[str, Any]]:
    """The shared demo as a scenario's `target:` (base URL, credentials, its proxies behind a control
    API): a run on it starts no demo of its own, and its faults reach the demo's proxies."""
    control = ControlServer(demo_stack.hub)
    try:
        yield shared_demo_target(demo_stack, control.address)
    finally:
        control.close()


@contextlib.contextmanager
def http_site(respond: Callable[[str], tuple[int, bytes]], tls: ssl.SSLContext | None = None,
              headers: dict[str, str] | None = None) -> Iterator[str]:
    """A real HTTP server on loopback; `respond(path)` gives (status, HTML body), sent with `headers`
    too. Yields its URL (https:// when a server TLS context is given)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def plain_site() -> Iterator[str]:
    """A real, healthy HTTP site on loopback (for runs that need an app but not the demo)."""
    with http_site(lambda path: (200, b"<html><body><h1>ok</h1></body></html>")) as url:
        yield url


def port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def connect(listen: str, timeout: float = 10) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port_of(listen)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf

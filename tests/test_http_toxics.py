"""HTTP-aware toxics through the proxy, against a real HTTP/1.1 server on loopback: answered
statuses, slow response headers, bodies cut in the middle — each request on a keep-alive
connection decided on its own; other protocols pass untouched."""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import EchoServer, connect, port_of, recv_exactly

from uxchaos.cli import main
from uxchaos.proxy import ProxyHub
from uxchaos.results.records import read_results

ROOT = Path(__file__).parent.parent

BIG = bytes(range(256)) * 400  # 102400 bytes


class Backend:
    """A real HTTP/1.1 server (keep-alive) that counts the requests it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                backend.requests.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                posted = self.rfile.read(length) if length else b""
                if self.path == "/chunked-slowly":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(5):
                        piece = f"piece {i};".encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        time.sleep(0.05)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if self.path == "/empty":
                    self.send_response(204)
                    self.end_headers()
                    return
                body = BIG if self.path == "/big" else f"{method} {self.path} {len(posted)}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_HEAD(self) -> None:
                self._answer("HEAD")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.close()


@pytest.fixture
def web(hub: ProxyHub, backend: Backend) -> str:
    return hub.create("web", backend.address)["listen"]


def client(listen: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port_of(listen), timeout=10)


def test_keep_alive_traffic_passes_unchanged(web: str, backend: Backend) -> None:
    conn = client(web)
    for method, path, expected in [("GET", "/a", b"GET /a 0"), ("HEAD", "/b", b""), ("GET", "/empty", b""),
                                   ("GET", "/chunked-slowly", b"piece 0;piece 1;piece 2;piece 3;piece 4;"),
                                   ("POST", "/c", b"POST /c 5"), ("GET", "/big", BIG)]:
        conn.request(method, path, body=b"hello" if method == "POST" else None)
        resp = conn.getresponse()
        assert resp.read() == expected, path
    sock = conn.sock
    conn.request("GET", "/last")
    assert conn.getresponse().read() == b"GET /last 0"
    assert conn.sock is sock  # one connection all along
    assert len(backend.requests) == 7


def test_status_for_a_share_of_requests_each_decided_on_its_own(hub: ProxyHub, web: str, backend: Backend) -> None:
    hub.add_toxic("web", {"type": "http_status", "toxicity": 0.5,
                          "attributes": {"status_code": 503, "body": "try later"}})
    conn = client(web)
    statuses = []
    for i in range(40):
        conn.request("POST", f"/login/{i}", body=b"x" * i)
        resp = conn.getresponse()
        body = resp.read()
        statuses.append(resp.status)
        assert body == (b"try later" if resp.status == 503 else f"POST /login/{i} {i}".encode())
    assert 8 <= statuses.count(503) <= 32, statuses  # about half, decided per request on one connection
    assert len(backend.requests) == statuses.count(200)  # answered requests never reached the service
    assert hub.describe("web")["http"]["answered"] == statuses.count(503)


def test_status_only_for_matching_path_and_method(hub: ProxyHub, web: str) -> None:
    hub.add_toxic("web", {"type": "http_status",
                          "attributes": {"status_code": 500, "path": "^/login", "method": "POST"}})
    conn = client(web)
    got = []
    for method, path in [("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/login?next=/")]:
        conn.request(method, path, body=b"" if method == "POST" else None)
        resp = conn.getresponse()
        resp.read()
        got.append(resp.status)
    assert got == [200, 500, 200, 500]


def test_pipelined_requests_are_answered_in_order(hub: ProxyHub, web: str) -> None:
    hub.add_toxic("web", {"type": "http_status", "attributes": {"status_code": 503, "path": "^/fail"}})
    with connect(web) as s:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /fail HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"GET /ok 0"):
            chunk = s.recv(65536)
            assert chunk, data[-200:]
            data += chunk
    first, second, third = (data.index(marker) for marker in (b"HTTP/1.1 200", b"HTTP/1.1 503", b"GET /ok 0"))
    assert first < data.index(BIG) < second < third  # the 503 waited for the whole big body before it


def test_slow_headers_delay_the_first_byte_not_every_chunk(hub: ProxyHub, web: str) -> None:
    hub.add_toxic("web", {"type": "http_slow_headers", "attributes": {"delay": 400}})
    conn = client(web)
    t = time.perf_counter()
    conn.request("GET", "/chunked-slowly")
    resp = conn.getresponse()
    first_byte = time.perf_counter() - t
    body = resp.read()
    total = time.perf_counter() - t
    assert body == b"piece 0;piece 1;piece 2;piece 3;piece 4;"
    assert 0.39 <= first_byte <= 0.6
    assert total - first_byte <= 0.2  # the body (5 pieces, 50 ms apart) was not delayed once more per piece
    conn.request("GET", "/a")  # the next request on the connection is slowed the same, on its own
    t = time.perf_counter()
    assert conn.getresponse().read() == b"GET /a 0"
    assert 0.39 <= time.perf_counter() - t <= 0.6


def test_drop_body_cuts_the_response_in_the_middle(hub: ProxyHub, web: str, backend: Backend) -> None:
    hub.add_toxic("web", {"type": "http_drop_body", "attributes": {"body_fraction": 0.5, "path": "/big"}})
    conn = client(web)
    conn.request("GET", "/a")
    assert conn.getresponse().read() == b"GET /a 0"  # not matched: whole
    conn.request("GET", "/big")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Length") == str(len(BIG))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert info.value.partial == BIG[: len(BIG) // 2]  # exactly half, in order, then the end
    assert hub.describe("web")["http"]["dropped_bodies"] == 1


def test_other_protocols_pass_untouched_with_a_warning(hub: ProxyHub, echo: EchoServer) -> None:
    listen = hub.create("db", echo.address)["listen"]
    hub.add_toxic("db", {"type": "http_status"})
    payload = b"\x00\x00\x00\x08\x04\xd2\x16\x2f" + bytes(range(256)) * 40
    for _ in range(2):
        with connect(listen) as s:
            threading.Thread(target=s.sendall, args=(payload,), daemon=True).start()
            assert recv_exactly(s, len(payload)) == payload
    with connect(listen) as s:  # also text that merely looks like a request line
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert recv_exactly(s, 24) == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    events = [e for e in hub.describe("db")["events"] if e["event"] == "not_http"]
    assert len(events) == 1 and "passes untouched by http_status_downstream" in events[0]["message"]


def test_websocket_style_upgrade_passes_after_101(hub: ProxyHub) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def upgrade() -> None:
        conn, _ = server.accept()
        with conn:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += conn.recv(1024)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            while data := conn.recv(1024):
                conn.sendall(data[::-1])

    threading.Thread(target=upgrade, daemon=True).start()
    listen = hub.create("ws", f"127.0.0.1:{server.getsockname()[1]}")["listen"]
    hub.add_toxic("ws", {"type": "http_status"})  # the upgrade request itself is answered by the service…
    hub.remove_toxic("ws", "http_status_downstream")
    hub.add_toxic("ws", {"type": "http_status", "attributes": {"path": "^/never"}})
    with connect(listen) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += s.recv(1024)
        assert head.startswith(b"HTTP/1.1 101")
        s.sendall(b"\x81\x05hello")  # …and what follows is not HTTP: passed both ways untouched
        assert recv_exactly(s, 7) == b"olleh\x05\x81"
    server.close()
    assert not [e for e in hub.describe("ws")["events"] if e["event"] == "not_http"]


@pytest.mark.browser
def test_shipped_scenario_login_under_backend_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped scenario, for real on the demo (fewer attempts, a fixed seed for the per-request
    draws): some logins meet the injected 503, each with its screenshot, counted per phase."""
    text = (ROOT / "scenarios" / "login-under-backend-503.yaml").read_text()
    phases = "phases:\n  before: {attempts: 1}\n  during: {attempts: 6}\n  after: {attempts: 1}\n"
    text = re.sub(r"phases:\n(  .*\n)+", phases, text)
    (tmp_path / "login-under-backend-503.yaml").write_text(text)
    monkeypatch.setenv("UXCHAOS_PROXY_SEED", "3")  # draws for the 6 login posts: 503, ok, 503, ok, ok, 503
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(tmp_path / "login-under-backend-503.yaml"), "--out", str(tmp_path / "reports")], out, err)
    assert code == 0, err.getvalue()
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    samples = [r for r in read_results(run_dir) if r.get("type") == "sample"]
    failed = {s["attempt"] for s in samples if not s["ok"]}
    assert [s["phase"] for s in samples if not s["ok"]] == ["during"] * 3 and failed == {1, 3, 6}
    for s in samples:
        if not s["ok"]:
            assert s["failed_action"] == "Logging in" and "HTTP 503" in s["failure"]
            assert (run_dir / "screenshots" / s["screenshot"]).stat().st_size > 1000
    report = (run_dir / "report.md").read_text()
    # per phase: n successful timings, attempts left out for the generator's starvation, the failures
    assert "| Logging in | during | 3 | 0 | 3 |" in report
    assert "| Logging in | before | 1 | 0 | 0 |" in report and "| Logging in | after | 1 | 0 | 0 |" in report
    failures = report.split("## Failures")[1]
    assert failures.count("HTTP 503 from") == 3 and "screenshots/during-6-failure.png" in failures

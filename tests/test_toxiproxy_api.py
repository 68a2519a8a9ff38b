"""`uxchaos proxy serve` as a Toxiproxy 2.x server: driven by Toxiproxy's Python client from PyPI
(`toxiproxy-python`) and by the plain HTTP requests of Toxiproxy's README, each effect measured
through the proxy on real loopback sockets."""

from __future__ import annotations

import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EchoServer, connect, recv_exactly
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlClient, ControlServer
from uxchaos.proxy.framing import MAX_HEAD  # noqa: F401  (the HTTP framing imports cleanly on its own)


def rtt(s: socket.socket, payload: bytes = b"ping") -> float:
    t = time.perf_counter()
    s.sendall(payload)
    recv_exactly(s, len(payload))
    return time.perf_counter() - t


def median_rtt(listen: str, rounds: int = 5) -> float:
    with connect(listen) as s:
        return statistics.median(rtt(s) for _ in range(rounds))


@pytest.fixture
def server(hub: ProxyHub) -> Iterator[ControlServer]:
    control = ControlServer(hub)
    old = APIConsumer.host, APIConsumer.port
    APIConsumer.host, APIConsumer.port = "127.0.0.1", int(control.address.rsplit(":", 1)[1])
    try:
        yield control
    finally:
        APIConsumer.host, APIConsumer.port = old
        control.close()


def call(server: ControlServer, method: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One plain HTTP request, as `curl -X METHOD -d BODY` sends it."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(server.address + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.timing
def test_python_client_creates_proxy_adds_and_removes_toxics_and_disables(server: ControlServer,
                                                                          echo: EchoServer) -> None:
    toxiproxy = Toxiproxy()
    assert toxiproxy.running()
    proxy = toxiproxy.create(upstream=echo.address, name="echo", listen="127.0.0.1:0")
    assert proxy.enabled is True and re.fullmatch(r"127\.0\.0\.1:\d+", proxy.listen)
    assert set(toxiproxy.proxies()) == {"echo"}
    base = median_rtt(proxy.listen)
    assert base < 0.05

    proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 0})
    assert proxy.toxics()["latency_downstream"].attributes["latency"] == 100
    added_ms = (median_rtt(proxy.listen) - base) * 1000
    assert abs(added_ms - 100) <= 30, f"latency 100 ms through the client, measured +{added_ms:.1f} ms"
    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {} and median_rtt(proxy.listen) < 0.09  # the 100 ms are gone

    proxy.add_toxic(type="bandwidth", name="slow", attributes={"rate": 400})  # 400 KB/s
    payload = b"z" * 400_000
    with connect(proxy.listen) as s:
        threading.Thread(target=s.sendall, args=(payload,), daemon=True).start()
        first = s.recv(65536)
        t0 = time.perf_counter()
        recv_exactly(s, len(payload) - len(first))
        measured = (len(payload) - len(first)) / (time.perf_counter() - t0)
    assert abs(measured - 400_000) / 400_000 <= 0.15, f"rate 400 KB/s, measured {measured / 1000:.0f} KB/s"
    proxy.destroy_toxic("slow")

    existing = connect(proxy.listen)
    proxy.disable()
    assert toxiproxy.get_proxy("echo").enabled is False
    assert existing.recv(10) == b""  # open connections closed
    existing.close()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen)
    with proxy.down(), pytest.raises(ConnectionRefusedError):  # Toxiproxy's: disabled inside, enabled after
        connect(proxy.listen)
    assert median_rtt(proxy.listen) < 0.5  # the same address serves again

    assert json.loads(toxiproxy.version())["version"].startswith("2.")
    with pytest.raises(ProxyExists):
        APIConsumer.post("/proxies", json={"name": "echo", "upstream": echo.address})
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", attributes={"latency": "soon"})
    with pytest.raises(NotFound):
        proxy.destroy_toxic("nothing-here")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    proxy.disable()
    assert toxiproxy.reset()  # every proxy enabled, every toxic gone
    again = toxiproxy.get_proxy("echo")
    assert again.enabled is True and again.toxics() == {}
    assert toxiproxy.destroy(again)
    assert toxiproxy.proxies() == {}


@pytest.mark.timing
def test_requests_from_toxiproxys_readme(server: ControlServer, echo: EchoServer) -> None:
    status, created = call(server, "POST", "/proxies",
                           f'{{"name": "redis", "listen": "127.0.0.1:0", "upstream": "{echo.address}"}}')
    assert status == 201
    assert {k: created[k] for k in ("name", "upstream", "enabled", "toxics")} == {
        "name": "redis", "upstream": echo.address, "enabled": True, "toxics": []}
    listen = created["listen"]

    status, toxic = call(server, "POST", "/proxies/redis/toxics", '{"type":"latency","attributes":{"latency":150}}')
    assert status == 200
    assert toxic == {"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                     "attributes": {"latency": 150, "jitter": 0, "connect": False}}
    assert 0.145 <= median_rtt(listen) <= 0.25

    status, toxic = call(server, "PATCH", "/proxies/redis/toxics/latency_downstream", '{"attributes":{"latency":40}}')
    assert status == 200 and toxic["attributes"]["latency"] == 40
    assert 0.035 <= median_rtt(listen) <= 0.1  # the update took effect on a new measurement
    assert call(server, "GET", "/proxies/redis/toxics")[1][0]["attributes"]["latency"] == 40
    assert call(server, "GET", "/proxies/redis/toxics/latency_downstream")[0] == 200
    assert call(server, "DELETE", "/proxies/redis/toxics/latency_downstream") == (204, None)

    status, proxy = call(server, "POST", "/proxies/redis", '{"enabled": false}')
    assert status == 200 and proxy["enabled"] is False
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    assert call(server, "POST", "/reset") == (204, None)
    assert median_rtt(listen) < 0.5

    status, body = call(server, "POST", "/populate", json.dumps([
        {"name": "redis", "listen": listen, "upstream": echo.address},  # unchanged: kept as it is
        {"name": "web", "listen": "127.0.0.1:0", "upstream": echo.address, "enabled": False},
    ]))
    assert status == 201 and [p["name"] for p in body["proxies"]] == ["redis", "web"]
    status, index = call(server, "GET", "/proxies")
    assert status == 200 and set(index) == {"redis", "web"} and index["web"]["enabled"] is False
    assert call(server, "DELETE", "/proxies/web") == (204, None)
    assert call(server, "GET", "/proxies/web")[0] == 404


@pytest.mark.parametrize("method,path,body,status,message", [
    ("POST", "/proxies/echo/toxics", '{"type":"slowness"}', 400, "invalid toxic type: 'slowness'"),
    ("POST", "/proxies/echo/toxics", '{"type":"latency","attributes":{"latency":5,"delay":1}}', 400,
     "unknown attribute(s) for latency: delay"),
    ("POST", "/proxies/echo/toxics", '{"type":"latency","attributes":{"latency":"2 seconds"}}', 400,
     "attribute 'latency'"),
    ("POST", "/proxies/echo/toxics", '{"type":"bandwidth","attributes":{"rate":"100"}}', 400, "attribute 'rate'"),
    ("POST", "/proxies/echo/toxics", '{"type":"latency","stream":"sideways"}', 400, "stream was invalid"),
    ("POST", "/proxies/echo/toxics", '{"type": "latency", ', 400, "bad request body"),
    ("POST", "/proxies/echo/toxics", '[1, 2]', 400, "a toxic is a JSON object"),
    ("POST", "/proxies/echo/toxics", '{"type":"latency","name":"taken"}', 409, "toxic already exists"),
    ("POST", "/proxies/nope/toxics", '{"type":"latency"}', 404, "proxy not found"),
    ("DELETE", "/proxies/echo/toxics/nope", None, 404, "toxic not found"),
    ("PATCH", "/proxies/echo/toxics/taken", '{"attributes":{"jitter":"x"}}', 400, "attribute 'jitter'"),
    ("POST", "/proxies", '{"name":"echo","upstream":"127.0.0.1:1"}', 409, "proxy already exists"),
    ("POST", "/proxies", '{"name":"other"}', 400, "missing required field: upstream"),
    ("POST", "/proxies", '{"name":"other","upstream":"nowhere"}', 400, "field 'upstream'"),
    ("POST", "/proxies", '{"name":"other","upstream":"127.0.0.1:1","colour":"red"}', 400,
     "unknown field(s) colour"),
    ("POST", "/proxies/echo", '{"enabled":"no"}', 400, "field 'enabled' must be true or false"),
    ("POST", "/populate", '[{"name":"a","upstream":"127.0.0.1:1"},{"name":"b"}]', 400,
     "missing required field: upstream at proxy 2"),
    ("GET", "/nothing", None, 404, "no route"),
])
def test_bad_requests_get_toxiproxys_status_and_name_the_field(
        server: ControlServer, hub: ProxyHub, echo: EchoServer,
        method: str, path: str, body: str | None, status: int, message: str) -> None:
    created = hub.create("echo", echo.address)
    hub.add_toxic("echo", {"type": "latency", "name": "taken", "attributes": {"latency": 1}})
    got, answer = call(server, method, path, body)
    assert (got, answer["status"]) == (status, status)
    assert message in answer["error"]
    assert [p["name"] for p in hub.list()] == ["echo"]  # nothing half-created (populate checks everything first)
    assert [t["name"] for t in hub.toxics("echo")] == ["taken"]
    assert median_rtt(created["listen"], 3) < 0.5  # the proxy keeps serving
    assert call(server, "GET", "/version")[0] == 200  # and so does the control API


def test_listen_address_in_use_and_browsers_are_refused(server: ControlServer, echo: EchoServer) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    address = f"127.0.0.1:{taken.getsockname()[1]}"
    try:
        status, answer = call(server, "POST", "/proxies",
                              json.dumps({"name": "clash", "listen": address, "upstream": echo.address}))
    finally:
        taken.close()
    assert status == 500 and "cannot listen on" in answer["error"] and address in answer["error"]
    assert call(server, "GET", "/proxies") == (200, {})
    status, answer = call(server, "GET", "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert status == 403 and answer["error"] == "User agent not allowed"


def test_http_toxic_refused_on_a_proxy_that_carries_another_protocol(server: ControlServer, hub: ProxyHub,
                                                                    echo: EchoServer) -> None:
    created = hub.create("db", echo.address)
    with connect(created["listen"]) as s:
        s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # a PostgreSQL SSLRequest
        recv_exactly(s, 8)
    status, answer = call(server, "POST", "/proxies/db/toxics", '{"type":"http_status"}')
    assert status == 400 and "needs HTTP/1.x traffic" in answer["error"] and "'db'" in answer["error"]


def test_stream_toxics_slow_close_slicer_limit_data_reset_peer(hub: ProxyHub, echo: EchoServer) -> None:
    p = hub.create("echo", echo.address)
    hub.add_toxic("echo", {"type": "slicer", "attributes": {"average_size": 10, "size_variation": 3, "delay": 2000}})
    with connect(p["listen"]) as s:
        s.sendall(b"x" * 100)
        t, got, pieces = time.perf_counter(), b"", 0
        while len(got) < 100:
            got += s.recv(1000)
            pieces += 1
        assert got == b"x" * 100 and pieces >= 4  # arrived in slices, ~2 ms apart
        assert time.perf_counter() - t >= 0.01
    hub.reset()

    hub.add_toxic("echo", {"type": "limit_data", "attributes": {"bytes": 10}})
    with connect(p["listen"]) as s:
        s.sendall(b"0123456789abcdef")
        got = b""
        while chunk := s.recv(100):
            got += chunk
        assert got == b"0123456789"  # exactly `bytes` bytes, then the connection closed
    hub.reset()

    hub.add_toxic("echo", {"type": "slow_close", "attributes": {"delay": 300}})
    with connect(p["listen"]) as s:
        assert rtt(s) < 0.05  # data is not slowed
        t = time.perf_counter()
        s.shutdown(socket.SHUT_WR)  # the echo server closes; the proxy holds that close back
        assert s.recv(10) == b""
        assert 0.28 <= time.perf_counter() - t <= 1.0
    hub.reset()

    hub.add_toxic("echo", {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 200}})
    with connect(p["listen"]) as s:
        t = time.perf_counter()
        s.sendall(b"lost")
        with pytest.raises(ConnectionResetError):
            s.recv(10)
        assert 0.18 <= time.perf_counter() - t <= 1.0


def test_proxy_serve_starts_empty_or_from_a_toxiproxy_config(tmp_path: Path, echo: EchoServer) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.address}]))
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "proxy", "serve", "--config", str(config),
                             "--control", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        listen = re.search(r"proxy echo: (\S+) →", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        control = ControlClient(re.search(r"http://\S+", proc.stdout.readline()).group(0))  # type: ignore[union-attr]
        assert [p["name"] for p in control.list()] == ["echo"]
        control.add_toxic("echo", {"type": "latency", "attributes": {"latency": 100}})
        assert 0.095 <= median_rtt(listen, 3) <= 0.2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    config.write_text('[{"name": "echo"}]')
    bad = subprocess.run([sys.executable, "-m", "uxchaos", "proxy", "serve", "--config", str(config),
                          "--control", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "missing required field: upstream" in bad.stderr


def test_proxy_serve_control_address_in_use() -> None:
    import io

    from uxchaos.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        err = io.StringIO()
        code = main(["proxy", "serve", "--control", f"127.0.0.1:{taken.getsockname()[1]}"], io.StringIO(), err)
    finally:
        taken.close()
    assert code == 3 and "--control" in err.getvalue() and "in use" in err.getvalue()  # the surroundings

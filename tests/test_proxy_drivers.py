"""The `toxiproxy` and `proxy` drivers against `uxchaos proxy serve` acting as a Toxiproxy server:
a real `uxchaos run`, and recovery from the fault ledger as `uxchaos recover` does it."""

from __future__ import annotations

import io
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EchoServer, connect, recv_exactly

from uxchaos.cli import main
from uxchaos.faults import FaultSpec, TargetRuntime, create_driver
from uxchaos.faults.ledger import undo_entry
from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlClient
from uxchaos.results.records import read_results


@pytest.fixture
def toxiproxy_server(echo: EchoServer) -> Iterator[tuple[ControlClient, str]]:
    """`uxchaos proxy serve` as its own process, with one proxy 'svc' in front of an echo server."""
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy", f"svc={echo.address}",
                             "--control", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        listen = re.search(r"proxy svc: (\S+) →", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        control = ControlClient(re.search(r"http://\S+", proc.stdout.readline()).group(0))  # type: ignore[union-attr]
        yield control, listen
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def echo_rtt(listen: str) -> float:
    with connect(listen) as s:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            s.sendall(b"ping")
            recv_exactly(s, 4)
            times.append(time.perf_counter() - t)
        return statistics.median(times)


def driver(kind: str, params: dict, control: ControlClient, name: str = "toxiproxy"):  # type: ignore[no-untyped-def]
    from uxchaos.faults import DRIVERS

    full = {k: p.default for k, p in DRIVERS[name].kinds[kind].items()} | params
    return create_driver(FaultSpec(name, kind, "svc", full, 60), TargetRuntime("http://x", proxies=control))


def test_toxiproxy_driver_both_directions_is_two_toxiproxy_toxics(toxiproxy_server: tuple[ControlClient, str]) -> None:
    control, listen = toxiproxy_server
    d = driver("delay", {"delay": 0.06, "direction": "both"}, control)
    d.preflight()
    d.inject()
    toxics = {t["name"]: t for t in control.describe("svc")["toxics"]}
    assert {n: (t["stream"], t["attributes"]["latency"]) for n, t in toxics.items()} == {
        "uxchaos-delay-upstream": ("upstream", 60), "uxchaos-delay-downstream": ("downstream", 60)}
    assert 0.115 <= echo_rtt(listen) <= 0.4  # 60 ms each way
    d.revert()
    d.revert()  # safe twice
    assert control.describe("svc")["toxics"] == [] and echo_rtt(listen) < 0.05


@pytest.mark.parametrize("name", ["toxiproxy", "proxy"])
def test_recover_from_the_ledger_removes_toxics_and_enables_the_proxy(
        toxiproxy_server: tuple[ControlClient, str], name: str) -> None:
    control, listen = toxiproxy_server
    bandwidth = driver("bandwidth", {"rate": "800kbit"}, control, name)
    entry = {"kind": "fault", "driver": name, "revert": bandwidth.ledger_revert()}
    bandwidth.inject()
    assert control.describe("svc")["toxics"][0]["attributes"]["rate"] == 100  # 800 kbit/s = 100 KB/s
    # The run is gone: another process undoes the fault from what the ledger recorded.
    assert "removed uxchaos-bandwidth" in undo_entry(entry)
    assert control.describe("svc")["toxics"] == [] and echo_rtt(listen) < 0.05
    assert "nothing of this fault" in undo_entry(entry)  # twice is harmless

    down = driver("down", {}, control, name)
    entry = {"kind": "fault", "driver": name, "revert": down.ledger_revert()}
    down.inject()
    assert down.in_force() is True
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    assert "enabled proxy 'svc' again" in undo_entry(entry)
    assert control.describe("svc")["enabled"] is True and down.in_force() is False
    assert echo_rtt(listen) < 0.05


def test_toxiproxy_driver_refuses_a_rate_it_cannot_read(toxiproxy_server: tuple[ControlClient, str]) -> None:
    from uxchaos.errors import BadInput

    control, _ = toxiproxy_server
    with pytest.raises(BadInput, match="fault bandwidth on 'svc': attribute 'rate'"):
        driver("bandwidth", {"rate": "fast"}, control).preflight()  # before anything runs
    with pytest.raises(Exception, match="attribute 'rate'"):
        driver("bandwidth", {"rate": "fast"}, control).inject()
    assert control.describe("svc")["toxics"] == []


@pytest.mark.timing
def test_run_with_the_toxiproxy_driver(tmp_path: Path, plain_site: str) -> None:
    """A real `uxchaos run` whose fault goes through Toxiproxy's API to `uxchaos proxy serve`."""
    upstream = plain_site.removeprefix("http://")
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy", f"web={upstream}",
                             "--control", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        listen = re.search(r"proxy web: (\S+) →", proc.stdout.readline()).group(1)  # type: ignore[union-attr]
        address = re.search(r"http://\S+", proc.stdout.readline()).group(0)  # type: ignore[union-attr]
        scenario = tmp_path / "via-toxiproxy.yaml"
        scenario.write_text(f"""name: via-toxiproxy
target:
  base_url: http://{listen}
  proxy_control: {address}
journey:
  - action: Loading the page
    steps:
      - http_get: /
fault: {{driver: toxiproxy, kind: delay, target: web, params: {{delay: 300ms}}}}
phases:
  before: {{attempts: 2}}
  during: {{attempts: 2}}
  after: {{attempts: 2}}
""")
        out, err = io.StringIO(), io.StringIO()
        assert main(["run", str(scenario), "--out", str(tmp_path / "reports")], out, err) == 0, err.getvalue()
        assert ControlClient(address).describe("web")["toxics"] == []  # reverted
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    records = read_results(run_dir)
    samples = {phase: [r["duration_s"] for r in records if r.get("type") == "sample" and r["phase"] == phase]
               for phase in ("before", "during", "after")}
    assert all(d >= 0.29 for d in samples["during"]), samples  # every page load paid the 300 ms
    for phase in ("before", "after"):  # and the others did not (medians: a loaded machine has spikes)
        assert statistics.median(samples[phase]) + 0.2 <= statistics.median(samples["during"]), samples
    injected = next(r for r in records if r.get("event") == "injected")
    assert injected["details"]["toxic"]["attributes"]["latency"] == 300
    verified = next(r for r in records if r.get("event") == "effect_verified")
    assert verified["ok"] and 270 <= verified["observed_ms"] <= 450


def test_toxiproxy_driver_without_a_server_says_what_to_set() -> None:
    from uxchaos.errors import EnvironmentProblem
    from uxchaos.faults import DRIVERS

    spec = FaultSpec("toxiproxy", "delay", "svc", {k: p.default for k, p in DRIVERS["toxiproxy"].kinds["delay"].items()}
                     | {"delay": 1.0}, 60)
    with pytest.raises(EnvironmentProblem, match=r"target\.proxy_control"):
        create_driver(spec, TargetRuntime("http://x")).preflight()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(Exception, match="toxiproxy-server running"):
        create_driver(spec, TargetRuntime("http://x", proxies=ControlClient(f"127.0.0.1:{port}"))).preflight()


@pytest.mark.parametrize("kind,params,toxic_type,attributes", [
    ("http_status", {"status": 502, "path": "^/api", "method": "post"}, "http_status",
     {"status_code": 502, "body": "injected by uxchaos", "path": "^/api", "method": "POST"}),
    ("slow_headers", {"delay": 0.75}, "http_slow_headers", {"delay": 750, "path": ".*", "method": ""}),
    ("drop_body", {"body_fraction": 0.25, "probability": 0.5}, "http_drop_body",
     {"body_fraction": 0.25, "path": ".*", "method": ""}),
    ("reset", {"timeout": 0.2}, "reset_peer", {"timeout": 200}),
])
def test_proxy_driver_kinds_become_valid_toxics(hub: ProxyHub, echo: EchoServer, kind: str, params: dict,
                                                toxic_type: str, attributes: dict) -> None:
    from uxchaos.faults import DRIVERS

    hub.create("svc", echo.address)
    full = {k: p.default for k, p in DRIVERS["proxy"].kinds[kind].items()} | params
    d = create_driver(FaultSpec("proxy", kind, "svc", full, 60), TargetRuntime("http://x", proxies=hub))
    d.preflight()
    d.inject()
    (toxic,) = hub.toxics("svc")
    assert (toxic["type"], toxic["attributes"]) == (toxic_type, attributes)
    assert toxic["toxicity"] == full.get("probability", 1.0)
    d.revert()
    assert hub.toxics("svc") == []


@pytest.mark.browser
def test_killed_run_with_a_disabled_proxy_is_recovered(tmp_path: Path, plain_site: str) -> None:
    """`uxchaos run` SIGKILLed while its toxiproxy `down` fault holds the proxy disabled: `uxchaos
    recover` enables it again from the fault ledger."""
    import os

    from uxchaos.util.netutil import wait_until

    upstream = plain_site.removeprefix("http://")
    server = subprocess.Popen([sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy", f"web={upstream}",
                               "--control", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    try:
        assert server.stdout is not None
        listen = re.search(r"proxy web: (\S+) →", server.stdout.readline()).group(1)  # type: ignore[union-attr]
        control = ControlClient(re.search(r"http://\S+", server.stdout.readline()).group(0))  # type: ignore[union-attr]
        scenario = tmp_path / "down.yaml"
        scenario.write_text(f"""name: down
target: {{base_url: "http://{listen}", proxy_control: "{control.address}"}}
journey:
  - action: Loading the page
    steps:
      - http_get: /
      - sleep: 200ms
fault: {{driver: toxiproxy, kind: down, target: web}}
phases:
  before: {{attempts: 1}}
  during: {{attempts: 50}}
  after: {{attempts: 1}}
""")
        run = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(scenario), "--out", str(tmp_path / "out")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: control.describe("web")["enabled"] is False, 60, "the proxy disabled by the run")
            run.kill()
            run.wait(10)
        finally:
            if run.poll() is None:
                run.kill()
        assert control.describe("web")["enabled"] is False  # left behind by the killed run
        rec = subprocess.run([sys.executable, "-m", "uxchaos", "recover"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert rec.returncode == 0, rec.stderr
        assert "enabled proxy 'web' again" in rec.stdout + rec.stderr
        assert control.describe("web")["enabled"] is True
        with connect(listen) as s:  # serving again
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert s.recv(12).startswith(b"HTTP/1.0 200")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)

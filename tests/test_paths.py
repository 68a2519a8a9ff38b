"""Paths a user takes that had no test: settle, --base-url, a 5xx in the middle of a journey, the
proxy's other fault kinds through a scenario, Swarm `service:` targets, `recover` against a live
run, a listener that raises, and an HTTPS target with a self-signed certificate. Every run is real:
Chromium, HTTP servers, proxies, processes and Docker on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import http_site
from scenario_builder import action, phases, scenario_yaml, write_scenario

from uxchaos.cli import main
from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.results.rundata import RunData
from uxchaos.util.netutil import wait_until


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.glob("*/*") if p.is_dir()]
    return run_dir


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]


# -- settle ----------------------------------------------------------------------------------------

@pytest.mark.browser
def test_settle_is_waited_before_the_phase(tmp_path: Path, plain_site: str) -> None:
    """The gap before the after phase's first attempt holds the settle time on top of the usual
    gap between attempts (context set-up and tear-down, which a loaded machine stretches)."""
    path = write_scenario(tmp_path, "settle", target=plain_site, journey=[action("A", {"goto": "/"})],
                          phases=(2, 1, {"attempts": 1, "settle": "3s"}))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "settling 3s before the after phase" in err
    samples = RunData.load(only_run_dir(tmp_path / "r")).samples
    assert [s.phase for s in samples] == ["before", "before", "during", "after"]
    gaps = [b.started_at - a.ended_at for a, b in itertools.pairwise(samples)]
    settled, usual = gaps[-1], max(gaps[:-1])
    assert settled >= 3.0, gaps  # the pause really happened, between the two attempts
    assert settled - usual >= 1.5, gaps


# -- --base-url ------------------------------------------------------------------------------------

@pytest.mark.browser
def test_base_url_overrides_the_scenarios_target(tmp_path: Path) -> None:
    """The scenario names the demo; --base-url points the run at another app, and the demo is
    not started."""
    seen: list[str] = []

    def respond(path: str) -> tuple[int, bytes]:
        seen.append(path)
        return 200, b"<html><body><h1>the other app</h1></body></html>"

    path = write_scenario(tmp_path, "override", journey=[action("A", {"goto": "/other"},
                                                                {"expect_text": "the other app"})])
    with http_site(respond) as url:
        started = time.monotonic()
        code, _, err = run_cli("run", str(path), "--base-url", url, "--out", str(tmp_path / "r"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "r")
    assert json.loads((run_dir / "run.json").read_text())["base_url"] == url
    run = RunData.load(run_dir)
    assert len(run.samples) == 3 and all(s.ok for s in run.samples), [s.failure for s in run.samples]
    goto = run.samples[0].steps[0]
    assert goto.navigation and goto.navigation["url"] == f"{url}/other"
    assert seen.count("/other") >= 4  # the health check and the three attempts, all at the override
    assert time.monotonic() - started < 60


# -- a 5xx in the middle of a journey -------------------------------------------------------------

@pytest.mark.browser
def test_a_5xx_in_the_middle_of_a_journey_fails_that_attempt_and_the_run_goes_on(tmp_path: Path) -> None:
    calls = {"/cart": 0}

    def respond(path: str) -> tuple[int, bytes]:
        if path == "/cart":
            calls["/cart"] += 1
            if calls["/cart"] == 2:  # the second attempt's cart page breaks
                return 503, b"<html><body><h1>Service Unavailable</h1></body></html>"
            return 200, b"<html><body><h1>Your cart</h1></body></html>"
        return 200, b"<html><body><h1>Shop</h1><a href='/cart'>cart</a></body></html>"

    path = write_scenario(tmp_path, "shop", target="http://127.0.0.1:9", journey=[
        action("Opening the shop", {"goto": "/"}),
        action("Opening the cart", {"click": "a"}, {"expect_text": "Your cart"}),
        action("Back to the shop", {"goto": "/"})])
    with http_site(respond) as url:
        code, _, err = run_cli("run", str(path), "--base-url", url, "--out", str(tmp_path / "r"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "r")
    before, during, after = RunData.load(run_dir).samples
    assert before.ok and after.ok
    assert not during.ok and during.failed_action == "Opening the cart"
    assert during.failure is not None and "HTTP 503" in during.failure and "/cart" in during.failure
    assert during.actions[0].ok and during.actions[2].failure == "not run: an earlier action failed"
    assert during.screenshot and (run_dir / "screenshots" / during.screenshot).stat().st_size > 1000
    assert "HTTP 503" in (run_dir / "report.md").read_text()


# -- the proxy's other fault kinds through a scenario ---------------------------------------------

BIG = b"<html><body><h1>big</h1><pre>" + b"x" * 200_000 + b"</pre></body></html>"


@contextlib.contextmanager
def proxied_site(protocol: str) -> Iterator[tuple[str, str, ProxyHub]]:
    """A real site (HTTP/1.1: keeps connections open; HTTP/1.0: closes each after its answer) behind
    a real fault proxy named 'site', with its control API: (URL through the proxy, control, hub)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def do_GET(self) -> None:
            body = BIG if self.path == "/big" else b"<html><body><h1>ok</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ProxyHub(seed=3) as hub:
            proxy = hub.create("site", f"127.0.0.1:{server.server_address[1]}")
            control = ControlServer(hub)
            try:
                yield f"http://{proxy['listen']}", control.address, hub
            finally:
                control.close()
    finally:
        server.shutdown()


@pytest.mark.browser
@pytest.mark.parametrize("kind,params,protocol", [
    ("bandwidth", "{rate: 100KB}", "HTTP/1.1"),
    ("timeout", "{timeout: 1s}", "HTTP/1.1"),
    ("timeout", "{timeout: 1s}", "HTTP/1.0"),  # the upstream closes after answering: the close is held too
    ("reset", "{}", "HTTP/1.1"),
    ("down", "{}", "HTTP/1.1"),
])
def test_proxy_kinds_through_a_scenario(tmp_path: Path, kind: str, params: str, protocol: str) -> None:
    with proxied_site(protocol) as (url, control, hub):
        path = write_scenario(tmp_path, f"proxy-{kind}", f"{kind}.yaml",
                              target={"base_url": url, "proxy_control": control},
                              journey=[action("Downloading", {"http_get": "/big"}),
                                       action("Opening the page", {"goto": "/"})],
                              fault={"driver": "proxy", "kind": kind, "target": "site",
                                     "params": yaml.safe_load(params)},
                              step_timeout="5s")
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "r"))
        assert code == 0, err
        assert hub.describe("site")["toxics"] == []  # reverted
    run = RunData.load(only_run_dir(tmp_path / "r"))
    before, during, after = run.samples
    assert before.ok and after.ok, (before.failure, after.failure)
    assert not during.fault.straddled and during.fault.fault_active_at_start and not after.fault.fault_active_at_start
    names = [e["event"] for e in run.events]
    assert names.index("injected") < names.index("reverted")
    download = {s.phase: next(a for a in s.actions if a.name == "Downloading") for s in run.samples}
    if kind == "bandwidth":  # 200 KB at 100 KB/s: about 2 s, against milliseconds without the fault
        assert during.ok, during.failure
        assert download["during"].duration_s is not None and download["during"].duration_s >= 1.5
        assert download["before"].duration_s is not None and download["before"].duration_s < 0.5
        return
    assert not during.ok and during.failed_action == "Downloading" and during.failure
    assert during.failure.startswith("GET ")
    if kind == "timeout":  # the proxy holds the answer back and closes the connection after 1 s
        assert during.ended_at - during.started_at >= 1.0, during.failure
    if kind == "down":
        assert "refused" in during.failure.lower(), during.failure


# -- service: targets ------------------------------------------------------------------------------

@pytest.mark.docker
def test_docker_pause_of_a_swarm_service_target(tmp_path: Path, plain_site: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import docker
    from dockerutil import BUSYBOX, TEST_LABEL, ensure_images

    from uxchaos.faults.dockerapi import SWARM_SERVICE_LABEL, docker_client

    client = docker_client()
    ensure_images(client)
    name = f"uxc_paths_{uuid.uuid4().hex[:6]}"
    svc = client.services.create(BUSYBOX, ["sleep", "600"], name=name, labels=TEST_LABEL, networks=["host"],
                                 mode=docker.types.ServiceMode("replicated", 1))
    try:
        def task() -> Any:
            found = client.containers.list(filters={"label": f"{SWARM_SERVICE_LABEL}={name}"})
            return found[0] if found and found[0].status == "running" else None

        wait_until(lambda: task() is not None, 60, f"service {name} running")
        ct = task()
        monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
        path = write_scenario(tmp_path, "svc", target=plain_site,
                              journey=[action("A", {"goto": "/"}, {"sleep": "300ms"})],
                              fault={"driver": "docker", "kind": "pause", "target": f"service:{name}"},
                              phases=(1, 2, 1))
        since = int(time.time()) - 1
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "r"))
        until = int(time.time()) + 1
        assert code == 0, err
        run = RunData.load(only_run_dir(tmp_path / "r"))
        injected = next(e for e in run.events if e["event"] == "injected")
        assert injected["details"]["containers"] == [ct.name]
        # Docker's own record: this task container was paused and unpaused, in that order
        actions = [e["Action"] for e in client.events(since=since, until=until, decode=True,
                                                      filters={"container": ct.id, "event": ["pause", "unpause"]})]
        assert actions == ["pause", "unpause"], actions
        ct.reload()
        assert ct.status == "running"
    finally:
        svc.remove()


# -- recover against a live run ---------------------------------------------------------------------

@pytest.mark.browser
def test_recover_leaves_a_live_runs_fault_alone_and_force_recovers_it(tmp_path: Path, plain_site: str) -> None:
    sleeper = subprocess.Popen(["sleep", "600"])
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    path = write_scenario(tmp_path, "live", target=plain_site, journey=[action("A", {"goto": "/"}, {"sleep": "500ms"})],
                          fault={"driver": "process", "kind": "pause", "target": f"pid:{sleeper.pid}"},
                          phases=(1, 60, 1))
    out = tmp_path / "r"
    run = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(r.get("event") == "injected" for f in out.glob("*/*/results.jsonl")
                               for r in read_results(f.parent)), 60, "the inject")
        # SIGSTOP wakes the sleeping process to stop it: on a busy machine it shows R for a moment
        wait_until(lambda: process_state(sleeper.pid) == "T", 5, "the paused process to show T")
        recover = [sys.executable, "-m", "uxchaos", "recover"]
        polite = subprocess.run(recover, env=env, capture_output=True, text=True, timeout=60)
        assert polite.returncode == 0, polite.stderr
        assert f"its run (pid {run.pid}) is still running; leaving it alone" in polite.stdout
        assert process_state(sleeper.pid) == "T" and run.poll() is None  # untouched
        assert list((tmp_path / "state" / "ledger").glob("*.json"))
        forced = subprocess.run([*recover, "--force"], env=env, capture_output=True, text=True, timeout=60)
        assert forced.returncode == 0, forced.stderr
        assert "leaving it alone" not in forced.stdout and f"process {sleeper.pid}" in forced.stdout
        assert process_state(sleeper.pid) != "T"  # continued
        assert not list((tmp_path / "state" / "ledger").glob("*.json"))
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 130, err
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        sleeper.kill()
        sleeper.wait()


# -- a listener that raises --------------------------------------------------------------------------

class BrokenListener:
    def on_phase(self, phase: str, attempts: int) -> None:
        raise RuntimeError(f"broken listener in {phase}")

    def on_sample(self, sample: Any) -> None:
        raise ValueError("broken listener on a sample")

    def on_event(self, event: dict[str, Any]) -> None:
        raise KeyError("broken listener on an event")

    def on_message(self, text: str) -> None:
        raise OSError("broken listener on a message")


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Any] = []

    def on_phase(self, phase: str, attempts: int) -> None:
        pass

    def on_sample(self, sample: Any) -> None:
        self.samples.append(sample)

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


@pytest.mark.browser
def test_a_listener_that_raises_never_stops_the_run(tmp_path: Path, plain_site: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from uxchaos.run.engine import Engine
    from uxchaos.run.options import RunOptions
    from uxchaos.scenario.loading import parse_scenario

    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        scenario = parse_scenario(scenario_yaml(
            "listeners", target=plain_site, journey=[action("A", {"goto": "/"})],
            fault={"driver": "process", "kind": "pause", "target": f"pid:{sleeper.pid}"},
            phases=phases(after={"attempts": 1, "settle": "100ms"})), "listeners.yaml", env={})
        recorder = Recorder()
        with caplog.at_level(logging.WARNING, logger="uxchaos.run.engine"):
            outcome = Engine(scenario, RunOptions(out_dir=tmp_path / "r", deadline_s=None),
                             [BrokenListener(), recorder]).run()
        assert outcome.status == "completed"
        assert [s.phase for s in outcome.samples] == ["before", "during", "after"]
        assert len(recorder.samples) == 3  # the listener after the broken one still heard everything
        assert process_state(sleeper.pid) != "T"  # reverted as usual
        warned = caplog.text
        for method, text in (("on_phase", "broken listener in before"), ("on_sample", "broken listener on a sample"),
                             ("on_event", "broken listener on an event"), ("on_message", "broken listener on a")):
            assert f"listener BrokenListener.{method} failed: " in warned and text in warned, method
        records = read_results(outcome.run_dir)
        assert records[-1]["type"] == "run_end" and records[-1]["status"] == "completed"
    finally:
        sleeper.kill()
        sleeper.wait()


# -- an HTTPS target with a self-signed certificate --------------------------------------------------

@contextlib.contextmanager
def https_site(tmp: Path, respond: Callable[[str], tuple[int, bytes]]) -> Iterator[str]:
    """A real HTTPS server on 127.0.0.1 with a self-signed certificate made here by openssl."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with http_site(respond, tls=context) as url:
        yield url


@pytest.mark.browser
def test_https_target_with_a_self_signed_certificate(tmp_path: Path) -> None:
    page = b"<html><body><h1>Secure hello</h1></body></html>"
    with https_site(tmp_path, lambda path: (200, page)) as url:
        journey = [action("Opening the page", {"goto": "/"}, {"expect_text": "Secure hello"},
                          {"http_get": "/api", "expect_status": 200})]
        refused = write_scenario(tmp_path, "tls", "refused.yaml", target=url, journey=journey)
        code, _, err = run_cli("run", str(refused), "--out", str(tmp_path / "refused"))
        assert code == 3, err  # stopped at the pre-flight check, naming the option that fixes it
        assert "certificate" in err and "target.ignore_https_errors: true" in err
        accepted = write_scenario(tmp_path, "tls", "accepted.yaml",
                                  target={"base_url": url, "ignore_https_errors": True}, journey=journey)
        code, _, err = run_cli("run", str(accepted), "--out", str(tmp_path / "accepted"))
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "accepted")
    run = RunData.load(run_dir)
    assert len(run.samples) == 3 and all(s.ok for s in run.samples), [s.failure for s in run.samples]
    steps = {s.kind: s for s in run.samples[0].steps}
    assert steps["goto"].navigation and steps["goto"].navigation["status"] == 200  # the browser accepted it
    assert steps["http_get"].http_status == 200  # and so did uxchaos's own GET
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["scenario"]["target"]["ignore_https_errors"] is True


def test_ignore_https_errors_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntarget:\n  base_url: 'https://127.0.0.1:9'\n  ignore_https_errors: 'yes'\n"
                    "journey:\n  - action: A\n    steps:\n      - goto: /\n")
    code, _, err = run_cli("validate", str(path))
    assert code == 2
    assert f"{path}:4: target.ignore_https_errors: must be true or false" in err

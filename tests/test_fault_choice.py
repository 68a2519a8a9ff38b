"""A fault with an alternative (`otherwise:`): the pre-flight decides which one runs. Against the real
Docker engine (a busybox container with a network namespace of its own, netem through the docker
driver with a real tc image) and a real site behind uxchaos's fault proxy on loopback: where the
kernel has no sch_netem the run says why and delays through the proxy; where both fail it stops
before any fault with both causes; bad alternatives are refused with file:line."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import http_site
from dockerutil import BUSYBOX, TEST_FILTER, TEST_LABEL, ensure_images, ensure_tc_image
from scenario_builder import action, proxy_fault, write_scenario

from uxchaos.cli import main
from uxchaos.faults import DRIVERS
from uxchaos.faults.dockerapi import docker_client, netem_supported
from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.results.rundata import RunData
from uxchaos.scenario.loading import parse_scenario
from uxchaos.scenario.model import ScenarioError

ROOT = Path(__file__).parent.parent


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def netem_container() -> Iterator[tuple[str, str]]:
    """A running busybox container with a network namespace of its own, and a present tc image: the
    docker driver's netem delay then depends on the kernel alone."""
    client = docker_client()
    ensure_images(client)
    tc = ensure_tc_image(client)
    name = f"uxc-choice-{uuid.uuid4().hex[:6]}"
    ct = client.containers.run(BUSYBOX, ["sleep", "600"], name=name, detach=True, network_mode="none",
                               labels=TEST_LABEL)
    try:
        yield name, tc
    finally:
        ct.remove(force=True)
        for leftover in client.containers.list(all=True, filters={"label": TEST_FILTER}):
            if leftover.name == name:
                leftover.remove(force=True)


@pytest.fixture
def proxied_site() -> Iterator[tuple[str, str, ProxyHub]]:
    """A real page behind a real fault proxy `site`, with the Toxiproxy-compatible control API."""
    page = b"<html><body><h1>ok</h1></body></html>"
    with http_site(lambda path: (200, page)) as url, ProxyHub(seed=5) as hub:
        proxy = hub.create("site", url.removeprefix("http://"))
        control = ControlServer(hub)
        try:
            yield f"http://{proxy['listen']}", control.address, hub
        finally:
            control.close()


def scenario(tmp: Path, url: str, control: str, first: dict[str, Any], otherwise: dict[str, Any]) -> Path:
    return write_scenario(tmp, "choice", target={"base_url": url, "proxy_control": control},
                          journey=[action("Opening the page", {"goto": "/"})],
                          fault={**first, "otherwise": otherwise}, step_timeout="10s")


def docker_delay(container: str, tc_image: str) -> dict[str, Any]:
    return {"driver": "docker", "kind": "delay", "target": container,
            "params": {"delay": "200ms", "interface": "lo", "tc_image": tc_image}, "max_duration": "1m"}


def proxy_delay(proxy: str) -> dict[str, Any]:
    return proxy_fault(target=proxy, delay="200ms")


@pytest.mark.docker
def test_netem_unavailable_falls_back_to_the_proxy_and_says_why(
        netem_container: tuple[str, str], proxied_site: tuple[str, str, ProxyHub], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    container, tc = netem_container
    url, control, hub = proxied_site
    path = scenario(tmp_path, url, control, docker_delay(container, tc), proxy_delay("site"))
    first, alternative = f"docker delay on {container}", "proxy delay on site"

    code, out, _ = cli("validate", str(path))
    assert code == 0 and "fault: delay via docker, otherwise (if its pre-flight fails) delay via proxy" in out
    code, out, _ = cli("run", str(path), "--dry-run")
    assert code == 0, out
    assert f"try first: {first}" in out and f"otherwise, if its pre-flight fails: {alternative}" in out
    assert "tc qdisc add dev lo root netem delay 200ms" in out and "nothing was touched" in out

    netem, why = netem_supported()  # decided by the kernel, not assumed
    code, out, _ = cli("doctor", str(path))
    assert code == 0, out  # one of the two can be applied: that is all the run needs
    assert "✓ fault choice: " in out and "✓ fault proxy (proxy delay on site): proxy 'site' is there" in out

    code, out, err = cli("run", str(path), "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert hub.describe("site")["toxics"] == []  # reverted
    (run_dir,) = (tmp_path / "r").glob("*/*")
    choice = json.loads((run_dir / "run.json").read_text())["fault_choice"]
    events = [r for r in read_results(run_dir) if r.get("type") == "fault_event"]
    names = [e["event"] for e in events]
    assert names.index("fault_chosen") < names.index("injected")
    report_md, report_html = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    if netem:  # a kernel with netem: the first fault passes and is used
        assert choice["used"] == first and not choice["fell_back"]
        assert f"its pre-flight passed, so the alternative ({alternative}) is not needed" in err
        return
    reason = f"{first} unavailable: netem (kernel): {why}; using {alternative} instead"
    assert reason in err  # said on the terminal…
    assert choice == {"used": alternative, "driver": "proxy", "fell_back": True, "reason": reason,  # …in run.json…
                      "tried": [{"fault": first, "driver": "docker", "problems": [f"netem (kernel): {why}"]},
                                {"fault": alternative, "driver": "proxy", "problems": []}],
                      "fault": choice["fault"]}
    assert choice["fault"]["driver"] == "proxy" and choice["fault"]["max_duration_s"] == 60  # the first's
    chosen = next(e for e in events if e["event"] == "fault_chosen")
    assert chosen["used"] == alternative and chosen["reason"] == reason  # …in the results…
    injected = next(e for e in events if e["event"] == "inject_requested")
    assert injected["fault"] == "delay 200ms on every chunk downstream of proxy 'site'"  # the proxy's own
    assert f"- **Fault chosen by the pre-flight:** {reason}" in report_md  # …and in both reports
    assert "driver `proxy`" in report_md
    assert "Fault chosen by the pre-flight: " in report_html and "sch_netem" in report_html
    run = RunData.load(run_dir)
    assert all(s.ok for s in run.samples)
    assert run.action_durations("Opening the page", "during")[0] >= 0.2  # the proxy's delay was in force


@pytest.mark.docker
def test_both_failing_stop_before_any_fault_with_both_causes(
        netem_container: tuple[str, str], proxied_site: tuple[str, str, ProxyHub], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    container, _ = netem_container
    url, control, hub = proxied_site
    missing = "uxchaos-test/no-tc-here:1"  # fails on any kernel
    path = scenario(tmp_path, url, control, docker_delay(container, missing), proxy_delay("nosuch"))
    code, _, err = cli("run", str(path), "--out", str(tmp_path / "r"))
    assert code == 3, err
    assert "neither the fault nor its alternative can be applied here (nothing was touched)" in err
    assert f"docker delay on {container}: fault target and images: No such image: {missing}" in err
    assert "otherwise proxy delay on nosuch: fault proxy: fault target 'nosuch' is not a proxy here; proxies: site" \
        in err
    assert hub.describe("site")["toxics"] == []
    (run_dir,) = (tmp_path / "r").glob("*/*")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and meta["fault_choice"]["used"] is None
    assert len(meta["fault_choice"]["tried"]) == 2
    assert not any(r.get("type") in ("sample", "fault_event") for r in read_results(run_dir))


ALTERNATIVE = """name: alt
target: {base_url: 'http://127.0.0.1:9', proxy_control: 'http://127.0.0.1:9'}
journey:
  - action: A
    steps:
      - goto: /
fault:
  driver: docker
  kind: delay
  target: db
  params: {delay: 200ms}
  max_duration: 2m
  otherwise:
%s
"""


@pytest.mark.parametrize("otherwise,line,message", [
    ("    driver: proxxy\n    kind: delay\n    target: database",
     14, "fault.otherwise.driver: unknown driver 'proxxy' (did you mean 'proxy'?)"),
    ("    driver: proxy\n    kind: delay\n    target: database", 14, "fault.otherwise.params.delay: delay needs "
     "parameter 'delay'"),
    ("    driver: proxy\n    kind: delay\n    target: database\n    params: {delay: 200}", 17,
     "fault.otherwise.params.delay: a bare number (200) has no unit"),
    ("    driver: proxy\n    kind: delay\n    target: database\n    params: {delay: 1s}\n    otherwise: {driver: "
     "proxy, kind: down, target: database}", 18, "fault.otherwise.otherwise: an alternative has no alternative of "
     "its own (one level only)"),
    ("    - proxy", 13, "fault.otherwise: must be a mapping with keys driver, kind, target"),
    ("    driver: proxy\n    kind: delay\n    target: database\n    tagret: x\n    params: {delay: 1s}", 17,
     "fault.otherwise.tagret: unknown key 'tagret' (did you mean 'target'?)"),
])
def test_a_bad_alternative_is_refused_with_its_line(otherwise: str, line: int, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario(ALTERNATIVE % otherwise, "alt.yaml")
    assert f"alt.yaml:{line}: {message}" in str(e.value), str(e.value)


def test_an_alternative_keeps_its_own_max_duration_or_takes_the_first_ones() -> None:
    inherited = parse_scenario(ALTERNATIVE % "    driver: proxy\n    kind: delay\n    target: database\n"
                               "    params: {delay: 1s}", "alt.yaml").fault
    assert inherited is not None and inherited.otherwise is not None
    assert inherited.otherwise.max_duration_s == 120 and inherited.otherwise.params["delay"] == 1.0
    own = parse_scenario(ALTERNATIVE % "    driver: proxy\n    kind: delay\n    target: database\n"
                         "    params: {delay: 1s}\n    max_duration: 30s", "alt.yaml").fault
    assert own is not None and own.otherwise is not None and own.otherwise.max_duration_s == 30


def test_the_shipped_swarm_delays_try_netem_first_and_the_stacks_proxy_otherwise() -> None:
    for name, proxy in (("database-delay-swarm", "database"), ("backend-delay-swarm", "backend")):
        code, out, err = cli("validate", str(ROOT / "scenarios" / f"{name}.yaml"))
        assert code == 0, err
        assert "fault: delay via docker, otherwise (if its pre-flight fails) delay via proxy" in out
        fault = parse_scenario((ROOT / "scenarios" / f"{name}.yaml").read_text(), name).fault
        assert fault is not None and fault.otherwise is not None and fault.otherwise.target == proxy


def test_the_engine_and_the_choice_name_no_driver() -> None:
    """Drivers stay behind their interface: which fault runs is decided by their own checks."""
    for module in ("uxchaos/run/engine.py", "uxchaos/faults/choice.py"):
        source = (ROOT / module).read_text()
        named = [name for name in DRIVERS if f'"{name}"' in source or f"'{name}'" in source]
        assert not named, f"{module} names driver(s) {named}"

"""The pumba driver. The gaiaadm/pumba image cannot be pulled on this machine (no registry), so:
the argument building is checked against Pumba's grammar (shared/PUMBA.md), and the container
lifecycle — socket mount, labels, log streaming, exit codes, removal on revert and on Ctrl-C — runs
for real on the Docker engine with a locally built stand-in image that records its arguments
(tests/dockerutil.py). The stand-in is the only fake in the suite."""

from __future__ import annotations

import io
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerutil import BUSYBOX, PUMBA_STANDIN, PUMBA_STANDIN_SLOW_CLEANUP, TEST_FILTER, TEST_LABEL, ensure_images
from runs import has_event, started_run
from scenario_builder import action, write_scenario

from uxchaos.cli import main
from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults import FaultSpec, TargetRuntime, create_driver
from uxchaos.faults.dockerapi import docker_client
from uxchaos.faults.pumba import PumbaDriver, go_duration, pumba_args
from uxchaos.results.records import read_results
from uxchaos.util.netutil import wait_until

NETEM = {"interface": "eth0", "tc_image": "gaiadocker/iproute2", "correlation": 0.0}


def test_fixed_delay_follows_pumbas_grammar() -> None:
    args = pumba_args("delay", {**NETEM, "delay": 2.0, "jitter": 0.0, "distribution": "none"},
                      ["myapplication_database.1.x"], 120)
    assert args == ["--log-level=info", "netem", "--duration=120s", "--interface=eth0",
                    "--tc-image=gaiadocker/iproute2", "--pull-image=false",
                    "delay", "--time=2000", "--jitter=0", "--correlation=0", "myapplication_database.1.x"]
    # global flags before the command, netem flags between netem and its subcommand, targets last
    assert args.index("--log-level=info") < args.index("netem") < args.index("--duration=120s") < args.index("delay")
    assert all(a.startswith("--") for a in args if "=" in a)  # long flags only
    assert not any(a.startswith("-") and not a.startswith("--") for a in args)


@pytest.mark.parametrize("kind,params,expected", [
    ("kill", {"signal": "SIGKILL"}, ["kill", "--signal=SIGKILL"]),
    ("stop", {"timeout": 10.0}, ["stop", "--time=10"]),  # integer seconds
    ("pause", {}, ["pause", "--duration=90s"]),  # a Go duration
    ("rm", {"force": True, "volumes": False}, ["rm", "--force=true", "--volumes=false"]),
    ("loss", {**NETEM, "percent": 12.5, "correlation": 0.0}, ["loss", "--percent=12.5", "--correlation=0"]),
    ("rate", {**NETEM, "rate": "100kbit"}, ["rate", "--rate=100kbit"]),
    ("duplicate", {**NETEM, "percent": 5.0}, ["duplicate", "--percent=5"]),
    ("corrupt", {**NETEM, "percent": 1.0}, ["corrupt", "--percent=1"]),
    ("delay", {**NETEM, "delay": 0.3, "jitter": 0.05, "correlation": 25.0, "distribution": "normal"},
     ["delay", "--time=300", "--jitter=50", "--correlation=25", "--distribution=normal"]),
])
def test_every_fault_kind(kind: str, params: dict[str, Any], expected: list[str]) -> None:
    args = pumba_args(kind, params, ["a", "b"], 90)
    start = args.index(expected[0])
    assert args[start:start + len(expected)] == expected
    assert args[0] == "--log-level=info" and args[-2:] == ["a", "b"]


def test_never_an_empty_target_list() -> None:
    with pytest.raises(ValueError, match="every container"):
        pumba_args("pause", {}, [], 30)


@pytest.mark.parametrize("seconds,text", [(30, "30s"), (120, "120s"), (1.5, "1500ms"), (0.3, "300ms")])
def test_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = docker_client()
    ensure_images(c)
    yield c
    for ct in c.containers.list(all=True, filters={"label": TEST_FILTER}):
        ct.remove(force=True)


def target(client: Any, name: str | None = None) -> Any:
    return client.containers.run(BUSYBOX, ["sleep", "600"], name=name or f"uxc-pt-{uuid.uuid4().hex[:6]}",
                                 detach=True, network_mode="host", labels=TEST_LABEL)


def pumba(kind: str, target_name: str, image: str = PUMBA_STANDIN, **params: Any) -> PumbaDriver:
    schema = PumbaDriver.kinds[kind]
    full = {k: p.default for k, p in schema.items() if k not in params} | params | {"image": image}
    d = create_driver(FaultSpec("pumba", kind, target_name, full, 90), TargetRuntime(base_url="http://127.0.0.1:9"))
    assert isinstance(d, PumbaDriver)
    return d


def pumba_containers(client: Any) -> list[Any]:
    return client.containers.list(all=True, filters={"label": "uxchaos.role=pumba"})


@pytest.mark.docker
def test_long_running_fault_lifecycle(client: Any) -> None:
    t = target(client)
    d = pumba("pause", t.name)
    d.preflight()
    details = d.inject()
    (running,) = pumba_containers(client)
    assert running.labels["com.gaiaadm.pumba"] == "true" and running.status == "running"
    wait_until(lambda: any("socket: mounted" in e["line"] for e in d.poll_events()) or
               any("socket: mounted" in line for line in d.log), 10, "Pumba's log")
    assert f"args: --log-level=info pause --duration=90s {t.name}" in d.log
    assert details["args"][-1] == t.name
    reverted = d.revert()
    assert reverted["pumba_exit_code"] == 0  # stopped gracefully (SIGTERM, long grace), not SIGKILLed
    assert any("cleanup" in line for line in d.log)
    assert pumba_containers(client) == []


@pytest.mark.docker
def test_one_shot_kill_and_a_failing_pumba(client: Any) -> None:
    t = target(client)
    d = pumba("kill", t.name)
    d.inject()
    assert pumba_containers(client) == []  # waited for and removed
    assert "killing container" in " ".join(d.log)
    bad = target(client, f"fail-me-{uuid.uuid4().hex[:6]}")
    failing = pumba("kill", bad.name)
    with pytest.raises(FaultError, match=r"(?s)Pumba exited with code 1: see its log below\n.*No such container"):
        failing.inject()
    assert pumba_containers(client) == []


@pytest.mark.docker
def test_missing_pumba_image_is_named(client: Any) -> None:
    t = target(client)
    with pytest.raises(EnvironmentProblem, match=r"No such image: gaiaadm/pumba:latest \(Pumba\): `docker pull"):
        pumba("pause", t.name, image="gaiaadm/pumba:latest").preflight()


def _pumba_scenario(tmp: Path, name: str, file: str, site: str, victim: str, image: str,
                    phases: tuple[int, int, int], sleep: str | None = "300ms") -> Path:
    """A run on `site` whose during phase has Pumba (the `image` stand-in) pausing `victim`; each
    attempt opens the page, then sleeps when `sleep` is given."""
    steps: list[dict[str, Any]] = [{"goto": "/"}] + ([{"sleep": sleep}] if sleep else [])
    return write_scenario(tmp, name, file, target=site, journey=[action("A", *steps)],
                          fault={"driver": "pumba", "kind": "pause", "target": victim, "params": {"image": image}},
                          phases=phases)


@pytest.mark.docker
def test_ctrl_c_stops_and_removes_pumba(client: Any, tmp_path: Path, plain_site: str) -> None:
    t = target(client)
    path = _pumba_scenario(tmp_path, "pumba-pause", "pumba.yaml", plain_site, t.name, PUMBA_STANDIN, (1, 30, 1))
    out = tmp_path / "r"
    with started_run(path, out) as proc:
        wait_until(lambda: bool(pumba_containers(client)) and has_event(out, "injected"), 60, "Pumba running")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert pumba_containers(client) == []
    (run_dir,) = out.glob("*/*")
    records = read_results(run_dir)
    reverted = next(r for r in records if r.get("event") == "reverted")
    assert reverted["details"]["pumba_exit_code"] == 0
    assert any(r.get("event") == "pumba_log" and "running netem" in r["line"] for r in records)


@pytest.fixture
def pumba_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same stand-in as a `pumba` binary on PATH (the real binary cannot be downloaded here)."""
    from dockerutil import PUMBA_SCRIPT

    binary = tmp_path / "bin" / "pumba"
    binary.parent.mkdir()
    binary.write_text(PUMBA_SCRIPT)
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}:{__import__('os').environ['PATH']}")
    return binary


@pytest.mark.docker
def test_binary_on_path_is_used_when_the_image_is_missing(client: Any, pumba_on_path: Path) -> None:
    t = target(client)
    d = pumba("pause", t.name, image="gaiaadm/pumba:latest")  # not present: auto falls back to the binary
    d.preflight()
    assert d.plan()[-1] == f"{pumba_on_path} --log-level=info pause --duration=90s {t.name}"
    d.inject()
    wait_until(lambda: any("running netem" in e["line"] for e in d.poll_events()) or
               any("running netem" in line for line in d.log), 10, "Pumba's log")
    assert f"args: --log-level=info pause --duration=90s {t.name}" in d.log
    assert d.revert()["pumba_exit_code"] == 0 and any("cleanup" in line for line in d.log)
    assert pumba_containers(client) == []  # no container involved


@pytest.mark.docker
def test_binary_runner_that_is_missing_is_named(client: Any) -> None:
    t = target(client)
    with pytest.raises(EnvironmentProblem, match="no `pumba` on PATH"):
        pumba("pause", t.name, runner="binary").preflight()


@pytest.mark.docker
def test_second_ctrl_c_while_reverting_still_reverts(client: Any, tmp_path: Path, plain_site: str) -> None:
    """Pumba's cleanup takes a while (3 s here); a second Ctrl-C during it must not cut it short.
    The second Ctrl-C is sent once Pumba's own container log shows its cleanup has started, and
    before that log shows it done."""
    import os
    import time

    t = target(client)
    path = _pumba_scenario(tmp_path, "ctrl-c-twice", "twice.yaml", plain_site, t.name, PUMBA_STANDIN_SLOW_CLEANUP,
                           (1, 30, 1))
    out = tmp_path / "r"

    def mine() -> list[Any]:  # other checkouts' tests may run Pumba stand-ins on this engine too
        return [c for c in pumba_containers(client) if t.name in c.attrs["Args"]]

    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    with started_run(path, out, env) as proc:
        wait_until(lambda: bool(mine()) and has_event(out, "injected"), 60, "the inject")
        (container,) = mine()
        assert "(cleanup)" not in container.logs().decode()
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: "(cleanup)" in container.logs().decode(), 10, "Pumba's cleanup to start (its log)")
        time.sleep(1.0)  # inside Pumba's 3-second cleanup
        assert "cleanup done" not in container.logs().decode()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "still reverting the fault" in err
    records = read_results(next(out.glob("*/*")))
    reverted = next(r for r in records if r.get("event") == "reverted")
    assert reverted["details"]["pumba_exit_code"] == 0  # Pumba finished its cleanup
    assert any(r.get("event") == "pumba_log" and "cleanup done" in r["line"] for r in records)
    assert mine() == []
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))


@pytest.mark.docker
def test_ctrl_c_during_the_normal_revert_stops_once_reverted(client: Any, tmp_path: Path, plain_site: str) -> None:
    """The during phase ends and the revert starts (Pumba's 3-second cleanup); a Ctrl-C then must
    stop the run once the revert is done, as its message says — not be forgotten."""
    import os

    t = target(client)
    path = _pumba_scenario(tmp_path, "ctrl-c-late", "late.yaml", plain_site, t.name, PUMBA_STANDIN_SLOW_CLEANUP,
                           (1, 1, 5))
    out = tmp_path / "r"

    def mine() -> list[Any]:
        return [c for c in pumba_containers(client) if t.name in c.attrs["Args"]]

    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    with started_run(path, out, env) as proc:
        wait_until(lambda: bool(mine()), 60, "Pumba running")
        (container,) = mine()
        wait_until(lambda: "(cleanup)" in container.logs().decode(), 60, "the revert to start (Pumba's cleanup)")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    records = read_results(next(out.glob("*/*")))
    assert "still reverting the fault" in err
    assert next(r for r in records if r.get("event") == "reverted")["details"]["pumba_exit_code"] == 0
    after = [r for r in records if r.get("type") == "sample" and r["phase"] == "after"]
    assert proc.returncode == 130 and after == [], (proc.returncode, len(after))


# -- No error turned into success: an inject that fails is reported with its cause, reverted, and ends
# the run with exit 3 — never counted as a fault that holds. Here, in this file, because it removes
# every Pumba container that starts, and the tests above count them: make test's xdist runs a file's
# tests on one worker (--dist loadfile), one after the other.


def _remove_pumba_as_it_starts(client: Any, stop: threading.Event) -> threading.Thread:
    """Somebody else removes Pumba's container the moment it starts (its exit status is lost)."""
    events = client.events(decode=True, filters={"label": "uxchaos.role=pumba", "event": "start"})

    def watch() -> None:
        for event in events:
            if stop.is_set():
                return
            try:
                client.containers.get(event["id"]).remove(force=True)
            except Exception:  # already gone: that is what this helper wants
                pass

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    stop.wait(0.2)  # the event stream is subscribed before the run starts
    return thread


@pytest.mark.docker
def test_pumba_that_vanishes_during_inject_fails_the_run_with_the_cause(client: Any, tmp_path: Path,
                                                                        plain_site: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    victim = client.containers.run(BUSYBOX, ["sleep", "600"], name=f"uxc-vanish-{uuid.uuid4().hex[:6]}",
                                   detach=True, network_mode="host", labels=TEST_LABEL)
    path = _pumba_scenario(tmp_path, "vanishing-pumba", "s.yaml", plain_site, victim.name, PUMBA_STANDIN, (1, 1, 1),
                           sleep=None)
    stop = threading.Event()
    _remove_pumba_as_it_starts(client, stop)
    err = io.StringIO()
    try:
        code = main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err)
    finally:
        stop.set()
    assert code == 3, err.getvalue()
    text = err.getvalue()
    assert "Pumba" in text and ("disappeared" in text or "exited with code" in text), text
    (run_dir,) = (tmp_path / "r").glob("*/*")
    records = read_results(run_dir)
    failed = [r for r in records if r.get("event") == "inject_failed"]
    assert len(failed) == 1 and failed[0]["reverted"] is True
    assert not any(r.get("event") == "injected" for r in records)  # never counted as holding
    assert not any(r.get("type") == "sample" and r["phase"] == "during" for r in records)
    victim.reload()
    assert victim.status == "running"  # not left paused
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))

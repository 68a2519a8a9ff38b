"""Adding a driver is one module: a driver defined here, in the test, registers itself and is
validated, checked by the doctor, listed by `uxchaos reference`, injected, watched, reverted and
recovered by the unchanged engine, doctor and CLI. And a run never removes another run's fault,
and notices when its own fault vanishes — with the real proxy as well as with this driver."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import http_site
from runs import has_event, started_run
from scenario_builder import action, opening_then_sleep, proxy_fault, write_scenario

from uxchaos.cli import main
from uxchaos.demo.stack import DemoStack
from uxchaos.errors import EnvironmentProblem
from uxchaos.faults import DRIVERS, Check, FaultDriver, Param, register
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.results.rundata import RunData
from uxchaos.util.netutil import wait_until


class MarkerDriver(FaultDriver):
    """A fault that is a file: while it exists, the test's web site answers slowly."""

    name = "marker-test"
    target_help = "path of the marker file"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {"mark": {"text": Param("text", "slow", "what the file says")}}

    def checks(self) -> list[Check]:
        def folder() -> str:
            if not Path(self.spec.target).parent.is_dir():
                raise EnvironmentProblem(f"no folder for the marker {self.spec.target}")
            return f"{Path(self.spec.target).parent} exists"

        return [Check("marker folder", folder)]

    def resources(self) -> list[str]:
        return [f"marker {self.spec.target}"]

    def inject(self) -> dict[str, Any]:
        Path(self.spec.target).write_text(self.spec.params["text"])
        return {"file": self.spec.target}

    def revert(self) -> dict[str, Any]:
        Path(self.spec.target).unlink(missing_ok=True)
        return {"removed": self.spec.target}

    def in_force(self) -> bool | None:
        return Path(self.spec.target).exists()

    def ledger_revert(self) -> dict[str, Any]:
        return {"file": self.spec.target}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        Path(data["file"]).unlink(missing_ok=True)
        return f"removed {data['file']}"


@pytest.fixture
def marker_driver() -> Iterator[type[FaultDriver]]:
    register(MarkerDriver)
    yield MarkerDriver
    del DRIVERS[MarkerDriver.name]


@pytest.fixture
def marker_site(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, int]]]:
    """A site that answers 1 s late while the marker exists; after `vanish_after` slow answers it
    removes the marker itself, as somebody removing a fault behind the run's back would."""
    marker = tmp_path / "fault.marker"
    seen = {"slow": 0, "vanish_after": 0}

    def respond(path: str) -> tuple[int, bytes]:
        if marker.exists():
            seen["slow"] += 1
            time.sleep(1.0)
            if seen["vanish_after"] and seen["slow"] >= seen["vanish_after"]:
                marker.unlink(missing_ok=True)
        return 200, b"<html><body><h1>ok</h1></body></html>"

    with http_site(respond) as url:
        yield url, marker, seen


def _scenario(tmp_path: Path, url: str, marker: Path, during: int = 3) -> Path:
    return write_scenario(tmp_path, "marker", target=url, journey=[action("Opening the page", {"goto": "/"})],
                          fault={"driver": "marker-test", "kind": "mark", "target": str(marker),
                                 "params": {"text": "slow"}},
                          phases=(2, during, 2),
                          expect=['during["Opening the page"].p50 > before["Opening the page"].p50'])


@pytest.mark.browser
def test_a_driver_defined_in_a_test_runs_through_the_unchanged_engine(
        tmp_path: Path, marker_driver: type[FaultDriver], marker_site: tuple[str, Path, dict[str, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    url, marker, _ = marker_site
    path = _scenario(tmp_path, url, marker)
    out = io.StringIO()
    assert main(["validate", str(path)], out, io.StringIO()) == 0
    assert "fault: mark via marker-test" in out.getvalue()
    out = io.StringIO()
    assert main(["reference"], out, io.StringIO()) == 0
    assert "| `marker-test` | `mark` | `text` (text, slow) | path of the marker file |" in out.getvalue()
    out = io.StringIO()
    assert main(["doctor", str(path)], out, io.StringIO()) == 0
    assert f"✓ marker folder: {tmp_path} exists" in out.getvalue()
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace(str(marker), str(tmp_path / "nowhere" / "m")))
    out = io.StringIO()
    assert main(["doctor", str(bad)], out, io.StringIO()) == 3
    assert "✗ marker folder: no folder for the marker" in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    assert main(["run", str(path), "--out", str(tmp_path / "r")], out, err) == 0, err.getvalue()
    (run_dir,) = (tmp_path / "r").glob("*/*")
    run = RunData.load(run_dir)
    during = run.action_durations("Opening the page", "during")
    before = run.action_durations("Opening the page", "before")
    assert len(during) == 3 and min(during) >= 1.0 and min(during) > max(before)
    assert not any(s.fault.fault_missing for s in run.samples)
    assert not marker.exists()
    assert [e["event"] for e in run.events if e["event"] in ("injected", "reverted")] == ["injected", "reverted"]
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))


@pytest.mark.browser
def test_a_fault_that_vanishes_mid_phase_is_seen_and_its_samples_flagged(
        tmp_path: Path, marker_driver: type[FaultDriver], marker_site: tuple[str, Path, dict[str, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    url, marker, seen = marker_site
    seen["vanish_after"] = 2  # the second slow answer removes the marker
    path = _scenario(tmp_path, url, marker, during=4)
    err = io.StringIO()
    main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err)
    (run_dir,) = (tmp_path / "r").glob("*/*")
    run = RunData.load(run_dir)
    flags = [s.fault.fault_missing for s in run.attempts("during")]
    assert flags == [False, True, True, True], flags  # attempt 2 ended without it; 3 and 4 never had it
    assert not any(s.fault.fault_missing for s in run.attempts("before") + run.attempts("after"))
    assert run.action_durations("Opening the page", "during") == [s.actions[0].duration_s
                                                                  for s in run.attempts("during")[:1]]
    assert any(e["event"] == "fault_missing" for e in run.events)
    assert "not in force any more" in err.getvalue()
    report = (run_dir / "report.md").read_text()
    assert "‡ 3 during attempt(s) were measured while the fault was **not in force**" in report


def _proxy_scenario(tmp: Path, demo: DemoStack, control: str, name: str, during: int) -> Path:
    assert demo.info is not None
    return write_scenario(tmp, name, target={"base_url": demo.info.base_url, "proxy_control": control},
                          journey=opening_then_sleep("300ms"), fault=proxy_fault(delay="300ms"), phases=(1, during, 1))


def _wait_for_event(out: Path, event: str, timeout_s: float = 60) -> Path:
    wait_until(lambda: has_event(out, event), timeout_s, f"the {event} event")
    (run_dir,) = out.glob("*/*")
    return run_dir


@pytest.mark.browser
def test_a_second_run_is_refused_and_never_removes_the_first_runs_fault(
        tmp_path: Path, demo_stack: DemoStack) -> None:
    """The issue's finding: a refused second run used to remove the first run's toxic, and the
    first run's remaining during attempts were measured without the fault."""
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    first = _proxy_scenario(tmp_path, demo_stack, control.address, "first", during=40)
    out_a = tmp_path / "a"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(first), "--out", str(out_a)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        run_a = _wait_for_event(out_a, "injected")
        (ledger,) = (tmp_path / "state" / "ledger").glob("first-*.json")
        run_id = json.loads(ledger.read_text())["run_id"]
        (toxic,) = demo_stack.hub.describe("database")["toxics"]
        second = _proxy_scenario(tmp_path, demo_stack, control.address, "second", during=1)
        done = subprocess.run([sys.executable, "-m", "uxchaos", "run", str(second), "--out", str(tmp_path / "b")],
                              env=env, capture_output=True, text=True, timeout=120)
        refused_at = time.time()
        # refused, naming the run that holds the fault; the first run's toxic is untouched
        assert done.returncode == 3, done.stderr
        assert run_id in done.stderr and "nothing was changed" in done.stderr
        assert proc.poll() is None, "the first run should still be in its during phase"
        assert demo_stack.hub.describe("database")["toxics"] == [toxic]
        wait_until(lambda: sum(r.get("phase") == "during" and r["started_at"] > refused_at
                               for r in read_results(run_a)) >= 2, 60, "two more during attempts of the first run")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        control.close()
    assert proc.returncode == 130, err
    run = RunData.load(run_a)
    later = [s for s in run.attempts("during") if s.started_at > refused_at and not s.fault.straddled]
    assert len(later) >= 2 and not any(s.fault.fault_missing for s in run.attempts("during"))
    before = max(run.action_durations("Opening the login page", "before"))
    assert all(s.actions[0].duration_s is not None and s.actions[0].duration_s > before + 0.25 for s in later)
    assert demo_stack.hub.describe("database")["toxics"] == []


@pytest.mark.browser
def test_runs_with_demos_of_their_own_never_refuse_each_other(tmp_path: Path) -> None:
    """Two runs, each starting its own demo (a proxy inside its own process), share one ledger: the
    second injects while the first still holds its delay. Before the proxy's ledger resource named
    the process, both were "proxy 'database' at in-process" and the second was refused (exit 3)."""
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}

    def scenario(name: str, during: int) -> Path:
        return write_scenario(tmp_path, name, journey=opening_then_sleep("1s"), fault=proxy_fault(delay="50ms"),
                              phases=(1, during, 1))

    with started_run(scenario("own-a", during=20), tmp_path / "a", env) as first:
        run_a = _wait_for_event(tmp_path / "a", "injected")
        second = subprocess.run([sys.executable, "-m", "uxchaos", "run", str(scenario("own-b", during=1)),
                                 "--out", str(tmp_path / "b")], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert first.poll() is None, "the first run should still be in its during phase"
        first.send_signal(signal.SIGINT)  # done with it: its revert is still recorded
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    (run_b,) = (tmp_path / "b").glob("*/*")
    events_a, events_b = (RunData.load(d).events for d in (run_a, run_b))
    held_a = [e["time"] for e in events_a if e["event"] in ("injected", "reverted")]
    held_b = [e["time"] for e in events_b if e["event"] in ("injected", "reverted")]
    assert len(held_a) == len(held_b) == 2
    assert held_a[0] < held_b[0] < held_a[1], (held_a, held_b)  # the second injected while the first held its own


@pytest.mark.browser
def test_a_toxic_removed_by_hand_mid_phase_flags_the_rest(tmp_path: Path, demo_stack: DemoStack) -> None:
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    path = _proxy_scenario(tmp_path, demo_stack, control.address, "byhand", during=5)
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = _wait_for_event(out, "injected")
        wait_until(lambda: sum(r.get("phase") == "during" for r in read_results(run_dir)) >= 1, 60,
                   "the first during attempt")
        (toxic,) = demo_stack.hub.describe("database")["toxics"]
        demo_stack.hub.remove_toxic("database", toxic["name"])  # by hand, behind the run's back
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        control.close()
    assert proc.returncode == 0, err
    run = RunData.load(run_dir)
    flags = [s.fault.fault_missing for s in run.attempts("during")]
    assert flags[0] is False and flags[-2:] == [True, True], flags
    assert "not in force" in (run_dir / "report.md").read_text()


@pytest.mark.browser
def test_watchdog_revert_mid_attempt_is_written_by_one_writer(tmp_path: Path, plain_site: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """max_duration fires on the watchdog thread in the middle of an attempt while the main thread
    records samples: every record is whole, the revert lies inside the straddled attempt."""
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    proc = subprocess.Popen(["sleep", "600"])
    try:
        path = write_scenario(tmp_path, "watchdog", "s.yaml", target=plain_site,
                              journey=[action("Waiting", {"goto": "/"}, {"sleep": "3s"})],
                              fault={"driver": "process", "kind": "pause", "target": f"pid:{proc.pid}",
                                     "max_duration": "2s"},
                              phases=(1, 3, 1))
        threads_before = threading.active_count()
        assert main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), io.StringIO()) == 0
        assert threading.active_count() <= threads_before + 1
        stat = Path(f"/proc/{proc.pid}/stat").read_text().split(") ", 1)[1][0]
        assert stat != "T"
    finally:
        proc.kill()
        proc.wait()
    (run_dir,) = (tmp_path / "r").glob("*/*")
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    (reverted,) = [r for r in records if r.get("event") == "reverted"]
    (during,) = [r for r in records if r.get("type") == "sample" and r["phase"] == "during"]
    # the revert came from the watchdog while the attempt ran (its clock starts after its browser
    # context is ready, which a loaded machine can delay: the end is what must be after the revert)
    assert reverted["time"] < during["ended_at"] and during["straddled"]
    assert "max duration" in reverted["reason"]
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "completed"
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))

"""The surroundings failing in the middle of a run: what was measured stays on disk, the run ends with
its report and the reason, and `uxchaos recover` afterwards finds nothing left to undo (or says what
it could not undo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from badservers import hello_site, refused_port
from runs import has_event

from uxchaos.results.records import read_results
from uxchaos.util.netutil import wait_until


def _proxy_serve(upstream: str, control_port: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`uxchaos proxy serve` with proxy 'backend' in front of `upstream`: (process, the proxy's address)."""
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "proxy", "serve", "--proxy", f"backend={upstream}",
                             "--control", f"127.0.0.1:{control_port}"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "proxy backend: 127.0.0.1:PORT → upstream"
    assert line.startswith("proxy backend: "), line + (proc.stderr.read() if proc.stderr else "")
    listen = line.split(": ", 1)[1].split(" ")[0]
    proc.stdout.readline()  # "control API: …": it listens
    return proc, listen


@pytest.mark.browser
def test_the_proxy_control_api_dying_during_the_fault(tmp_path: Path) -> None:
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state"), "UXCHAOS_MATRIX_CELL": f"midrun-{os.getpid()}"}
    control_port = refused_port()
    out = tmp_path / "reports"
    with hello_site() as site:
        proxy, listen = _proxy_serve(site.removeprefix("http://"), control_port, env)
        try:
            scenario = tmp_path / "s.yaml"
            scenario.write_text(json.dumps({
                "name": "midrun", "target": {"base_url": f"http://{listen}",
                                              "proxy_control": f"http://127.0.0.1:{control_port}"},
                "journey": [{"action": "Open", "steps": [{"goto": "/"}, {"expect_text": "hello"}]}],
                "fault": {"driver": "proxy", "kind": "delay", "target": "backend", "params": {"delay": "200ms"},
                          "max_duration": "2m"},
                "phases": {"before": {"attempts": 2}, "during": {"attempts": 6}, "after": {"attempts": 2}},
                "step_timeout": "5s"}))
            run = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(scenario), "--out", str(out)],
                                   env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                wait_until(lambda: has_event(out, "injected") or run.poll() is not None, 90, "the fault injected")
                assert run.poll() is None, run.communicate()
                proxy.send_signal(signal.SIGKILL)  # the proxy and its control API die, the fault with them
                proxy.wait(10)
                stdout, stderr = run.communicate(timeout=120)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.communicate()
        finally:
            if proxy.poll() is None:
                proxy.kill()
            proxy.communicate()
    # One line: what failed and what to do.
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("uxchaos: ") and " → " not in line]
    assert len(errors) == 1, stderr
    assert "proxy control API" in errors[0] and "uxchaos recover" in errors[0], errors[0]
    assert run.returncode == 3
    # What was measured is on disk, with the reason the run ended, and it has its report.
    (run_dir,) = out.glob("midrun/*")
    records = read_results(run_dir)
    assert sum(r.get("type") == "sample" and r["phase"] == "before" for r in records) == 2
    # The engine stopped the during attempts once it could not tell the fault's state twice in a row.
    assert [r["event"] for r in records if r.get("event") in ("fault_lost", "revert_failed")] == \
        ["fault_lost", "revert_failed"]
    assert sum(r.get("type") == "sample" and r["phase"] == "during" for r in records) < 6
    failed = [r for r in records if r.get("type") == "run_failed"]
    assert len(failed) == 1 and "proxy control API" in failed[0]["reason"]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and "proxy control API" in meta["ended_because"]
    report = (run_dir / "report.md").read_text()
    assert "**Ended early:**" in report and "proxy control API" in report
    assert "report: " in stdout
    # The fault stayed in the ledger (it could not be reverted); recover finds its proxy gone with it.
    ledgers = list((tmp_path / "state" / "ledger").glob("*.json"))
    assert len(ledgers) == 1
    recovered = subprocess.run([sys.executable, "-m", "uxchaos", "recover"], env=env, capture_output=True,
                               text=True, timeout=60)
    assert recovered.returncode == 0, recovered.stderr
    assert f"proxy control http://127.0.0.1:{control_port} is gone" in recovered.stdout
    assert list((tmp_path / "state" / "ledger").glob("*.json")) == []
    # Nothing it started is still running (its browser, Playwright's driver).
    deadline = time.monotonic() + 10
    while _marked(env["UXCHAOS_MATRIX_CELL"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _marked(env["UXCHAOS_MATRIX_CELL"]) == set()


def _marked(marker: str) -> set[int]:
    needle = f"UXCHAOS_MATRIX_CELL={marker}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found

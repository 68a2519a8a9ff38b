"""The Locust load beside the browser users: a real Locust (in its own processes) against the real
demo on 127.0.0.1, bounded in users and time. Bounds are generous: 2 shared cores."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run import only_run_dir, run_cli

from uxchaos.demo.stack import DemoStack
from uxchaos.proxy.control import ControlServer
from uxchaos.results.records import read_results
from uxchaos.util.procs import pid_alive

ROOT = Path(__file__).resolve().parent.parent

LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.2)

    @task(3)
    def login_page(self):
        self.client.get("/login")

    @task
    def health(self):
        self.client.get("/health", name="/health")
"""


# two seconds or more: Locust's load is recorded per whole second, and two page loads in the headless
# shell take well under one
WHOLE_SECONDS = "{attempts: 3, think: 1s}"


def scenario(tmp_path: Path, base_url: str, load: str, extra: str = "", name: str = "load",
             during: str = WHOLE_SECONDS, before: str = "{attempts: 2}", after: str = "{attempts: 2}") -> Path:
    """A scenario with load; its during phase holds whole seconds of it (a test that reads the before
    phase's load gives it WHOLE_SECONDS too)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""name: {name}
target: {{base_url: {base_url}}}
journey:
  - action: Opening the login page
    steps:
      - goto: /login
phases:
  before: {before}
  during: {during}
  after: {after}
load:
{load}
{extra}""")
    return path


@pytest.fixture
def control(demo_stack: DemoStack) -> Iterator[str]:
    """The shared demo's proxies behind Toxiproxy's API, for runs with a proxy fault on it."""
    demo_stack.hub.reset()
    server = ControlServer(demo_stack.hub)
    yield server.address
    server.close()
    demo_stack.hub.reset()


def records(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in read_results(run_dir) if r.get("type") == kind]


# -- bad input: one line naming the file and line, exit 2, before anything starts ------------------

@pytest.mark.parametrize(("load", "expected"), [
    ("  users: 0\n  requests: [{get: /login}]", ":12: load.users: must be from 1 to 100000, got 0"),
    ("  users: 2\n  requests:\n    - {fetch: /login}", ":14: load.requests[0].fetch: unknown key 'fetch'"),
    ("  users: 2\n  requests:\n    - {get: login}", ":14: load.requests[0].get: a path on the target, starting"),
    ("  users: 2\n  locustfile: nowhere.py", ":13: load.locustfile: cannot read locustfile"),
    ("  users: 2\n  locustfile: broken.py", "broken.py:3: not valid Python"),
    ("  users: 2\n  locustfile: nouser.py", "nouser.py: no Locust user class"),
    ("  users: 2", ":11: load: give either locustfile (your own) or requests"),
])
def test_bad_load_names_file_and_line(tmp_path: Path, load: str, expected: str) -> None:
    (tmp_path / "broken.py").write_text("from locust import HttpUser\n\nclass V(HttpUser:\n    pass\n")
    (tmp_path / "nouser.py").write_text("import locust\n\nclass V:\n    pass\n")
    path = scenario(tmp_path, "http://127.0.0.1:9", load)
    code, _, err = run_cli("validate", str(path))
    assert code == 2, err
    assert expected in err, err


def test_a_locustfile_failing_on_import_stops_the_run_before_anything(tmp_path: Path) -> None:
    """Only an import shows this one: the check runs the locustfile in a Locust process of its own."""
    (tmp_path / "lf.py").write_text("from locust import HttpUser, task\n\nimport no_such_module_here\n\n\n"
                                    "class V(HttpUser):\n    pass\n")
    path = scenario(tmp_path, "http://127.0.0.1:9", "  users: 2\n  locustfile: lf.py")
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    assert code == 2, err
    line = next(x for x in err.splitlines() if x.startswith("uxchaos:"))
    assert f"{tmp_path / 'lf.py'}:3: ModuleNotFoundError" in line, err
    assert not out.exists(), "nothing may start before the load is known to work"


# -- a real run: load records, the per-phase table, expectations -----------------------------------

@pytest.mark.browser
def test_declared_requests_run_beside_the_browser_and_are_reported(tmp_path: Path, demo_stack: DemoStack,
                                                                   control: str) -> None:
    info = demo_stack.info
    assert info is not None
    path = scenario(tmp_path, info.base_url, "  users: 3\n  spawn_rate: 30/s\n  wait: 100ms\n  requests:\n"
                    "    - {get: /login, weight: 3}\n    - {get: /health}", """
fault: {driver: proxy, kind: delay, target: database, params: {delay: 300ms}}
expect:
  - during.load.failure_rate < 1%
  - during.load["GET /login"].p95 > before.load["GET /login"].p95
  - during.load["GET /login"].p95 < 1ms
""", before=WHOLE_SECONDS, after="{attempts: 2, settle: 2s}")
    # settle: whole seconds of load after the revert, whatever the machine's speed (a second straddling it
    # counts for none)
    text = path.read_text().replace(f"base_url: {info.base_url}}}",
                                    f"base_url: {info.base_url}, proxy_control: {control}}}")
    path.write_text(text)
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    assert code == 1, err  # the last expectation cannot hold
    run_dir = only_run_dir(out)
    loads = records(run_dir, "load")
    phases = {r["phase"] for r in loads}
    assert {"before", "during", "after"} <= phases, phases
    times = [r["time"] for r in loads]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps[:-1]) < 2.5 and min(gaps[:-1]) > 0.5, gaps  # one record a second (the last is the final one)
    assert all(set(r) >= {"users", "rps", "fail_per_s", "requests"} for r in loads)
    busy = [r for r in loads if r["phase"] in ("before", "during", "after") and r["requests"]]
    assert busy and all(r["users"] == 3 for r in busy)
    assert set().union(*(r["requests"] for r in busy)) == {"GET /login", "GET /health"}
    summary = json.loads((run_dir / "summary.json").read_text())
    by = {(r["phase"], r["name"]): r for r in summary["load"]}
    for phase in ("before", "during", "after"):
        assert by[(phase, "GET /login")]["n"] > 0 and by[(phase, "All requests")]["rps"] > 0
    # a 300 ms database delay on several round trips per /login: Locust sees it as the browser does
    assert by[("during", "GET /login")]["p50"] > by[("before", "GET /login")]["p50"] + 0.3
    results = {e["text"]: e for e in summary["expectations"]}
    assert results["during.load.failure_rate < 1%"]["passed"]
    assert results['during.load["GET /login"].p95 > before.load["GET /login"].p95']["passed"]
    assert not results['during.load["GET /login"].p95 < 1ms']["passed"]
    report = (run_dir / "report.md").read_text()
    assert "## Load (Locust)" in report and "| during | GET /login |" in report, report
    assert "3 users from the scenario's requests (GET /login, GET /health)" in report
    html = (run_dir / "report.html").read_text()
    assert "<h2>Load (Locust)</h2>" in html and "Locust /s" in html  # the table, and the panel under the timeline
    assert (run_dir / "locustfile.py").read_text().count("@task") == 2
    pids = next(r for r in records(run_dir, "load_event") if r["event"] == "started")["pids"]
    assert pids and not any(pid_alive(p) for p in pids)


@pytest.mark.browser
def test_a_teams_locustfile_runs_with_its_own_user_classes(tmp_path: Path, plain_site: str) -> None:
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    path = scenario(tmp_path, plain_site, "  users: 2\n  spawn_rate: 10/s\n  locustfile: locustfile.py",
                    "expect:\n  - before.load.n > 0\n  - during.load[\"GET /health\"].n > 0\n",
                    before=WHOLE_SECONDS)
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    assert code == 0, err
    run_dir = only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    names = {r["name"] for r in summary["load"]}
    assert {"GET /login", "GET /health", "All requests"} <= names, names
    assert "locustfile `locustfile.py`" in (run_dir / "report.md").read_text()


# -- every exit path stops Locust: the pids uxchaos recorded are gone ------------------------------

def _started_pids(out: Path, timeout_s: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for f in out.glob("*/*/results.jsonl"):
            found = [r for r in read_results(f.parent) if r.get("event") == "ramped"]
            started = [r for r in read_results(f.parent) if r.get("event") == "started"]
            if found and started:
                return list(started[0]["pids"])
        time.sleep(0.2)
    raise AssertionError("the load never ramped")


@pytest.mark.browser
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_run_leaves_no_locust_process(tmp_path: Path, plain_site: str, sig: signal.Signals) -> None:
    path = scenario(tmp_path, plain_site, "  users: 2\n  workers: 1\n  requests: [{get: /}]")
    path.write_text(path.read_text().replace("      - goto: /login", "      - goto: /login\n      - sleep: 1s"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    out = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        pids = _started_pids(out)
        assert len(pids) == 2  # the master and its worker
        time.sleep(1.5)  # into the before phase
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        expected = {signal.SIGINT: 130, signal.SIGTERM: 130, signal.SIGKILL: -9}[sig]
        assert proc.returncode == expected, err
        if sig == signal.SIGKILL:  # the children die with uxchaos (PR_SET_PDEATHSIG); recover finds none left
            code, text, _ = run_cli_env(env, "recover")
            assert code == 0 and "the Locust load" in text, text
        deadline = time.monotonic() + 15
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in pids), [p for p in pids if pid_alive(p)]
        if sig != signal.SIGKILL:
            assert records(only_run_dir(out), "load_event")[-1]["event"] == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_cli_env(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "uxchaos", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return done.returncode, done.stdout, done.stderr


# -- a traffic surge as a fault --------------------------------------------------------------------

SURGE = "fault: {driver: load, kind: surge, target: load, params: {users: 6, spawn_rate: 30/s}}\n"


@pytest.mark.browser
def test_a_surge_steps_the_load_up_at_inject_and_down_at_revert(tmp_path: Path, plain_site: str) -> None:
    path = scenario(tmp_path, plain_site, "  users: 2\n  wait: 200ms\n  requests: [{get: /}]",
                    SURGE + "expect:\n  - during.load.users == 8\n  - after.load.users == 2\n"
                    "  - during.load.rps > 2 * before.load.rps\n")
    path.write_text(path.read_text().replace("      - goto: /login", "      - goto: /login\n      - sleep: 1s"))
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    run_dir = only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert code == 0, (err, summary["expectations"])
    events = {e["event"]: e for e in read_results(run_dir) if e.get("type") == "fault_event"}
    assert events["injected"]["details"]["users"] == 8 and events["injected"]["details"]["ramp_done"]
    assert events["reverted"]["details"]["users"] == 2
    loads = records(run_dir, "load")
    assert {r["users"] for r in loads if r["fault_active"]} == {8}
    # a second after the revert but before the after phase began is named "during", and counts for neither
    rows = json.loads((run_dir / "summary.json").read_text())["load"]
    assert next(r for r in rows if r["phase"] == "during" and r["name"] == "All requests")["users"] == 8
    assert "surge of +6 Locust users at 30/s via load" in (run_dir / "report.md").read_text()


def test_a_surge_needs_a_load_block(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntarget: {base_url: http://127.0.0.1:9}\n" + SURGE)
    code, _, err = run_cli("validate", str(path))
    assert code == 2 and f"{path}:3: fault: a load surge steps up the scenario's Locust users" in err, err


@pytest.mark.browser
def test_recover_stops_a_surge_left_by_a_killed_run(tmp_path: Path, plain_site: str) -> None:
    """SIGKILL while the surge is held. Locust dies with uxchaos (PR_SET_PDEATHSIG); to see recover find
    a surge that outlived its run, Locust is held with SIGSTOP before the kill (its death signal then
    waits), and recover must name and signal exactly the Locust processes of the ledger. (The pending
    death signal would end them as well once continued: both are the same SIGTERM.)"""
    path = scenario(tmp_path, plain_site, "  users: 1\n  requests: [{get: /}]", SURGE)
    path.write_text(path.read_text().replace("      - goto: /login", "      - goto: /login\n      - sleep: 2s"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    out = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        pids = _started_pids(out)
        deadline = time.monotonic() + 60
        while not any(r.get("event") == "injected" for f in out.glob("*/*/results.jsonl")
                      for r in read_results(f.parent)):
            assert time.monotonic() < deadline, "the surge was never injected"
            time.sleep(0.2)
        ledger = json.loads(next((tmp_path / "state" / "ledger").glob("*.json")).read_text())
        assert {e["id"] for e in ledger["entries"]} >= {"load", "fault"}
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        proc.kill()
        proc.communicate(timeout=30)
        assert all(pid_alive(p) for p in pids)  # stopped, so still there: the kernel's SIGTERM is pending
        code, text, _ = run_cli_env(env, "recover")
        assert code == 0, text
        assert f"stopped the surge's Locust processes {', '.join(map(str, pids))}" in text, text
        for pid in pids:
            os.kill(pid, signal.SIGCONT)  # lets the pending SIGTERMs land
        deadline = time.monotonic() + 15
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in pids)
        assert not list((tmp_path / "state" / "ledger").glob("*.json"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- scaling out on Locust's own workers -----------------------------------------------------------

@pytest.mark.browser
def test_a_master_with_two_local_workers_carries_the_load(tmp_path: Path, plain_site: str) -> None:
    path = scenario(tmp_path, plain_site, "  users: 4\n  workers: 2\n  wait: 200ms\n  requests: [{get: /}]",
                    "expect:\n  - during.load.users == 4\n  - during.load.n > 0\n")
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    run_dir = only_run_dir(out)
    assert code == 0, (err, json.loads((run_dir / "summary.json").read_text())["expectations"])
    started = next(r for r in records(run_dir, "load_event") if r["event"] == "started")
    assert len(started["pids"]) == 3 and "a master and 2 worker processes" in started["where"]
    log = (run_dir / "locust.log").read_text()
    assert "2 workers connected" in log and "Sending spawn jobs of 4 users at 4.00 spawn rate to 2 ready workers" \
        in log, log[-2000:]
    assert log.count("Got quit message from master") == 2  # both workers ended with the run
    busy = [r for r in records(run_dir, "load") if r["phase"] == "during"]
    assert busy and sum(s["n"] for r in busy for s in r["requests"].values()) > 0


@pytest.mark.browser
@pytest.mark.parametrize("users_from", ["master", "scenario"])
def test_a_worker_from_elsewhere_joins_the_runs_master(tmp_path: Path, plain_site: str, users_from: str) -> None:
    """`uxchaos load worker --master HOST:PORT` (as on another machine) feeds the run, with the
    locustfile the master sends it (the run compiled it from `requests:` into its own folder, which
    the worker never sees), or with `--scenario FILE`."""
    from uxchaos.util.netutil import free_port

    master = f"127.0.0.1:{free_port()}"
    path = scenario(tmp_path, plain_site, f"  users: 2\n  workers: 1\n  master: {master}\n  requests: [{{get: /}}]",
                    "expect:\n  - during.load.n > 0\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    out = tmp_path / "reports"
    run = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while run_cli_env(env, "load", "worker", "--master", master, "--scenario", "/nonexistent.yaml")[0] == 3:
            assert time.monotonic() < deadline, "the master never listened"  # (exit 2 = it is there)
            time.sleep(0.5)
        users = ["--scenario", str(path)] if users_from == "scenario" else []
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        worker = subprocess.Popen([sys.executable, "-m", "uxchaos", "load", "worker", "--master", master, *users],
                                  env=env, cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        assert worker.wait(30) == 0  # the master's quit ends it
        said = worker.communicate()[0]
        run_dir = only_run_dir(out)
        assert "workers started elsewhere" in (run_dir / "report.md").read_text()
        if users_from == "master":
            assert "with the master's locustfile" in said, said
            assert (run_dir / "locustfile.py").exists()  # the compiled requests, sent by the master
    finally:
        for proc in (run, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_a_master_that_cannot_be_reached_is_one_line_exit_3(tmp_path: Path) -> None:
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    code, _, err = run_cli("load", "worker", "--master", "127.0.0.1:9", "--locustfile", str(tmp_path / "locustfile.py"))
    assert code == 3, err
    assert err.strip().splitlines() == [err.strip()] and "cannot reach the Locust master at 127.0.0.1:9" in err, err


# -- a sweep over traffic ---------------------------------------------------------------------------

@pytest.mark.browser
def test_a_sweep_over_surge_users_gives_a_curve_per_level(tmp_path: Path, plain_site: str) -> None:
    path = scenario(tmp_path, plain_site, "  users: 1\n  wait: 200ms\n  requests: [{get: /}]",
                    "fault:\n  driver: load\n  kind: surge\n  target: load\n  params: {spawn_rate: 50/s}\n"
                    "  sweep: {users: [0, 4], threshold: {\"Opening the login page\": 30s}}\n",
                    # a level lasts over 2 s: a load record (one a second) that straddles a level change
                    # counts for no level, so each level needs one whole second of its own
                    during=WHOLE_SECONDS)
    out = tmp_path / "reports"
    code, _, err = run_cli("run", str(path), "--out", str(out))
    assert code == 0, err
    run_dir = only_run_dir(out)
    during = [r for r in records(run_dir, "load") if r["phase"] == "during"]
    by_level = {level: {r["users"] for r in during if r["level"] == level} for level in (0.0, 4.0)}
    assert by_level[0.0] == {1} and 5 in by_level[4.0], by_level  # the base user, then base + 4
    for level in (0.0, 4.0):  # the think time between a level's attempts, with one user too
        spans = [(r["started_at"], r["ended_at"]) for r in records(run_dir, "sample") if r["level"] == level]
        assert len(spans) == 3 and all(b[0] - a[1] >= 1.0 for a, b in itertools.pairwise(spans)), spans
    curve = json.loads((run_dir / "summary.json").read_text())["dose_response"][0]
    assert curve["param"] == "users" and [lv["level"] for lv in curve["levels"]] == [0.0, 4.0], curve
    assert "users 4" in (run_dir / "report.md").read_text()
    # The load table has a row per level beside the pooled during row: its users are the level's.
    load = {r["label"]: r for r in json.loads((run_dir / "summary.json").read_text())["load"]
            if r["name"] == "All requests"}
    assert load["during · users 0"]["users"] == 1 and load["during · users 4"]["users"] == 5, load.keys()
    assert load["during · users 4"]["n"] > load["during · users 0"]["n"] > 0, load
    assert "| during · users 4 | **All requests** |" in (run_dir / "report.md").read_text()


def test_the_process_that_drives_playwright_never_imports_locust_or_gevent() -> None:
    """Importing Locust monkey-patches the standard library for gevent: only the Locust children may."""
    code = ("import sys, uxchaos.run.engine, uxchaos.cli, uxchaos.commands.dispatch, uxchaos.faults, "
            "uxchaos.commands.loadworker, uxchaos.report, uxchaos.analysis.summary; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout

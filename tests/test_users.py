"""Virtual users and browser endpoints: real Chromium, the real demo, real browser servers
(`uxchaos browser serve`) on 127.0.0.1. Timing bounds are generous: 2 shared cores."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import pytest
from runs import browser_processes
from scenario_builder import opening_then_sleep, proxy_fault, write_scenario
from test_run import only_run_dir, run_cli

from uxchaos.browser.capacity import local_capacity
from uxchaos.errors import EnvironmentProblem
from uxchaos.results.records import Sample
from uxchaos.results.rundata import RunData
from uxchaos.run.engine import Engine
from uxchaos.run.options import RunOptions
from uxchaos.scenario.loading import load_scenario, parse_scenario
from uxchaos.users.pool import assign_endpoints

ROOT = Path(__file__).resolve().parent.parent


def samples_of(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line complete: a torn one raises here
    return [r for r in records if r["type"] == "sample"]


# -- bad input: file and line, and what this machine can take ------------------------------------

@pytest.mark.parametrize(("users", "expected"), [
    ("0", "must be at least 1 (got 0)"),
    ("2.5", "must be a whole number, got 2.5"),
    ("50000", "more than uxchaos runs in one phase (at most 1000)"),
])
def test_bad_user_counts_name_file_line_and_the_machine(tmp_path: Path, users: str, expected: str) -> None:
    text = f"name: u\ntarget: {{base_url: demo}}\nphases:\n  during:\n    users: {users}\n    attempts: 2\n"
    path = tmp_path / "u.yaml"
    path.write_text(text)
    code, _, err = run_cli("validate", str(path))
    assert code == 2, err
    assert f"{path}:5: phases.during.users:" in err and expected in err, err
    if users == "50000":
        assert f"{os.cpu_count()} core(s)" in err and "MB of memory available" in err, err


def test_local_users_beyond_memory_are_refused_before_anything_runs(tmp_path: Path) -> None:
    capacity = local_capacity()
    if capacity.max_users >= 1000:
        pytest.skip("this machine holds 1000 local users")
    path = write_scenario(tmp_path, "e2e", target="http://127.0.0.1:9", phases=None)
    code, _, err = run_cli("run", str(path), "--users", "1000", "--out", str(tmp_path / "r"))
    assert code == 2 and "1000 local users" in err and "spread them over remote browsers" in err, err


def test_browsers_list_is_validated(tmp_path: Path) -> None:
    text = "name: u\ntarget: {base_url: demo}\nbrowsers:\n  - ws://127.0.0.1:3000/uxchaos\n  - ftp://nowhere\n"
    with pytest.raises(Exception, match=r"x.yaml:5: browsers\[1\]: browser endpoint 'ftp://nowhere'"):
        parse_scenario(text, "x.yaml")
    ok = parse_scenario(text.replace("ftp://nowhere", "cdp+http://127.0.0.1:9222"), "x.yaml")
    assert ok.browsers == ["ws://127.0.0.1:3000/uxchaos", "cdp+http://127.0.0.1:9222"]


def test_users_are_spread_least_loaded_first() -> None:
    from uxchaos.browser.endpoints import parse_endpoint

    a, b = parse_endpoint("ws://127.0.0.1:1/a"), parse_endpoint("ws://127.0.0.1:2/b")
    assert Counter(e.url for e in assign_endpoints(5, [a, b])) == {a.url: 3, b.url: 2}


# -- runs on the demo -----------------------------------------------------------------------------

class BrowserCounter(threading.Thread):
    """The most browser processes alive at once while the `with` block runs (sampled every 100 ms)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.before = browser_processes(os.getpid())
        self.seen: set[int] = set()
        self.most = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            alive = browser_processes(os.getpid()) - self.before
            self.seen |= alive
            self.most = max(self.most, len(alive))

    def __enter__(self) -> BrowserCounter:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.join(5)


@pytest.mark.browser
def test_users_run_concurrently_and_the_fault_is_held_for_all_of_them(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "e2e", fault=proxy_fault(delay="300ms"),
                          phases=({"users": 2, "attempts": 1}, {"users": 3, "attempts": 2, "think": "100ms"},
                                  {"users": 2, "attempts": 1}))
    with BrowserCounter() as browsers:
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    # Each of the three local users has a Chromium of its own (users/pool.py), started once for the whole
    # run (not per phase or attempt); they are gone after.
    assert browsers.most == 3 and len(browsers.seen) == 3, (browsers.most, browsers.seen)
    assert not browser_processes(os.getpid()) - browsers.before
    run_dir = only_run_dir(tmp_path / "reports")
    samples = samples_of(run_dir)
    assert Counter(s["phase"] for s in samples) == {"before": 2, "during": 6, "after": 2}  # users × attempts
    during = [s for s in samples if s["phase"] == "during"]
    assert Counter(s["user"] for s in during) == {1: 2, 2: 2, 3: 2}
    assert sorted(s["attempt"] for s in during) == [1, 2, 3, 4, 5, 6]  # numbered across users, no repeats
    assert all(s["endpoint"] == "local" and 0.0 <= s["host_cpu"] <= 1.0 and s["driver_lag_ms"] >= 0
               for s in samples), samples
    assert all(1 <= s["concurrency"] <= 3 for s in during)
    # Concurrent: the users' during attempts overlap in time.
    spans = sorted((s["started_at"], s["ended_at"]) for s in during)
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1)), spans
    run = RunData.load(run_dir)
    reverted = next(e for e in run.events if e["event"] == "reverted")
    injected = next(e for e in run.events if e["event"] == "injected")
    assert reverted["reason"] == "during phase finished"
    assert all(injected["time"] <= s["started_at"] and s["ended_at"] <= reverted["time"] for s in during)
    assert all(s["ok"] for s in samples), [s["failure"] for s in samples]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["users"] == {"before": 2, "during": 3, "after": 2}
    assert len(meta["endpoints"]) == 3 and all(e["round_trip_ms"] > 0 for e in meta["endpoints"])
    # each user's journey thread and Playwright driver, for reading the run beside the scheduler's events
    assert len({e["thread"] for e in meta["endpoints"]}) == 3 and all(e["driver"] for e in meta["endpoints"])
    report = (run_dir / "report.md").read_text()
    assert "## Virtual users" in report and "| local | 10 | 10 | 0 | 0 |" in report, report
    for phase, users in (("before", 2), ("during", 3), ("after", 2)):  # the figures per number of users
        times = [s["duration_s"] for s in samples if s["phase"] == phase]
        assert (f"| {phase} | {users} users (closed) | {len(times)} | {len(times)} | {statistics.median(times):.2f} | "
                f"{numpy.percentile(times, 95):.2f} |") in report, report


@pytest.mark.browser
def test_python_journey_runs_with_many_users(tmp_path: Path) -> None:
    code, _, err = run_cli("run", str(ROOT / "examples" / "login-python.yaml"), "--users", "2", "--attempts", "1",
                           "--out", str(tmp_path / "reports"))
    assert code in (0, 1), err  # 1: an expectation on a saturated machine may lack data; the samples are the point
    samples = samples_of(only_run_dir(tmp_path / "reports"))
    assert Counter((s["phase"], s["user"]) for s in samples) == {(p, u): 1 for p in ("before", "during", "after")
                                                                 for u in (1, 2)}
    assert all(s["ok"] for s in samples), [s["failure"] for s in samples]
    assert all(any(a["name"] == "Logging in" for a in s["actions"]) for s in samples)


# -- browser servers --------------------------------------------------------------------------------

class Server:
    def __init__(self, *extra: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "uxchaos", "browser", "serve", "--port", "0", *extra],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("browser server: ws://127.0.0.1:"), (line, self.process.stderr and
                                                                     self.process.stderr.read())
        self.url = line.split()[2]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started = [Server(), Server()]
    yield started
    for server in started:
        server.stop()


class KillOnDuring:
    """A listener that kills one browser server shortly after the during phase starts."""

    def __init__(self, server: Server, after_s: float) -> None:
        self.server, self.after_s = server, after_s
        self.killed_at: float | None = None

    def on_phase(self, phase: str, attempts: int) -> None:
        if phase == "during":
            threading.Timer(self.after_s, self._kill).start()

    def _kill(self) -> None:
        self.killed_at = time.time()
        self.server.kill()

    def on_sample(self, sample: Sample) -> None:
        pass

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


@pytest.mark.browser
def test_users_spread_over_two_servers_and_one_dies_mid_phase(tmp_path: Path, servers: list[Server],
                                                              demo_target: dict[str, Any]) -> None:
    path = write_scenario(tmp_path, "e2e", target=demo_target, fault=proxy_fault(delay="300ms"),
                          phases=({"users": 2, "attempts": 1}, {"users": 2, "attempts": 2},
                                  {"users": 2, "attempts": 1}))
    scenario = load_scenario(path)
    killer = KillOnDuring(servers[1], after_s=1.5)  # the during attempts last seconds: some are in flight
    options = RunOptions(out_dir=tmp_path / "reports", endpoints=[servers[0].url, servers[1].url])
    outcome = Engine(scenario, options, [killer]).run()
    assert outcome.status == "completed" and killer.killed_at is not None
    samples = samples_of(outcome.run_dir)
    assert Counter(s["phase"] for s in samples) == {"before": 2, "during": 4, "after": 2}
    before = [s for s in samples if s["phase"] == "before"]
    assert Counter(s["endpoint"] for s in before) == {servers[0].url: 1, servers[1].url: 1}  # spread evenly
    assert all(s["ok"] for s in before)
    lost = [s for s in samples if s["endpoint_lost"]]
    assert lost and all(s["endpoint"] == servers[1].url and not s["ok"] for s in lost)
    assert all(servers[1].url in s["failure"] for s in lost), [s["failure"] for s in lost]
    # Everything that ran on the live server, and everything after the kill, went on.
    assert all(s["ok"] for s in samples if s["endpoint"] == servers[0].url), samples
    after = [s for s in samples if s["phase"] == "after"]
    assert all(s["endpoint"] == servers[0].url and s["ok"] for s in after)
    events = [r for r in map(json.loads, (outcome.run_dir / "results.jsonl").read_text().splitlines())]
    assert any(r.get("event") == "reverted" and r["reason"] == "during phase finished" for r in events)
    assert any(r["type"] == "endpoint_lost" and r["endpoint"] == servers[1].url for r in events)
    from uxchaos.commands.dispatch import _report

    _report(outcome.run_dir, io.StringIO())
    report = (outcome.run_dir / "report.md").read_text()
    assert f"{servers[1].url} (lost)" in report and f"⊘ {servers[1].url} was lost" in report
    for url, lost_mark in ((servers[0].url, ""), (servers[1].url, " (lost)")):  # per-endpoint figures = the samples'
        mine = [s for s in samples if s["endpoint"] == url]
        ok = [s["duration_s"] for s in mine if s["ok"]]
        median, p95 = (f"{statistics.median(ok):.2f}", f"{numpy.percentile(ok, 95):.2f}") if ok else ("–", "–")
        failed, lost = (sum(not s["ok"] and not s["endpoint_lost"] for s in mine),
                        sum(s["endpoint_lost"] for s in mine))
        row = f"| {url}{lost_mark} | {len(mine)} | {len(ok)} | {failed} | {lost} | {median} | {p95} |"
        assert row in report, (row, report)
    html = (outcome.run_dir / "report.html").read_text()
    assert "<h2>Virtual users</h2>" in html and "users busy" in html and f"{servers[1].url} (lost)" in html


@pytest.mark.browser
def test_an_unreachable_endpoint_stops_the_run_before_any_fault(tmp_path: Path, servers: list[Server]) -> None:
    servers[1].kill()
    path = write_scenario(tmp_path, "e2e", fault=proxy_fault(delay="300ms"))
    code, _, err = run_cli("run", str(path), "--users", "2", "--browser-endpoint", servers[0].url,
                           "--browser-endpoint", servers[1].url, "--out", str(tmp_path / "reports"))
    assert code == 3, err
    assert f"browser endpoint {servers[1].url} cannot be used" in err, err
    records = (only_run_dir(tmp_path / "reports") / "results.jsonl").read_text()
    assert '"inject' not in records and '"type": "sample"' not in records


class PlaywrightServerOfAnotherVersion:
    """A stand-in for a Playwright browser server of another version: a second Playwright cannot be
    installed beside the one uxchaos runs on, so this socket server answers the WebSocket upgrade the
    way playwright-core's playwrightServer.ts does when the client's User-Agent names another
    major.minor — `428 Precondition Required` and the box naming both versions — and closes."""

    SERVER_VERSION = "1.40"

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/uxchaos"
        self.agents: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                agent = next((line.split(":", 1)[1].strip() for line in head.decode("latin-1").split("\r\n")
                              if line.lower().startswith("user-agent:")), "")
                self.agents.append(agent)
                client = ".".join(agent.removeprefix("Playwright/").split(" ")[0].split(".")[:2])
                lines = ["Playwright version mismatch:", f"  - server version: v{self.SERVER_VERSION}",
                         f"  - client version: v{client}", "", "If you are connecting to a remote service,",
                         "keep your local Playwright version in sync", "with the remote service version."]
                width = max(map(len, lines)) + 2
                box = "\n".join(["╔" + "═" * width + "╗", *(f"║ {line:<{width - 2}} ║" for line in lines),
                                 "╚" + "═" * width + "╝"])
                conn.sendall(f"HTTP/1.1 428 Precondition Required\r\n\r\n{box}".encode())

    def close(self) -> None:
        self.sock.close()


def test_an_endpoint_of_another_playwright_version_is_named_before_any_fault(tmp_path: Path) -> None:
    other = PlaywrightServerOfAnotherVersion()
    path = write_scenario(tmp_path, "e2e", fault=proxy_fault(delay="300ms"))
    try:
        code, _, err = run_cli("run", str(path), "--users", "1", "--browser-endpoint", other.url,
                               "--out", str(tmp_path / "reports"))
    finally:
        other.close()
    from playwright._repo_version import version

    mine = ".".join(version.split(".")[:2])
    assert other.agents and other.agents[0].startswith(f"Playwright/{mine}.")  # a real Playwright client asked
    assert code == 3, err
    assert f"browser endpoint {other.url} cannot be used" in err, err
    assert f"428 Precondition Required — it speaks Playwright 1.40, this uxchaos Playwright {mine}" in err, err
    records = (only_run_dir(tmp_path / "reports") / "results.jsonl").read_text()
    assert '"inject' not in records and '"type": "sample"' not in records


def test_an_endpoint_that_is_no_browser_server_is_named(plain_site: str) -> None:
    from playwright.sync_api import sync_playwright

    from uxchaos.browser.endpoints import open_browser, parse_endpoint

    url = plain_site.replace("http://", "ws://") + "/uxchaos"
    with sync_playwright() as p, pytest.raises(EnvironmentProblem) as caught:
        open_browser(p, parse_endpoint(url))
    assert f"browser endpoint {url} cannot be used" in str(caught.value)
    assert "200 OK — it answers HTTP but is not a Playwright browser server" in str(caught.value), caught.value


@pytest.mark.browser
def test_browser_serve_refuses_users_beyond_max(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from uxchaos.browser.endpoints import open_browser, parse_endpoint

    server = Server("--max-users", "1")
    try:
        with sync_playwright() as p:
            first = open_browser(p, parse_endpoint(server.url))
            page = first.new_page()
            assert page.evaluate("1 + 1") == 2  # a real browser behind it
            full = f"browser endpoint {server.url} cannot be used.*503.*server is full"
            with pytest.raises(EnvironmentProblem, match=full):
                open_browser(p, parse_endpoint(server.url))
            first.close()
    finally:
        server.stop()
    assert server.process.returncode == 0


# -- interrupted while many users are in flight -------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_many_users_keeps_whole_samples_and_reverts(tmp_path: Path, demo_stack: Any,
                                                                 sig: signal.Signals) -> None:
    from uxchaos.proxy.control import ControlServer

    info = demo_stack.info
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    path = write_scenario(tmp_path, "trial", target={"base_url": info.base_url, "proxy_control": control.address},
                          journey=opening_then_sleep("1s"), fault=proxy_fault(delay="100ms"),
                          phases=({"users": 3, "attempts": 1}, {"users": 3, "attempts": 4},
                                  {"users": 3, "attempts": 1}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    out = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the first during sample: users are mid-phase, others in flight
            if "[during " in line:
                break
        time.sleep(0.3)
        proc.send_signal(sig)
        assert proc.wait(timeout=90) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        control.close()
    run_dir = only_run_dir(out)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    samples = [r for r in records if r["type"] == "sample"]
    assert Counter(s["phase"] for s in samples)["before"] == 3
    assert 1 <= Counter(s["phase"] for s in samples)["during"] < 12  # interrupted mid-phase
    assert len({(s["phase"], s["attempt"]) for s in samples}) == len(samples)  # no sample twice
    assert [r["phase"] for r in records if r["type"] == "interrupted"] == ["during"]
    assert records[-1]["type"] == "run_end" and records[-1]["status"] == "interrupted"
    assert any(r.get("event") == "reverted" for r in records)
    assert demo_stack.hub.describe("database")["toxics"] == []  # nothing left behind


@pytest.mark.browser
def test_a_cdp_endpoint_carries_the_users(tmp_path: Path, plain_site: str) -> None:
    from uxchaos.browser.launch import find_browser, launch_args
    from uxchaos.util.procs import die_with_parent

    chromium = subprocess.Popen([find_browser(), "--headless", "--remote-debugging-address=127.0.0.1",
                                 "--remote-debugging-port=0", f"--user-data-dir={tmp_path / 'profile'}",
                                 *launch_args(), "about:blank"], stderr=subprocess.PIPE, text=True,
                                preexec_fn=die_with_parent())
    try:
        assert chromium.stderr is not None
        line = next(x for x in chromium.stderr if "DevTools listening on ws://127.0.0.1:" in x)
        port = line.split("ws://127.0.0.1:")[1].split("/")[0]
        threading.Thread(target=chromium.stderr.read, daemon=True).start()  # a full pipe would stall Chromium
        path = write_scenario(tmp_path, "e2e", target=plain_site,
                              journey=[{"action": "Opening the page", "steps": [{"goto": "/"}, {"expect_text": "ok"}]}],
                              phases=({"users": 2, "attempts": 2}, 1, 1), browsers=[f"cdp+http://127.0.0.1:{port}"])
        code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
        assert code == 0, err
        samples = samples_of(only_run_dir(tmp_path / "reports"))
        assert Counter(s["phase"] for s in samples) == {"before": 4, "during": 1, "after": 1}
        assert all(s["ok"] and s["endpoint"] == f"cdp+http://127.0.0.1:{port}" for s in samples), samples
    finally:
        os.kill(chromium.pid, signal.SIGTERM)
        chromium.wait(20)


def test_many_attempts_turn_the_seed_table_into_medians_and_flags_are_counted() -> None:
    from uxchaos.report.markdown import attempts_table
    from uxchaos.report.users import users_section
    from uxchaos.results.records import ActionTiming, GeneratorState
    from uxchaos.results.rundata import RunData

    def sample(phase: str, n: int, seconds: float, **flags: Any) -> dict[str, Any]:
        generator = GeneratorState(user=1 + n % 4, endpoint="local", concurrency=4, host_cpu=0.5, driver_lag_ms=5.0,
                                   **flags)
        return Sample(phase=phase, attempt=n, started_at=n, ended_at=n + seconds, duration_s=seconds, ok=True,
                      actions=[ActionTiming("Logging in", seconds, True)], generator=generator).to_record()

    records = [sample("before", n, 1.0) for n in range(1, 25)]
    records += [sample("during", n, 3.0 if n % 2 else 5.0) for n in range(1, 25)]
    records += [sample("during", 25, 60.0, saturated=True)]  # shown, counted, but no part of the median
    records += [sample("after", n, 1.2) for n in range(1, 25)]
    run = RunData.from_records({"scenario": {"journey": [{"action": "Logging in"}]}}, records)
    table = attempts_table(run)
    assert table.splitlines()[2] == "| Logging in | 1.00 (n=24) | 4.00 (n=24, 1 left out) | 1.20 (n=24) |", table
    section = users_section(run)
    assert "⌁ **1 attempt(s) were left out** (with 4 users busy at once)" in section
    assert "with 4 users busy at once" in section and "| local | 73 | 73 | 0 | 0 |" in section, section

"""Every dependency uxchaos talks to, failing every way it can, under every command that uses it.

Each cell ends the same way: the right exit status (3 for the surroundings), one line naming the
dependency and its address, no traceback, and nothing left behind (no ledger entry, no toxic, no
container, no process). The dependencies are real sockets on loopback (tests/badservers.py): a port
that refuses, a server that accepts and never answers, one that answers something that is not HTTP,
and one that answers an ordinary web page instead of the API. Most cells run the CLI in this process
(`uxchaos.cli.main`); the cells that wait out a time-out run as real `uxchaos` processes, all started
at once when the module begins, so their waits overlap the in-process cells.

Cells this machine cannot produce are said where they would be: a Swarm manager that answers but is
not a manager (there is one daemon here, and it is a manager: the shared stack runs on it); the
Pumba image cannot be pulled here, so "image missing" is the real state and not a simulation."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from badservers import WAYS, BadServer, bad_server, hello_site

from uxchaos.cli import main
from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlServer

REFUSE_OR_GARBAGE = [w for w in WAYS if w != "hangs"]
HANG_PIDS: set[int] = set()  # the processes of the time-out cells, started when the module begins


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with hello_site() as url:
        yield url


def write_scenario(folder: Path, base_url: str, fault: dict[str, Any] | None = None,
                   proxy_control: str | None = None, name: str = "matrix") -> Path:
    target: dict[str, Any] = {"base_url": base_url}
    if proxy_control:
        target["proxy_control"] = proxy_control
    scenario: dict[str, Any] = {
        "name": name, "target": target,
        "journey": [{"action": "Open", "steps": [{"goto": "/"}, {"expect_text": "hello"}]}],
        "phases": {"before": {"attempts": 1}, "during": {"attempts": 1}, "after": {"attempts": 1}},
        "step_timeout": "10s",
    }
    if fault:
        scenario["fault"] = {"max_duration": "1m", **fault}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(scenario))  # JSON is YAML
    return path


PROXY_FAULT = {"driver": "proxy", "kind": "delay", "target": "backend", "params": {"delay": "100ms"}}
TOXIPROXY_FAULT = {"driver": "toxiproxy", "kind": "delay", "target": "backend", "params": {"delay": "100ms"}}
DOCKER_FAULT = {"driver": "docker", "kind": "kill", "target": "uxchaos-matrix-no-such-container"}


# -- what a cell checks -----------------------------------------------------------------------------
@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(argv: list[str]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out, err)
    return Outcome(code, out.getvalue(), err.getvalue())


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith("uxchaos: ") and not line.startswith("uxchaos: running ")]


def assert_one_line(outcome: Outcome, *words: str, code: int = 3) -> None:
    """The exit status, no traceback, and one `uxchaos: …` line on stderr naming the dependency."""
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    assert outcome.code == code, (outcome.code, outcome.err, outcome.out)
    lines = error_lines(outcome.err)
    assert len(lines) == 1, outcome.err
    assert "\n" not in lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])


def assert_doctor_names(outcome: Outcome, *words: str) -> None:
    """`doctor` shows every check: the failed one is a ✗ line naming the dependency; exit 3."""
    assert "Traceback" not in outcome.err + outcome.out, outcome.err
    assert outcome.code == 3, (outcome.code, outcome.out, outcome.err)
    failed = [line for line in outcome.out.splitlines() if line.startswith("✗ ")]
    assert any(all(word in line for word in words) for line in failed), outcome.out
    assert "failed" in outcome.out.splitlines()[-1] or any("failed" in line for line in outcome.out.splitlines())


def _children(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:  # the time-out cells' processes (and theirs) run beside the in-process cells
        frontier = {p for p, parent in parents.items() if parent in frontier} - found - HANG_PIDS
        found |= frontier
    return found


def with_marker(marker: str) -> set[int]:
    """Processes whose environment carries the marker: whatever a uxchaos process started, also
    orphans that the kernel gave to init."""
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


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state folder of the cell's own; afterwards: no ledger entry and no process left."""
    folder = tmp_path / "state"
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(folder))
    before = _children(os.getpid())
    yield folder
    deadline = time.monotonic() + 10
    while _children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children(os.getpid()) - before == set(), "a process was left running"


def ledger_entries(folder: Path) -> list[Path]:
    return sorted((folder / "ledger").glob("*.json"))


# -- the proxy control API: uxchaos's own (proxy driver) and a Toxiproxy (toxiproxy driver) ---------
@pytest.mark.parametrize("way", REFUSE_OR_GARBAGE)
@pytest.mark.parametrize("fault", [PROXY_FAULT, TOXIPROXY_FAULT], ids=["proxy", "toxiproxy"])
@pytest.mark.parametrize("command", ["run", "doctor"])
def test_proxy_control_api(command: str, fault: dict[str, Any], way: str, site: str, tmp_path: Path,
                           state: Path) -> None:
    with bad_server(way) as control:
        path = write_scenario(tmp_path, site, fault, proxy_control=control.url)
        if command == "run":
            outcome = run_cli(["run", str(path), "--out", str(tmp_path / "reports")])
            assert_one_line(outcome, "proxy control API", control.address)
        else:
            assert_doctor_names(run_cli(["doctor", str(path)]), "proxy control API", control.address)
    assert ledger_entries(state) == []


def _proxy_ledger(folder: Path, control_url: str) -> Path:
    """What a run killed while holding a delay on proxy 'backend' at `control_url` left behind."""
    ledger = folder / "ledger" / "killed-run.json"
    ledger.parent.mkdir(parents=True)
    entry = {"id": "fault", "kind": "fault", "driver": "proxy", "fault": "delay 100ms of proxy 'backend'",
             "resources": [f"proxy 'backend' at {control_url}"],
             "revert": {"control": control_url, "proxy": "backend", "toxics": ["uxchaos-delay@killed-run"],
                        "down": False}}
    ledger.write_text(json.dumps({"run_id": "killed-run", "owner_pid": 2 ** 22 + 12345, "ended": False,
                                  "updated_at": time.time(), "entries": [entry]}))
    return ledger


def test_recover_when_the_proxy_control_api_is_gone(state: Path) -> None:
    """A control API that refuses took its proxies (and their toxics) with it: nothing left to undo."""
    with bad_server("refuses") as control:
        _proxy_ledger(state, control.url)
        outcome = run_cli(["recover"])
    assert outcome.code == 0 and "Traceback" not in outcome.err, outcome.err
    assert f"proxy control {control.url} is gone" in outcome.out
    assert ledger_entries(state) == []


@pytest.mark.parametrize("way", ["garbage", "wrong-http"])
def test_recover_when_the_proxy_control_api_answers_nonsense(way: str, state: Path) -> None:
    """Something answers there, but not the API: the fault may still be in place, so it stays listed."""
    with bad_server(way) as control:
        ledger = _proxy_ledger(state, control.url)
        outcome = run_cli(["recover"])
    assert_one_line(outcome, "could not undo", "proxy control API", control.address)
    assert ledger_entries(state) == [ledger]  # kept for the next `uxchaos recover`


# -- the Docker daemon (DOCKER_HOST at a socket that fails) and the Swarm manager -----------------
@pytest.mark.parametrize("way", REFUSE_OR_GARBAGE)
@pytest.mark.parametrize("command", ["run", "doctor"])
def test_docker_daemon(command: str, way: str, site: str, tmp_path: Path, state: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    with bad_server(way, unix=True) as daemon:
        monkeypatch.setenv("DOCKER_HOST", daemon.address)
        path = write_scenario(tmp_path, site, DOCKER_FAULT)
        if command == "run":
            outcome = run_cli(["run", str(path), "--out", str(tmp_path / "reports")])
            assert_one_line(outcome, "Docker daemon", daemon.address)
        else:
            assert_doctor_names(run_cli(["doctor", str(path)]), "Docker daemon", daemon.address)
    assert ledger_entries(state) == []


def test_recover_a_docker_fault_while_the_daemon_is_down(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with bad_server("refuses", unix=True) as daemon:
        monkeypatch.setenv("DOCKER_HOST", daemon.address)
        ledger = state / "ledger" / "killed.json"
        ledger.parent.mkdir(parents=True)
        entry = {"id": "fault", "kind": "fault", "driver": "docker", "fault": "pause of c1", "resources": [],
                 "revert": {"containers": ["0" * 64], "kind": "pause", "params": {}, "swarm": [False]}}
        ledger.write_text(json.dumps({"run_id": "killed", "owner_pid": 2 ** 22 + 12345, "ended": False,
                                      "updated_at": time.time(), "entries": [entry]}))
        outcome = run_cli(["recover"])
    assert_one_line(outcome, "could not undo", "Docker daemon", daemon.address)
    assert ledger_entries(state) == [ledger]  # the fault may still be in place: kept for later


@pytest.mark.parametrize("way", ["refuses", "garbage"])
@pytest.mark.parametrize("command", [["demo", "up", "--swarm", "--port-base", "28000"],
                                     ["demo", "down", "--swarm", "--stack", "uxchaos-matrix-none"]],
                         ids=["up", "down"])
def test_swarm_manager(command: list[str], way: str, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack commands reach the Swarm manager through the Docker API. A daemon that answers but is
    not a manager cannot be produced here (the one daemon is a manager, shared by every test)."""
    with bad_server(way, unix=True) as daemon:
        monkeypatch.setenv("DOCKER_HOST", daemon.address)
        assert_one_line(run_cli(command), "Docker daemon", daemon.address)


# -- browsers: a remote endpoint, and the local Chromium ---------------------------------------------
@pytest.mark.parametrize("way", REFUSE_OR_GARBAGE)
def test_browser_endpoint(way: str, site: str, tmp_path: Path, state: Path) -> None:
    with bad_server(way) as endpoint:
        path = write_scenario(tmp_path, site)
        outcome = run_cli(["run", str(path), "--out", str(tmp_path / "reports"),
                           "--browser-endpoint", f"ws://{endpoint.address}/"])
    assert_one_line(outcome, "browser endpoint", endpoint.address)


@pytest.mark.parametrize("executable", ["/nonexistent/chromium", "/bin/false"], ids=["missing", "not-a-browser"])
@pytest.mark.parametrize("command", ["run", "run-users", "doctor", "browser-serve"])
def test_local_browser(command: str, executable: str, site: str, tmp_path: Path, state: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_BROWSER", executable)
    path = write_scenario(tmp_path, site)
    if command == "doctor":
        assert_doctor_names(run_cli(["doctor", str(path)]), "browser", executable)
        return
    if command == "browser-serve":  # a process of its own: it runs its own event loop, as from a terminal
        marker = f"browser-serve-{os.getpid()}-{Path(executable).name}"
        done = subprocess.run([sys.executable, "-m", "uxchaos", "browser", "serve", "--port", "0"], text=True,
                              capture_output=True, timeout=60,
                              env={**os.environ, "UXCHAOS_MATRIX_CELL": marker})
        assert_one_line(Outcome(done.returncode, done.stdout, done.stderr), executable)
        assert with_marker(marker) == set()
        return
    argv = {"run": ["run", str(path), "--out", str(tmp_path / "r")],
            "run-users": ["run", str(path), "--out", str(tmp_path / "r"), "--users", "2"]}[command]
    assert_one_line(run_cli(argv), executable)


# -- the target app, with a real fault proxy in front of it: nothing may be injected --------------
@pytest.fixture
def proxy_in_front() -> Iterator[Callable[[str], tuple[ProxyHub, str, str]]]:
    """A real `proxy serve` (hub + control API) with proxy 'backend' in front of the given address."""
    made: list[tuple[ProxyHub, ControlServer]] = []

    def make(upstream: str) -> tuple[ProxyHub, str, str]:
        hub = ProxyHub()
        control = ControlServer(hub)
        made.append((hub, control))
        info = hub.create("backend", upstream)
        return hub, control.address, f"http://{info['listen']}"

    yield make
    for hub, control in made:
        control.close()
        hub.close()


@pytest.mark.parametrize("way", ["refuses", "garbage"])
@pytest.mark.parametrize("command", ["run", "doctor"])
def test_target_app(command: str, way: str, tmp_path: Path, state: Path,
                    proxy_in_front: Callable[[str], tuple[ProxyHub, str, str]]) -> None:
    """An app that answers a web page is an app; the ways an app can be missing are these two."""
    with bad_server(way) as app:
        hub, control, base_url = proxy_in_front(app.address)
        path = write_scenario(tmp_path, base_url, PROXY_FAULT, proxy_control=control)
        if command == "run":
            outcome = run_cli(["run", str(path), "--out", str(tmp_path / "reports")])
            assert_one_line(outcome, "target", base_url)
        else:
            assert_doctor_names(run_cli(["doctor", str(path)]), "target", base_url)
    assert [p["toxics"] for p in hub.list()] == [[]]  # nothing was injected
    assert ledger_entries(state) == []


# -- the state folder: read-only, full ----------------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(folder: Path, read_only: bool) -> Iterator[Path]:
    """A real file system that refuses writes: a tmpfs mounted read-only, or one filled to the last
    byte. Mounting needs root; elsewhere the cell is skipped with the reason (a chmod would not do:
    root ignores permissions, and a full disk cannot be had without a file system of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'}): a read-only or "
                    "full state folder cannot be produced")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "full"])
@pytest.mark.parametrize("command", ["run", "demo-up"])
def test_state_folder(command: str, read_only: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      proxy_in_front: Callable[[str], tuple[ProxyHub, str, str]], site: str) -> None:
    before = _children(os.getpid())
    with small_filesystem(tmp_path / "state", read_only) as folder:
        monkeypatch.setenv("UXCHAOS_STATE_DIR", str(folder))
        if command == "run":
            hub, control, base_url = proxy_in_front(site.removeprefix("http://"))
            path = write_scenario(tmp_path, base_url, PROXY_FAULT, proxy_control=control)
            outcome = run_cli(["run", str(path), "--out", str(tmp_path / "reports")])
            assert [p["toxics"] for p in hub.list()] == [[]]  # nothing was injected
        else:
            outcome = run_cli(["demo", "up"])
        assert_one_line(outcome, "state folder", str(folder), "UXCHAOS_STATE_DIR")
    assert _children(os.getpid()) - before == set()


def test_recover_with_a_read_only_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The undo works, but the ledger cannot be rewritten: said, exit 3."""
    folder = tmp_path / "state"
    with small_filesystem(folder, read_only=False) as mounted:
        (mounted / "filler").unlink()
        with bad_server("refuses") as control:
            _proxy_ledger(mounted, control.url)
            subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
            monkeypatch.setenv("UXCHAOS_STATE_DIR", str(mounted))
            outcome = run_cli(["recover"])
    assert_one_line(outcome, "state folder", str(mounted))
    assert f"proxy control {control.url} is gone" in outcome.out  # the undo itself was done and said


# -- the database behind the demo -----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "demo-up"])
def test_database_behind_the_demo(command: str, tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's PostgreSQL cannot make its data folder: the template it copies from lives in the
    user's cache folder, here on a read-only file system. (A database that starts and then fails is
    what the scenarios measure — `kind: down` on the database proxy — not a broken set-up.)"""
    with small_filesystem(tmp_path / "cache", read_only=True) as cache:
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
        argv = ["run", "login-under-db-delay", "--out", str(tmp_path / "r")] if command == "run" else ["demo", "up"]
        assert_one_line(run_cli(argv), "demo target did not start", str(cache))
    assert ledger_entries(state) == []
    assert not (state / "demo.json").exists()


def test_demo_down_with_a_read_only_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo that died left its state file; the folder has become read-only since: said, exit 3."""
    with small_filesystem(tmp_path / "state", read_only=False) as mounted:
        (mounted / "filler").unlink()
        (mounted / "demo.json").write_text(json.dumps({"pid": 2 ** 22 + 12345, "base_url": "http://127.0.0.1:9"}))
        subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
        monkeypatch.setenv("UXCHAOS_STATE_DIR", str(mounted))
        assert_one_line(run_cli(["demo", "down"]), "state folder", str(mounted))


# -- run folders: report and compare -----------------------------------------------------------------
def _run_folder(folder: Path) -> Path:
    """A minimal run folder, as `uxchaos run` leaves one."""
    folder.mkdir(parents=True)
    t = time.time()
    sample = {"type": "sample", "phase": "before", "attempt": 1, "started_at": t, "ended_at": t + 1,
              "duration_s": 1.0, "ok": True, "actions": [{"name": "Open", "duration_s": 1.0, "ok": True}]}
    (folder / "results.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"type": "run_start", "time": t, "scenario": "matrix"}, sample, {"type": "run_end", "time": t + 2}))
        + "\n")
    (folder / "run.json").write_text(json.dumps({"status": "completed", "scenario": {"name": "matrix"},
                                                 "fault_timeline": []}))
    return folder


@pytest.mark.parametrize("command", ["report", "compare"])
def test_run_folder_on_a_full_disk(command: str, tmp_path: Path, state: Path) -> None:
    with small_filesystem(tmp_path / "disk", read_only=False) as disk:
        (disk / "filler").unlink()
        run = _run_folder(disk / "run")
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        if command == "report":
            outcome = run_cli(["report", str(run)])
        else:
            outcome = run_cli(["compare", str(run), str(run), "--html", str(disk / "compare.html")])
        assert_one_line(outcome, "cannot write", str(disk))


@pytest.mark.parametrize("command", ["report", "compare"])
def test_run_folder_with_garbage_results(command: str, tmp_path: Path, state: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    argv = ["report", str(run)] if command == "report" else ["compare", str(run), str(run)]
    assert_one_line(run_cli(argv), str(run), code=2)


# -- proxy serve: the addresses it must listen on -----------------------------------------------------
@pytest.mark.parametrize("option", ["--control", "--proxy"])
def test_proxy_serve_on_a_taken_address(option: str, state: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    address = f"127.0.0.1:{taken.getsockname()[1]}"
    try:
        argv = (["proxy", "serve", "--control", address] if option == "--control" else
                ["proxy", "serve", "--control", "127.0.0.1:0", "--proxy", f"db=127.0.0.1:9,listen={address}"])
        assert_one_line(run_cli(argv), option, address, "in use")
    finally:
        taken.close()


@pytest.mark.browser
def test_browser_serve_on_a_taken_port(state: Path) -> None:
    """A process of its own, like the other browser-serve cells (it runs its own event loop)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    marker = f"browser-serve-port-{os.getpid()}"
    try:
        done = subprocess.run([sys.executable, "-m", "uxchaos", "browser", "serve", "--port", str(port)], text=True,
                              capture_output=True, timeout=60, env={**os.environ, "UXCHAOS_MATRIX_CELL": marker})
    finally:
        taken.close()
    assert_one_line(Outcome(done.returncode, done.stdout, done.stderr), f"127.0.0.1:{port}", "in use")
    assert with_marker(marker) == set()


# -- the Pumba image (it cannot be pulled here: missing is its real state on this machine) ------------
@pytest.mark.docker
def test_pumba_image_missing(site: str, tmp_path: Path, state: Path) -> None:
    docker = pytest.importorskip("docker")
    from dockerutil import BUSYBOX, TEST_LABEL, ensure_images

    from uxchaos.faults.dockerapi import docker_client

    client = docker_client()
    ensure_images(client)
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get("gaiaadm/pumba:latest")
        pytest.skip("a gaiaadm/pumba image is present here")
    target = client.containers.run(BUSYBOX, ["sleep", "120"], name=f"uxc-matrix-{os.getpid()}", detach=True,
                                   network_mode="host", labels=TEST_LABEL)
    try:
        fault = {"driver": "pumba", "kind": "pause", "target": target.name,
                 "params": {"image": "gaiaadm/pumba:latest", "runner": "image"}}
        path = write_scenario(tmp_path, site, fault)
        assert_one_line(run_cli(["run", str(path), "--out", str(tmp_path / "r")]), "gaiaadm/pumba:latest")
        assert_doctor_names(run_cli(["doctor", str(path)]), "gaiaadm/pumba:latest")
        assert client.containers.list(all=True, filters={"label": "uxchaos.role=pumba"}) == []
        assert client.containers.get(target.id).status == "running"  # never paused
    finally:
        target.remove(force=True)
    assert ledger_entries(state) == []


# -- the cells that wait out a time-out: real processes, all started at once ---------------------------
@dataclass
class HangCell:
    argv: list[str]
    words: list[str]
    env: dict[str, str] = field(default_factory=dict)
    doctor: bool = False
    keeps_ledger: bool = False
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    took: float | None = None  # seconds from start to exit, set by the cell's waiter thread
    out: str = ""
    err: str = ""
    waiter: threading.Thread | None = None

    def wait(self) -> None:
        assert self.proc is not None
        self.out, self.err = self.proc.communicate(timeout=120)
        self.took = time.monotonic() - self.started


def _hang_cells(folder: Path, site: str, server: Callable[..., BadServer]) -> dict[str, HangCell]:
    control, toxiproxy, recover, endpoint, app = (server() for _ in range(5))
    daemon, manager = server(unix=True), server(unix=True)
    _proxy_ledger(folder / "recover-state", recover.url)
    return {
        "proxy-control-run": HangCell(
            ["run", str(write_scenario(folder / "a", site, PROXY_FAULT, control.url)), "--out", str(folder / "r")],
            ["proxy control API", control.address, "timed out"]),
        "toxiproxy-doctor": HangCell(
            ["doctor", str(write_scenario(folder / "b", site, TOXIPROXY_FAULT, toxiproxy.url))],
            ["proxy control API", toxiproxy.address], doctor=True),
        "proxy-control-recover": HangCell(["recover"], ["could not undo", recover.address, "timed out"],
                                          env={"UXCHAOS_STATE_DIR": str(folder / "recover-state")},
                                          keeps_ledger=True),
        "docker-doctor": HangCell(["doctor", str(write_scenario(folder / "c", site, DOCKER_FAULT))],
                                  ["Docker daemon", daemon.address, "timed out"], env={"DOCKER_HOST": daemon.address},
                                  doctor=True),
        "swarm-demo-up": HangCell(["demo", "up", "--swarm", "--port-base", "28000"],
                                  ["Docker daemon", manager.address, "timed out"],
                                  env={"DOCKER_HOST": manager.address}),
        "browser-endpoint-run": HangCell(
            ["run", str(write_scenario(folder / "d", site)), "--out", str(folder / "r"),
             "--browser-endpoint", f"ws://{endpoint.address}/"], ["browser endpoint", endpoint.address]),
        "target-app-run": HangCell(["run", str(write_scenario(folder / "e", f"http://{app.address}")), "--out",
                                    str(folder / "r")], ["target", app.address, "timed out"]),
    }


@pytest.fixture(scope="module", autouse=True)
def hang_cells(tmp_path_factory: pytest.TempPathFactory, site: str) -> Iterator[dict[str, HangCell]]:
    folder = tmp_path_factory.mktemp("hangs")
    servers: list[BadServer] = []

    def server(unix: bool = False) -> BadServer:
        servers.append(BadServer("hangs", unix))
        return servers[-1]

    cells = _hang_cells(folder, site, server)
    for name, cell in cells.items():
        env = {**os.environ, "UXCHAOS_STATE_DIR": str(folder / f"state-{name}"), **cell.env,
               "UXCHAOS_MATRIX_CELL": name}
        cell.started = time.monotonic()
        cell.proc = subprocess.Popen([sys.executable, "-m", "uxchaos", *cell.argv], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        HANG_PIDS.add(cell.proc.pid)
        cell.waiter = threading.Thread(target=cell.wait, daemon=True)
        cell.waiter.start()
    yield cells
    for cell in cells.values():
        if cell.proc is not None and cell.proc.poll() is None:
            cell.proc.kill()
        if cell.waiter is not None:
            cell.waiter.join(10)
    for s in servers:
        s.close()


@pytest.mark.parametrize("name", ["proxy-control-run", "toxiproxy-doctor", "proxy-control-recover", "docker-doctor",
                                  "swarm-demo-up", "browser-endpoint-run", "target-app-run"])
def test_a_dependency_that_never_answers(name: str, hang_cells: dict[str, HangCell]) -> None:
    """Accepts the connection and says nothing: the command ends within its time-out, saying so."""
    cell = hang_cells[name]
    assert cell.proc is not None and cell.waiter is not None
    cell.waiter.join(130)
    took = cell.took
    assert took is not None, f"{name} still running"
    outcome = Outcome(cell.proc.returncode, cell.out, cell.err)
    if cell.doctor:
        assert_doctor_names(outcome, *cell.words)
    else:
        assert_one_line(outcome, *cell.words)
    assert took < 60, f"{name} took {took:.0f}s"
    assert with_marker(name) == set(), "a process it started is still running"
    state_dir = Path(cell.env.get("UXCHAOS_STATE_DIR") or "")
    if cell.keeps_ledger:
        assert len(ledger_entries(state_dir)) == 1  # the fault may still be in place: kept for later

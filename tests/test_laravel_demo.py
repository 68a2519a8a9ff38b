"""The real Laravel demo (uxchaos/demo/laravel): Debian's php-laravel-framework on PHP's built-in
server, MariaDB behind uxchaos's fault proxy, `php artisan queue:work` supervised. Everything here is
real: PHP, MariaDB, the proxy, and Chromium in the end-to-end run."""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from uxchaos.cli import main
from uxchaos.demo.db import DemoStartError
from uxchaos.demo.laravel_stack import LaravelStack
from uxchaos.demo.mariadb import cache_dir
from uxchaos.demo.stack import DemoInfo
from uxchaos.errors import EnvironmentProblem
from uxchaos.run.target import check_app_healthy
from uxchaos.util.netutil import wait_until

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def stack() -> Iterator[LaravelStack]:
    s = LaravelStack()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def info(stack: LaravelStack) -> Iterator[DemoInfo]:
    assert stack.info is not None
    yield stack.info
    stack.hub.reset()


def round_trips(stack: LaravelStack) -> int:
    return int(stack.hub.describe("database")["round_trips"])


def http_login(base_url: str, email: str, password: str) -> tuple[float, int, str]:
    """GET the form, POST it with its CSRF token and the session cookie, follow the redirect."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    started = time.perf_counter()
    form = opener.open(base_url + "/login", timeout=120).read().decode()
    token = re.search(r'name="_token" value="([^"]+)"', form)
    assert token, form[:500]
    data = urllib.parse.urlencode({"_token": token.group(1), "email": email, "password": password}).encode()
    try:
        resp = opener.open(base_url + "/login", data, timeout=120)
        status, body = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    return time.perf_counter() - started, status, body


def test_login_through_both_proxies_reaches_the_dashboard(stack: LaravelStack, info: DemoInfo) -> None:
    before = round_trips(stack)
    _, status, body = http_login(info.base_url, info.email, info.password)
    assert status == 200 and "Welcome, Demo User" in body
    # Laravel's session handler, user provider and queue all went through the database proxy.
    assert round_trips(stack) - before >= 10


def test_wrong_password_and_missing_csrf_token_are_refused(info: DemoInfo) -> None:
    _, status, body = http_login(info.base_url, info.email, "wrong")
    assert status == 200 and "These credentials do not match our records." in body  # redirected back to the form
    data = urllib.parse.urlencode({"email": info.email, "password": info.password}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(info.base_url + "/login", data, timeout=30)
    assert refused.value.code == 419  # Laravel's VerifyCsrfToken: "Page Expired"


def test_the_login_job_is_processed_by_the_supervised_queue_worker(stack: LaravelStack, info: DemoInfo) -> None:
    assert stack.supervisor is not None and stack.supervisor.pid
    old_pid = stack.supervisor.pid
    os.kill(old_pid, signal.SIGKILL)  # the worker dies; the supervisor starts another (Swarm's restart, locally)
    wait_until(lambda: stack.supervisor is not None and bool(stack.supervisor.exits)
               and stack.supervisor.exits[-1].new_pid is not None, 20, "the worker's restart")
    new_pid = stack.supervisor.pid
    assert new_pid != old_pid
    http_login(info.base_url, info.email, info.password)

    def recorded_by_new_worker() -> bool:
        last = stack.db.sql("SELECT worker_pid FROM laravel.logins ORDER BY id DESC LIMIT 1").strip()
        return last == str(new_pid)

    wait_until(recorded_by_new_worker, 30, "the login recorded by the new queue worker", interval_s=0.3)
    health = json.loads(urllib.request.urlopen(info.base_url + "/health", timeout=30).read())
    assert health["status"] == "ok" and health["database"] == "ok"


def test_a_database_delay_slows_every_turn_of_a_laravel_login(stack: LaravelStack, info: DemoInfo) -> None:
    base = min(http_login(info.base_url, info.email, info.password)[0] for _ in range(2))
    stack.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": "100ms"}})
    before = round_trips(stack)
    slow, status, body = http_login(info.base_url, info.email, info.password)
    turns = round_trips(stack) - before
    stack.hub.reset()
    assert status == 200 and "Welcome" in body
    # Each turn waits 100 ms; the worker's polls share the proxy, so not every counted turn is the login's.
    assert slow - base > 0.1 * 15, (slow, base, turns)
    assert turns >= 15


def test_missing_sessions_table_is_caught_before_any_fault(stack: LaravelStack, info: DemoInfo,
                                                           tmp_path: Path) -> None:
    """The report's problem 3: `Base table or view not found: 1146 Table 'laravel.sessions' doesn't exist`."""
    stack.db.sql("DROP TABLE laravel.sessions")
    try:
        with pytest.raises(EnvironmentProblem) as caught:
            check_app_healthy(info.base_url + "/login")
        assert "no table `laravel.sessions`" in str(caught.value)
        assert "php artisan migrate" in str(caught.value)
        scenario = tmp_path / "s.yaml"
        scenario.write_text((ROOT / "scenarios/laravel-login-under-db-delay.yaml").read_text()
                            .replace("base_url: demo", f"base_url: {info.base_url}").replace("  app: laravel", "")
                            .replace("target:\n", f"target:\n  proxy_control: {control_of(stack)}\n"))
        out, err = io.StringIO(), io.StringIO()
        code = main(["run", str(scenario), "--out", str(tmp_path / "reports")], out, err)
        assert code == 3, err.getvalue()
        assert "php artisan migrate" in err.getvalue() and "laravel.sessions" in err.getvalue()
        assert stack.hub.describe("database")["toxics"] == []  # nothing was injected
    finally:
        stack.artisan("migrate:fresh", "--force", "--seed")
    assert http_login(info.base_url, info.email, info.password)[1] == 200


_controls: dict[int, str] = {}


def control_of(stack: LaravelStack) -> str:
    """A Toxiproxy-style control API for the stack's proxies (what `demo up` prints)."""
    from uxchaos.proxy.control import ControlServer

    if id(stack) not in _controls:
        _controls[id(stack)] = ControlServer(stack.hub).address
    return _controls[id(stack)]


def leftovers() -> list[str]:
    """Laravel demo processes and folders of this test's runs still there."""
    return subprocess.run(["pgrep", "-af", f"mariadbd .*{cache_dir()}|php -S 127.0.0.1"], capture_output=True,
                          text=True).stdout.splitlines()


def test_mariadb_refusing_to_start_says_so_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    before_dirs = set(cache_dir().glob("mariadb-*")) | set(cache_dir().glob("laravel-*"))
    before_procs = set(leftovers())
    monkeypatch.setenv("UXCHAOS_MARIADBD", "/bin/false")
    with pytest.raises(DemoStartError, match=r"^MariaDB did not start \(exit 1\)"):
        LaravelStack().start()
    assert set(cache_dir().glob("mariadb-*")) | set(cache_dir().glob("laravel-*")) == before_dirs
    assert set(leftovers()) <= before_procs


def demo_cli(args: list[str], state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uxchaos", "demo", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "UXCHAOS_STATE_DIR": str(state), **env})


def test_demo_up_without_php_laravel_or_mariadb_or_with_a_taken_port_is_one_line_and_exit_3(tmp_path: Path) -> None:
    no_php = demo_cli(["up", "--app", "laravel"], tmp_path, UXCHAOS_PHP="/nonexistent/php")
    assert no_php.returncode == 3
    assert no_php.stderr.strip() == "uxchaos: PHP is missing (/nonexistent/php not found): install Debian's php-cli " \
                                    "(PHP 8.2)"
    php_alone = tmp_path / "php"  # PHP whose include_path lacks /usr/share/php: Laravel is not found
    php_alone.write_text(f"#!/bin/sh\nexec {shutil.which('php')} -d include_path=. \"$@\"\n")
    php_alone.chmod(0o755)
    no_laravel = demo_cli(["up", "--app", "laravel"], tmp_path, UXCHAOS_PHP=str(php_alone))
    assert no_laravel.returncode == 3
    assert no_laravel.stderr.strip() == ("uxchaos: Laravel is missing (no Illuminate/autoload.php on PHP's "
                                         "include_path): install Debian's php-laravel-framework")
    running_before = set(leftovers())
    no_db = demo_cli(["up", "--app", "laravel"], tmp_path, UXCHAOS_MARIADBD="/bin/false")
    assert no_db.returncode == 3
    assert no_db.stderr.startswith("uxchaos: the Laravel demo target did not start: MariaDB did not start (exit 1)")
    assert len(no_db.stderr.strip().splitlines()) == 1
    assert set(leftovers()) <= running_before
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = demo_cli(["up", "--app", "laravel", "--port", str(port)], tmp_path)
    assert busy.returncode == 3
    assert busy.stderr.strip().startswith(f"uxchaos: port {port} on 127.0.0.1 is taken")
    assert len(busy.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "demo.json").exists()


def test_demo_up_serves_the_laravel_login_and_down_stops_it(tmp_path: Path) -> None:
    up = demo_cli(["up", "--app", "laravel"], tmp_path)
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "demo.json").read_text())
    try:
        assert state["app"] == "laravel" and set(state["proxies"]) == {"backend", "database"}
        assert "Laravel 8" in up.stdout and state["control"] in up.stdout
        _, status, body = http_login(state["base_url"], state["email"], "demo-password")
        assert status == 200 and "Welcome, Demo User" in body
        proxies = json.loads(urllib.request.urlopen(state["control"] + "/proxies", timeout=30).read())
        assert proxies["database"]["round_trips"] > 0  # the app's database link goes through the proxy
    finally:
        down = demo_cli(["down"], tmp_path)
    assert down.returncode == 0, down.stderr
    with pytest.raises(OSError):
        urllib.request.urlopen(state["base_url"] + "/health", timeout=5)
    with pytest.raises(OSError):
        urllib.request.urlopen(state["app_url"] + "/health", timeout=5)


@pytest.mark.browser
@pytest.mark.slow
def test_shipped_scenario_runs_the_login_in_chromium_against_laravel_under_a_database_delay(tmp_path: Path) -> None:
    """The shipped scenario end to end (its own Laravel stack, Chromium, the proxy's delay), at 150 ms
    rather than 2000 ms so that it takes a minute; the tables are written."""
    running_before = set(leftovers())
    scenario = tmp_path / "laravel-login-under-db-delay.yaml"
    scenario.write_text((ROOT / "scenarios/laravel-login-under-db-delay.yaml").read_text()
                        .replace("delay: 2000ms", "delay: 150ms"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(scenario), "--attempts", "2", "--out", str(tmp_path / "reports"), "--trace", "off"],
                out, err)
    assert code == 0, err.getvalue()[-3000:]
    (run_dir,) = (tmp_path / "reports" / "laravel-login-under-db-delay").iterdir()
    report = (run_dir / "report.md").read_text()
    assert "| Logging in | 1 |" in report and "| Opening the login page | 2 |" in report
    summary = json.loads((run_dir / "summary.json").read_text())
    median = {(a["action"], a["phase"]): a["median"] for a in summary["actions"]}
    assert all(a["failures"] == 0 for a in summary["actions"])
    # A Laravel login makes dozens of database turns; at 150 ms each it is seconds slower, not 150 ms.
    assert median["Logging in", "during"] - median["Logging in", "before"] > 1.5
    assert median["Logging in", "after"] < median["Logging in", "during"] / 2
    assert "requested 150 ms" in err.getvalue()  # the effect was verified through the proxy
    # The proxy counted Laravel's database turns per action (session, user provider, queue, dashboard).
    assert re.search(r"Logging in: [\d.]+ database turns × 0\.150 s", report), report
    login = next(t for t in summary["service_turns"] if t["action"] == "Logging in" and t["service"] == "database")
    assert login["turns"]["before"] >= 20, login
    # The queue worker's polling (its own connection) is left out: the journey's turns do not depend
    # on the phase, and the delay does not explain more than the slowdown it measured.
    assert abs(login["turns"]["during"] - login["turns"]["before"]) <= 2, login
    assert abs(login["turns"]["after"] - login["turns"]["before"]) <= 2, login
    assert login["explained_s"] < login["slowdown_s"] * 1.3, login
    assert set(leftovers()) <= running_before  # the run's own stack is gone


def test_target_app_is_validated(tmp_path: Path) -> None:
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.model import ScenarioError

    text = (ROOT / "scenarios/laravel-login-under-db-delay.yaml").read_text()
    assert load_scenario(ROOT / "scenarios/laravel-login-under-db-delay.yaml").target.app == "laravel"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("app: laravel", "app: rails"))
    with pytest.raises(ScenarioError, match=r"bad.yaml:9: target.app: must be one of python, laravel, got 'rails'"):
        load_scenario(bad)
    bad.write_text(text.replace("base_url: demo", "base_url: http://127.0.0.1:9"))
    with pytest.raises(ScenarioError, match=r"target.app: only with base_url: demo"):
        load_scenario(bad)


def test_nothing_keeps_running_when_the_owner_is_killed(tmp_path: Path) -> None:
    """PHP's server forks workers that ignore their parent's end: uxchaos dying, even by SIGKILL,
    still stops them, MariaDB and the queue worker (the ledger then removes the folders)."""
    code = ("import json, time\nfrom uxchaos.demo.laravel_stack import LaravelStack\ns = LaravelStack()\n"
            "s.start()\nprint(json.dumps(s.ledger_entry()), flush=True)\ntime.sleep(300)\n")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        entry = json.loads(owner.stdout.readline())  # type: ignore[union-attr]
    finally:
        owner.kill()
        owner.wait()
    assert len(entry["pids"]) >= 1 + 1 + 4 + 1 + 1  # shell, PHP, its workers, MariaDB, queue worker

    def all_gone() -> bool:
        return not [pid for pid in entry["pids"] if os.path.exists(f"/proc/{pid}")
                    and Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"]

    wait_until(all_gone, 30, "every process of the killed owner's stack gone", interval_s=0.2)
    from uxchaos.faults.ledger import undo_entry

    undo_entry(entry)
    assert not any(Path(p).exists() for p in entry["paths"])


def test_demo_options_that_do_not_go_together_are_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert main(["demo", "up", "--port", "8000"], out, err) == 2
    assert err.getvalue() == "uxchaos: --port is for --app laravel (the Python demo takes any free port)\n"
    err = io.StringIO()
    assert main(["demo", "up", "--swarm", "--port", "8000"], out, err) == 2
    assert err.getvalue() == ("uxchaos: --port is for the local demo; with --swarm the stack's ports start "
                              "at --port-base\n")
    assert not (tmp_path / "demo.json").exists()


@pytest.mark.browser
def test_doctor_checks_what_the_laravel_demo_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    assert main(["doctor", "laravel-login-under-db-delay"], out, io.StringIO()) == 0
    assert "✓ Laravel demo: " in out.getvalue() and "mariadbd" in out.getvalue()
    monkeypatch.setenv("UXCHAOS_MARIADBD", "/nonexistent/mariadbd")
    out = io.StringIO()
    assert main(["doctor", "laravel-login-under-db-delay"], out, io.StringIO()) == 3
    assert "✗ Laravel demo: MariaDB is missing (/nonexistent/mariadbd not found): install Debian's mariadb-server" \
        in out.getvalue()

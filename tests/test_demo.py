"""The demo target for real: PostgreSQL, the Starlette app under uvicorn, the supervised worker."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.demo.stack import DemoInfo, DemoStack
from uxchaos.util.netutil import wait_until


def http_login(info: DemoInfo, password: str | None = None) -> tuple[float, int, str]:
    """Log in like a browser without JS would: GET the form, POST it, follow the redirect."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    t = time.perf_counter()
    form = opener.open(info.base_url + "/login", timeout=60).read().decode()
    token = re.search(r"name='_token' value='([^']+)'", form).group(1)  # type: ignore[union-attr]
    data = urllib.parse.urlencode({"_token": token, "email": info.email,
                                   "password": password or info.password}).encode()
    try:
        resp = opener.open(info.base_url + "/login", data, timeout=60)
        status, body = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    return time.perf_counter() - t, status, body


def test_login_over_http(demo: DemoInfo) -> None:
    _, status, body = http_login(demo)
    assert status == 200
    assert "Welcome, Demo User" in body


def test_wrong_password_shows_the_form_again(demo: DemoInfo) -> None:
    _, status, body = http_login(demo, password="wrong")
    assert status == 422
    assert "These credentials do not match our records." in body
    assert "id='password'" in body


def test_post_without_csrf_token_is_refused(demo: DemoInfo) -> None:
    data = urllib.parse.urlencode({"email": demo.email, "password": demo.password}).encode()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(demo.base_url + "/login", data, timeout=10)
    assert err.value.code == 419


def test_dashboard_requires_a_session(demo: DemoInfo) -> None:
    resp = urllib.request.urlopen(demo.base_url + "/dashboard", timeout=10)
    assert resp.url.endswith("/login")


def test_health_reports_database_and_worker(demo: DemoInfo) -> None:
    import json

    body = json.loads(urllib.request.urlopen(demo.base_url + "/health", timeout=10).read())
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["worker"]["pid"] > 0


@pytest.mark.timing
def test_database_delay_slows_login_by_several_round_trips(demo_stack: DemoStack, demo: DemoInfo) -> None:
    base = min(http_login(demo)[0] for _ in range(3))
    demo_stack.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": "500ms"}})
    slow, status, body = http_login(demo)
    demo_stack.hub.reset()
    assert status == 200 and "Welcome" in body
    assert slow - base >= 4 * 0.5, f"login took {slow:.2f}s with the delay, {base:.2f}s without"
    # fast again: far from the ≥ 2 s the delay added (the bound allows a loaded machine's scheduling)
    assert min(http_login(demo)[0] for _ in range(3)) <= max(1.5 * base, base + 0.25)


@pytest.mark.browser
def test_login_in_chromium(demo: DemoInfo) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(p), args=launch_args())
        page = browser.new_page()
        page.goto(demo.base_url + "/login")
        page.fill("#email", demo.email)
        page.fill("#password", demo.password)
        page.click("#login")
        page.wait_for_url("**/dashboard")
        assert "Welcome, Demo User" in page.inner_text("h1")
        browser.close()


def test_killed_worker_is_restarted_and_processes_the_next_job(demo_stack: DemoStack, demo: DemoInfo) -> None:
    supervisor = demo_stack.supervisor
    assert supervisor is not None
    old_pid = supervisor.pid
    exits_before = len(supervisor.exits)
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: len(supervisor.exits) > exits_before and supervisor.exits[-1].restarted_at is not None,
               15, "the worker restart")
    record = supervisor.exits[-1]
    assert record.pid == old_pid and record.returncode == -signal.SIGKILL
    assert record.new_pid != old_pid and record.restarted_at >= record.exited_at
    http_login(demo)  # enqueues a job
    with psycopg.connect(demo.database_dsn, autocommit=True) as conn:
        def processed_by_new_worker() -> bool:
            row = conn.execute("SELECT status, processed_by FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
            return row is not None and row[0] == "processed" and row[1] == record.new_pid

        wait_until(processed_by_new_worker, 15, "the job processed by the new worker")


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    children = [int(c) for c in out]
    return children + [d for c in children for d in descendants(c)]


def test_demo_up_status_down_leave_nothing_behind(tmp_path: Path) -> None:
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "uxchaos", "demo"]
    up = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert "demo@example.com" in up.stdout and "proxy control" in up.stdout
    import json

    state = json.loads((tmp_path / "demo.json").read_text())
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0 and "healthy" in status.stdout
    pids = [state["pid"], *descendants(state["pid"])]
    assert len(pids) >= 4  # serve, app, worker, postgres (and its helpers)
    down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / "demo.json").exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    after = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=30)
    assert after.returncode == 3 and "not running" in after.stdout


def test_databases_share_one_initdb_template_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo's database is a copy of a data directory made once by initdb (a start's largest cost).
    Two starts making the template at once from an empty cache get the same one and leave no
    half-made one beside it; databases started from it run and hold their own data; a later start
    uses the template as it is. (The race is run on the template alone: a postgres started from a
    thread would get its die-with-parent signal when that thread ends.)"""
    import threading

    from uxchaos.demo.db import PostgresServer, _run_as_user, _template_data_dir

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(_template_data_dir(_run_as_user()))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (template,) = (cache / "uxchaos").iterdir()
    assert made == [template, template] and template.name.startswith("pgdata-")
    assert (template / "PG_VERSION").is_file()
    made_at = template.stat().st_mtime_ns
    servers = [PostgresServer(), PostgresServer()]
    try:
        for i, server in enumerate(servers):
            server.start()
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                conn.execute(f"CREATE TABLE only_in_{i} (x int)")
        with psycopg.connect(servers[0].dsn, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('only_in_1')").fetchone() == (None,)
    finally:
        for server in servers:
            server.stop()
    assert template.stat().st_mtime_ns == made_at and list((cache / "uxchaos").iterdir()) == [template]


def test_single_page_part_serves_one_shell_and_a_json_api(demo: DemoInfo) -> None:
    """Every /spa route gets the same document (client-side routes survive a reload); the API calls
    behind the report view answer from the database."""
    import json

    shell = urllib.request.urlopen(demo.base_url + "/spa/report", timeout=10).read().decode()
    assert shell == urllib.request.urlopen(demo.base_url + "/spa", timeout=10).read().decode()
    assert "history.pushState" in shell and "Promise.all" in shell

    def api(path: str) -> dict[str, object]:
        return json.loads(urllib.request.urlopen(demo.base_url + path, timeout=10).read())

    me = api("/api/me")
    assert me["name"] == "Demo User"
    assert api(f"/api/users/{me['id']}")["email"] == demo.email
    assert api("/api/stats")["users"] == 1
    assert isinstance(api("/api/jobs")["jobs"], list) and isinstance(api("/api/audit")["events"], list)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(demo.base_url + "/api/users/999999", timeout=10)
    assert err.value.code == 404

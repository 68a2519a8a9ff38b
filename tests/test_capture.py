"""Requests per action (uxchaos/journey/capture.py): real Chromium against the real demo and loopback sites."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import http_site
from scenario_builder import scenario_yaml

from uxchaos.browser.session import BrowserSession
from uxchaos.demo.login import login_journey
from uxchaos.demo.stack import DemoInfo
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.capture import RequestCapture, Window, mask_url
from uxchaos.journey.plan import AttemptPlan
from uxchaos.results.records import Sample
from uxchaos.scenario.loading import parse_scenario
from uxchaos.scenario.python_ref import load_python_journey

LOGIN = scenario_yaml("capture", journey=login_journey(path="/login?token=abc123def456ghi789&page=2"), phases=None)

PY_JOURNEY = """
def login(page, step, vars):
    page.goto("/login")
    with step("Logging in"):
        page.fill("#email", vars["username"])
        page.fill("#password", vars["password"])
        page.click("#login")
        page.wait_for_url("**/dashboard")
"""


def test_mask_url_hides_secret_looking_query_values_and_userinfo() -> None:
    assert mask_url("http://h/p?token=x&page=2#frag") == "http://h/p?token=***&page=2"
    assert mask_url("http://h/p?q=AKIA1234567890ABCDEF") == "http://h/p?q=***"
    assert mask_url("http://h/p?q=hello%20world&n=12") == "http://h/p?q=hello+world&n=12"
    assert mask_url("http://bob:hunter2@h/p") == "http://bob:***@h/p"
    assert mask_url("http://h/p?api_key=") == "http://h/p?api_key="  # nothing to hide


def test_mask_url_keeps_plain_identifiers_but_not_secrets_named_as_such() -> None:
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    assert mask_url(f"http://h/o?order={uuid}&user_id=4242424242424242424") == (
        f"http://h/o?order={uuid}&user_id=4242424242424242424")
    assert mask_url("http://h/o?author=42&keyword=shoes") == "http://h/o?author=42&keyword=shoes"
    # a name that says secret wins over an id-like value; a long token is still a token
    assert mask_url(f"http://h/o?session={uuid}&reset_token=42") == "http://h/o?session=***&reset_token=***"
    assert mask_url("http://h/o?x=eyJhbGciOiJIUzI1NiJ9abc123") == "http://h/o?x=***"
    assert mask_url("http://h/o?x=5f2a9c0e1d5f2a9c0e1d5f2a9c0e1d12") == "http://h/o?x=***"  # hex: maybe a key


def _check_timings(record: dict[str, object]) -> None:
    for key in ("connect_ms", "wait_ms", "download_ms"):
        assert isinstance(record[key], float) and record[key] >= 0, record  # type: ignore[operator]
    assert record["duration_ms"] is not None
    parts = record["connect_ms"] + record["wait_ms"] + record["download_ms"]  # type: ignore[operator]
    assert parts <= record["duration_ms"] + 1, record  # type: ignore[operator]


@pytest.mark.browser
def test_yaml_and_python_journeys_record_each_actions_requests(demo: DemoInfo, tmp_path: Path) -> None:
    variables = {"username": demo.email, "password": demo.password}
    scenario = parse_scenario(LOGIN, "capture.yaml", env={})
    (tmp_path / "journey.py").write_text(PY_JOURNEY)
    journey = load_python_journey("journey.py:login", tmp_path)
    with BrowserSession() as session:
        yaml_sample = run_attempt(session,
            AttemptPlan("before", 1, scenario.journey, demo.base_url, variables, 30, tmp_path), lambda: False)
        py_sample = run_attempt(session,
            AttemptPlan("before", 1, [], demo.base_url, variables, 30, tmp_path, journey), lambda: False)
    assert yaml_sample.ok and py_sample.ok, (yaml_sample.failure, py_sample.failure)

    requests = yaml_sample.captured.requests
    assert requests is not None and yaml_sample.captured.requests_capped is None
    by_action = {(r["action"], r["method"], r["url"].split(demo.base_url)[-1]) : r for r in requests}
    opening = by_action[("Opening the login page", "GET", "/login?token=***&page=2")]
    assert opening["type"] == "document" and opening["status"] == 200
    post = by_action[("Logging in", "POST", "/login")]
    dashboard = by_action[("Logging in", "GET", "/dashboard")]
    assert post["status"] == 303 and dashboard["status"] == 200
    assert 0 <= post["start_ms"] < dashboard["start_ms"]
    login_s = next(a.duration_s for a in yaml_sample.actions if a.name == "Logging in")
    assert dashboard["start_ms"] < login_s * 1000 + 50  # inside the action's own span
    for r in requests:
        _check_timings(r)
        assert r["wait_ms"] > 0 and r["failure"] is None

    # Stored and read back with the sample; no typed secret in it.
    again = Sample.from_record(yaml_sample.to_record())
    assert again.captured.requests == requests
    later = Sample.from_record({**yaml_sample.to_record(), "from_a_later_version": 1})
    assert later.captured.requests == again.captured.requests
    assert demo.password not in str(yaml_sample.to_record())

    # The Python journey: the goto outside every step() is "(outside steps)", the login inside its block.
    assert py_sample.captured.requests is not None
    placed = {(r["action"], r["method"], r["url"].split(demo.base_url)[-1]) for r in py_sample.captured.requests}
    assert ("(outside steps)", "GET", "/login") in placed
    assert {("Logging in", "POST", "/login"), ("Logging in", "GET", "/dashboard")} <= placed

    # Web Vitals (journey/vitals.py) are placed the same way: a page counts for the action that loaded it.
    assert [(v["action"], v["url"].split(demo.base_url)[-1]) for v in yaml_sample.captured.vitals or []] == [
        ("Opening the login page", "/login?token=***&page=2"), ("Logging in", "/dashboard")]
    assert [(v["action"], v["url"].split(demo.base_url)[-1]) for v in py_sample.captured.vitals or []] == [
        ("(outside steps)", "/login"), ("Logging in", "/dashboard")]
    # The order of the paint metrics is test_vitals' job; here, where a page was left before the
    # browser reported its paints (seen once on a machine at load 20), only TTFB is sure to be there.
    for v in [*(yaml_sample.captured.vitals or []), *(py_sample.captured.vitals or [])]:
        assert v["ttfb"] > 0 and v["cls"] is not None, v
        painted = [m for m in (v["lcp"], v["fcp"]) if m is not None]
        assert painted == sorted(painted, reverse=True) and all(m >= v["ttfb"] for m in painted), v


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


@pytest.mark.browser
def test_failed_requests_carry_their_error_and_the_cap_says_how_many_were_left_out() -> None:
    import time

    dead = _closed_port()
    images = "".join(f'<img src="/img{i}.png">' for i in range(30))
    page_html = f'<html><body>{images}<img src="http://127.0.0.1:{dead}/gone.png"></body></html>'.encode()

    def respond(path: str) -> tuple[int, bytes]:
        return (200, page_html) if path == "/" else (404, b"")

    with http_site(respond) as url, BrowserSession() as session:
        context = session.new_context()
        try:
            capture = RequestCapture(context)
            page = context.new_page()
            t0 = time.time()
            page.goto(url + "/", wait_until="load")
            page.evaluate("0")
            window = Window("Opening", t0, time.time())
            time.sleep(0.2)
            page.evaluate("fetch('/after').then(r => r.text())")  # after the attempt: not the journey's
            page.wait_for_timeout(100)
            page.evaluate("0")  # its requestfinished event delivered
            full, dropped = capture.records([window], until=window.end)
            unbounded, _ = capture.records([window])
            capped, capped_dropped = capture.records([window], cap=10, until=window.end)
        finally:
            context.close()
    assert len(full) == 32 and dropped == {}  # the page, 30 images, the unreachable one
    assert [r["url"] for r in unbounded if r["url"].endswith("/after")] == [f"{url}/after"] and len(unbounded) == 33
    failed = [r for r in full if r["failure"]]
    assert len(failed) == 1 and f":{dead}/gone.png" in failed[0]["url"]
    assert "ERR_CONNECTION_REFUSED" in failed[0]["failure"] and failed[0]["status"] is None
    assert sum(1 for r in full if r["status"] == 404) == 30
    assert len(capped) == 10 and capped_dropped == {"Opening": 22}
    assert capped[0]["type"] == "document"  # start order: the page first

"""The demo's fixed capacity (uxchaos/demo/capacity.py): a real demo stack whose database pool holds
one connection, a real 300 ms database delay, and six concurrent requests — they queue for the
connection one after another, and those that wait longer than the pool's timeout get a 503."""

from __future__ import annotations

import concurrent.futures
import time
import urllib.error
import urllib.request

import pytest

from uxchaos.demo.stack import DemoStack


def timed_get(url: str) -> tuple[int, float, str]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, time.monotonic() - started, ""
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - started, e.read().decode(errors="replace")


def test_a_full_database_pool_makes_requests_queue_then_time_out(monkeypatch: pytest.MonkeyPatch,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UXCHAOS_DEMO_DB_POOL", "1")
    monkeypatch.setenv("UXCHAOS_DEMO_WORKERS", "6")
    monkeypatch.setenv("UXCHAOS_DEMO_POOL_TIMEOUT", "2.5")
    stack = DemoStack(worker=False)
    try:
        info = stack.start()
        stack.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": 300}})
        alone = min(timed_get(info.app_url + "/login")[1] for _ in range(2))
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: timed_get(info.app_url + "/login"), range(6)))
    finally:
        stack.stop()
    ok = sorted(t for code, t, _ in results if code == 200)
    refused = [(t, body) for code, t, body in results if code == 503]
    assert len(ok) + len(refused) == 6, results
    assert len(ok) >= 2 and ok[-1] > 1.8 * alone, (alone, results)  # one connection: they went one by one
    assert refused, results  # six one after another take longer than the 2.5 s a request waits
    assert all(t >= 2.3 and "no database connection free within 2.5s (pool of 1)" in body for t, body in refused)
    assert "uxchaos demo app: 6 server workers, a pool of 1 database connections" in capfd.readouterr().err


def test_the_server_workers_bound_how_many_requests_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool big enough for all, but one server worker: the requests still go one by one."""
    monkeypatch.setenv("UXCHAOS_DEMO_DB_POOL", "8")
    monkeypatch.setenv("UXCHAOS_DEMO_WORKERS", "1")
    stack = DemoStack(worker=False)
    try:
        info = stack.start()
        stack.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": 300}})
        alone = min(timed_get(info.app_url + "/login")[1] for _ in range(2))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: timed_get(info.app_url + "/login"), range(4)))
    finally:
        stack.stop()
    assert all(code == 200 for code, _, _ in results), results
    assert max(t for _, t, _ in results) > 2.5 * alone, (alone, results)

"""The spans in which an attempt waited for the server alone, and what the starvation bound counts there:
only the network service's wait (users/at_server.py, users/starvation.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenario_builder import proxy_fault, write_scenario
from test_run import only_run_dir, run_cli
from test_starvation import _monitor_with

from uxchaos.results.records import ActionTiming, Captured, Sample, StepTiming
from uxchaos.results.rundata import RunData
from uxchaos.users import processes
from uxchaos.users.at_server import covered_s, server_spans
from uxchaos.users.starvation import LoadMonitor, bound_sample


def request(action: str, start_ms: float, duration_ms: float | None, wait_ms: float = 0.0,
            download_ms: float = 0.0, kind: str = "document") -> dict[str, Any]:
    return {"action": action, "method": "GET", "url": "http://127.0.0.1/x", "type": kind, "status": 200,
            "start_ms": start_ms, "connect_ms": 0.0, "wait_ms": wait_ms, "download_ms": download_ms,
            "duration_ms": duration_ms, "failure": None}


def sample(requests: list[dict[str, Any]], capped: dict[str, int] | None = None) -> Sample:
    """Action "A" from epoch 100.0 to 101.0, action "B" from 101.0 to 102.0."""
    actions = [ActionTiming("A", 1.0, True, None, 100.0, 101.0), ActionTiming("B", 1.0, True, None, 101.0, 102.0)]
    return Sample("during", 1, 100.0, 102.0, 2.0, True, actions, [],
                  captured=Captured(requests=requests, requests_capped=capped))


def test_a_lone_request_is_at_the_server_from_its_request_start_to_its_response_start() -> None:
    # starts 10 ms into A; answered after 420 - 5 = 415 ms, of which the last 400 ms at the server
    spans = server_spans(sample([request("A", 10, 420, wait_ms=400, download_ms=5)]))
    assert spans == [pytest.approx((100.025, 100.425))]
    assert covered_s(spans, 100.0, 100.1) == pytest.approx(0.075)
    assert covered_s(spans, 100.5, 101.0) == 0.0
    # a fetch is no navigation: no step waits for it alone (the page may work on beside it)
    assert server_spans(sample([request("A", 10, 420, wait_ms=400, download_ms=5, kind="fetch")])) == []


def test_another_request_in_flight_takes_its_time_out_of_the_span() -> None:
    # B's document at the server from 101.03 to 101.28; a script of the page in flight 101.10-101.15 beside it
    document = request("B", 0, 300, wait_ms=250, download_ms=20)
    script = request("B", 100, 50, wait_ms=40, download_ms=5, kind="script")
    spans = server_spans(sample([document, script]))
    assert spans == [pytest.approx((101.03, 101.10)), pytest.approx((101.15, 101.28))]
    # a request never answered is in flight until the attempt's end: nothing after its start is alone
    hanging = request("A", 500, None)
    assert server_spans(sample([document, hanging])) == []


def test_an_attempt_whose_requests_are_not_all_known_has_no_span_at_the_server() -> None:
    lone = request("A", 10, 420, wait_ms=400, download_ms=5)
    assert server_spans(sample([lone], capped={"A": 3})) == []  # some were left out of the records
    assert server_spans(sample([lone, {**request("B", 0, 10), "start_ms": None}])) == []  # one without timing
    assert server_spans(sample([])) == []


def _monitor(per_s: dict[str, tuple[int, str]]) -> LoadMonitor:
    """Samples every 100 ms from epoch 100: each counter grows by its ms per second; the host is busy
    with other work throughout (two cores)."""
    return _monitor_with([(100 + t / 10, {p: int(t / 10 * ms * 1e6) for p, (ms, _) in per_s.items()})
                          for t in range(0, 40)], {p: role for p, (_, role) in per_s.items()})


def test_at_the_server_only_the_network_services_wait_counts() -> None:
    # per second of time: the journey thread waits 300 ms, the browser 400 ms, the network service 50 ms
    monitor = _monitor({"j": (300, "journey:1"), "b": (400, "browser"), "n": (50, "network")})
    assert monitor.wait_ms(101.0, 102.0, tid=1) == pytest.approx(750.0)
    # the whole second at the server: the network service's 50 ms alone
    assert monitor.wait_ms(101.0, 102.0, tid=1, server=[(100.5, 102.5)]) == pytest.approx(50.0)
    # 600 ms at the server, in whole sampling intervals: the other 400 ms count the chain's wait (75 ms
    # per 100), the 600 the network service's alone (5 per 100)
    assert monitor.wait_ms(101.0, 102.0, tid=1, server=[(101.2, 101.8)]) == pytest.approx(4 * 75 + 6 * 5)
    # 50 ms of one interval at the server: when in the interval the chain waited is not known, so the other
    # 50 ms hold up to 50 of its 75, and the network service's share of the 50 at the server comes on top
    assert monitor.wait_ms(101.0, 101.1, tid=1, server=[(101.05, 101.2)]) == pytest.approx(min(75, 50 + 5))
    # no network service process found: the answer may be read in the browser process, nothing is spared
    inside = _monitor({"j": (300, "journey:1"), "b": (400, "browser")})
    assert inside.wait_ms(101.0, 102.0, tid=1, server=[(100.5, 102.5)]) == pytest.approx(700.0)


def test_at_the_server_only_the_users_own_network_service_counts() -> None:
    # Two users, each with a Chromium of its own: user 1 (driver 10) waits for its document at the
    # server; user 2's network service (driver 11) waiting 300 ms a second is no part of that.
    monitor = _monitor({"j": (300, "journey:1"), "b": (400, "browser@10"), "n": (50, "network@10"),
                        "n2": (300, "network@11")})
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(processes.drivers, 1, 10)
        mp.setitem(processes.drivers, 2, 11)
        assert monitor.wait_ms(101.0, 102.0, tid=1, server=[(100.5, 102.5)]) == pytest.approx(50.0)


def test_only_a_step_that_waited_for_a_navigation_is_spared() -> None:
    monitor = _monitor({"j": (300, "journey:1"), "b": (400, "browser"), "n": (50, "network")})
    document = request("A", 100, 800, wait_ms=700, download_ms=0)  # at the server 100.2-100.9

    def bounded(navigation: dict[str, Any] | None) -> float | None:
        s = sample([document])
        s.steps = [StepTiming("A", 0, "click", "x", 1.0, True, navigation=navigation, at_s=0.0)]
        bound_sample(s, monitor, 1)
        return s.steps[0].bound_ms

    assert bounded(None) == pytest.approx(750.0)  # a step that did not wait for it: the whole wait
    assert bounded({"status": 200}) == pytest.approx(3 * 75 + 7 * 5)  # 300 ms away, 700 at the server


@pytest.mark.browser
def test_a_slow_database_puts_the_login_at_the_server_for_at_least_its_turns_times_the_delay(
        tmp_path: Path) -> None:
    path = write_scenario(tmp_path, "at-server", fault=proxy_fault(delay="300ms"), phases=(1, 2, 1))
    code, _, err = run_cli("run", str(path), "--out", str(tmp_path / "reports"))
    assert code == 0, err
    run = RunData.load(only_run_dir(tmp_path / "reports"))
    during = [s for s in run.samples if s.phase == "during" and s.ok]
    assert len(during) == 2
    for s in during:
        login = next(a for a in s.actions if a.name == "Logging in")
        assert login.started_at is not None and login.ended_at is not None
        spans = server_spans(s)
        at_server = covered_s(spans, login.started_at, login.ended_at)
        turns = (s.captured.service_turns or {}).get("database", {}).get("Logging in")
        assert turns, s.captured.service_turns
        # every database turn waits 300 ms in the proxy while the page's one request waits for the app
        assert at_server >= 0.9 * turns * 0.3, (at_server, turns, spans)
        click = next(st for st in s.steps if st.action == "Logging in" and st.kind == "click")
        assert click.at_s is not None
        began = s.started_at + click.at_s
        # the turns are the click's: it submits the form and waits for the dashboard
        assert covered_s(spans, began, began + click.duration_s) >= 0.9 * turns * 0.3, (click, spans)

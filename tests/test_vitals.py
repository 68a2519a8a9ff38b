"""Web Vitals per navigation (uxchaos/journey/vitals.py, uxchaos/analysis/vitals.py): real Chromium, the
real demo, and a loopback site whose CSP forbids inline scripts."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import http_site
from scenario_builder import DEMO_CREDENTIALS, scenario_yaml

from uxchaos.browser.session import BrowserSession
from uxchaos.cli import main
from uxchaos.demo.login import EMAIL, login_journey
from uxchaos.demo.stack import DemoInfo
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.capture import Window
from uxchaos.journey.plan import AttemptPlan
from uxchaos.journey.vitals import VitalsCapture
from uxchaos.results.rundata import RunData
from uxchaos.results.vitals import THRESHOLDS, rating
from uxchaos.scenario.loading import parse_scenario

_JOURNEY = login_journey(typing=True)
_JOURNEY[1]["steps"].insert(0, {"click": EMAIL})  # a click before typing: an interaction, for INP
SCENARIO = scenario_yaml("vitals", target={"base_url": "demo", "credentials": DEMO_CREDENTIALS}, journey=_JOURNEY,
                         phases=(1, 2, 1), expect=['during["Logging in"].lcp_p50 < 30s',
                                                   'during["Logging in"].ttfb_p50 > 0.1ms',
                                                   'before["Opening the login page"].fcp_p75 < 30s',
                                                   'during["Opening the login page"].cls_p50 <= 0.1'])


def test_ratings_follow_web_dev_thresholds() -> None:
    assert [rating("lcp", v) for v in (2500, 2501, 4000, 4001)] == ["good", "needs improvement",
                                                                      "needs improvement", "poor"]
    assert rating("cls", 0.1) == "good" and rating("cls", 0.2) == "needs improvement" and rating("cls", 0.3) == "poor"
    assert rating("inp", 199) == "good" and rating("inp", 501) == "poor"
    assert THRESHOLDS["ttfb"] == (800, 1800) and THRESHOLDS["fcp"] == (1800, 3000)


@pytest.mark.browser
def test_every_navigation_of_a_demo_run_has_scored_vitals(demo: DemoInfo, tmp_path: Path) -> None:
    scenario = tmp_path / "vitals.yaml"
    scenario.write_text(SCENARIO)
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(scenario), "--out", str(tmp_path / "reports"), "--base-url", demo.base_url,
                 "--trace", "slowest"], out, err)
    assert code == 0, (out.getvalue(), err.getvalue())
    (run_dir,) = [p for p in (tmp_path / "reports").glob("*/*") if p.is_dir()]
    run = RunData.load(run_dir)
    assert len(run.samples) == 4
    for sample in run.samples:
        assert sample.ok and sample.captured.vitals is not None, sample.failure
        navigations = [(st.action, st.navigation["url"]) for st in sample.steps if st.navigation]
        assert [a for a, _ in navigations] == ["Opening the login page", "Logging in"]
        pages = [(v["action"], v["url"]) for v in sample.captured.vitals]
        assert pages == navigations, sample.captured.vitals  # one record per navigation, in the right action
        for v in sample.captured.vitals:
            for metric in ("ttfb", "fcp", "lcp", "cls"):
                assert v[metric] is not None and v["rating"][metric] == rating(metric, v[metric]), v
            assert v["lcp"] >= v["fcp"] >= v["ttfb"] > 0, v
        login_page = sample.captured.vitals[0]
        # the clicks into the e-mail field and on the button are interactions on the login page; its INP is
        # the slower one's, counted for the action that made it
        assert login_page["inp"] is not None and login_page["inp_action"] in ("Typing the credentials", "Logging in")
        assert login_page["rating"]["inp"] == rating("inp", login_page["inp"])

    report = (run_dir / "report.md").read_text()
    assert "## Web Vitals" in report and "| Action | Phase | TTFB | FCP | LCP | CLS | INP |" in report
    assert "| Logging in | during |" in report and "could not be measured" not in report
    html = (run_dir / "report.html").read_text()
    assert "<h2>Web Vitals</h2>" in html and "<th class=\"n\">LCP</th>" in html
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["passed"], summary["expectations"]
    assert len(summary["expectations"]) == 4
    assert {r["action"] for r in summary["web_vitals"]} == {"Opening the login page", "Typing the credentials",
                                                             "Logging in"}
    assert "demo-password" not in (run_dir / "results.jsonl").read_text()
    # --trace slowest: every attempt was traced; what stays is each action's slowest during attempt
    kept = sorted(p.name for p in run_dir.glob("trace-*.zip"))
    assert kept and set(kept) <= {"trace-during-1.zip", "trace-during-2.zip"}, kept
    lines = [line for line in report.splitlines() if "slowest during attempt of" in line]
    assert "## Playwright traces" in report and len(lines) == len(kept) and "Logging in" in "".join(lines)


CSP_PAGE = (b"<html><head><title>start</title><script>document.title = 'inline ran'</script></head>"
            b"<body><h1>Locked down</h1><p>Some text to paint.</p><a id='next' href='/next'>next</a></body></html>")


@pytest.mark.browser
def test_a_csp_forbidding_inline_scripts_keeps_samples_and_vitals(tmp_path: Path) -> None:
    csp = {"Content-Security-Policy": "default-src 'none'; script-src 'none'; style-src 'none'"}

    def respond(path: str) -> tuple[int, bytes]:
        return 200, CSP_PAGE

    journey = parse_scenario("""name: csp
target: {base_url: "http://127.0.0.1:1"}
journey:
  - action: Opening
    steps:
      - goto: /
  - action: Following the link
    steps:
      - click: "#next"
      - expect_text: Locked down
""", "csp.yaml", env={}).journey
    with http_site(respond, headers=csp) as url, BrowserSession() as session:
        samples = [run_attempt(session, AttemptPlan("before", i, journey, url, {}, 10, tmp_path), lambda: False)
                   for i in (1, 2)]
        context = session.new_context()
        page = context.new_page()
        page.goto(url + "/")
        title = page.title()
        context.close()
    assert title == "start"  # the CSP is in force: the page's own inline script was refused
    for sample in samples:
        assert sample.ok, sample.failure
        vitals = sample.captured.vitals
        assert vitals is not None and [v["action"] for v in vitals] == ["Opening", "Following the link"]
        for v in vitals:
            assert "unavailable" not in v and v["ttfb"] is not None and v["fcp"] is not None, v


@pytest.mark.browser
def test_a_document_left_for_another_origin_keeps_its_vitals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sessionStorage cannot hand a document's values to another origin: they come from the read
    between actions, which after a navigating last step shares its round trip with the Navigation
    Timing read. Two loopback sites on two ports are two origins."""
    reads: list[bool] = []  # VitalsCapture.read calls, by `painted`
    plain_read = VitalsCapture.read

    def counted(self: VitalsCapture, page: Any, painted: bool = False) -> None:
        reads.append(painted)
        plain_read(self, page, painted)

    monkeypatch.setattr(VitalsCapture, "read", counted)
    page = b"<html><body><h1>Here</h1><p>Some text to paint.</p></body></html>"
    with http_site(lambda path: (200, page)) as first, http_site(lambda path: (200, page)) as second, \
            BrowserSession() as session:
        journey = parse_scenario(f"""name: origins
target: {{base_url: "{first}"}}
journey:
  - action: Opening the first site
    steps:
      - goto: /one
  - action: Going to the second site
    steps:
      - goto: "{second}/two"
      - expect_text: Here
""", "origins.yaml", env={}).journey
        sample = run_attempt(session, AttemptPlan("before", 1, journey, first, {}, 10, tmp_path), lambda: False)
    assert sample.ok, sample.failure
    assert sample.captured.vitals is not None
    by_url = {v["url"]: v for v in sample.captured.vitals}
    assert set(by_url) == {f"{first}/one", f"{second}/two"}, sample.captured.vitals
    left = by_url[f"{first}/one"]
    assert left["action"] == "Opening the first site" and "unavailable" not in left, left
    assert left["ttfb"] is not None and left["ttfb"] > 0, left
    assert [st.navigation["timing_ms"]["ttfb"] > 0 for st in sample.steps if st.navigation] == [True, True]
    assert reads == [True]  # the first document was read with its Navigation Timing, not on its own


@pytest.mark.browser
def test_the_last_read_waits_for_a_paint_the_journey_did_not_wait_for(tmp_path: Path) -> None:
    """A journey's last step can return before the browser paints what it changed: the read after the
    attempt waits until the document has reported that paint (two frames alone were not enough).
    Here the page is blank until the last step writes text into it."""
    blank = b"<html><body></body></html>"
    with http_site(lambda path: (200, blank)) as url, BrowserSession() as session:
        assert session.browser is not None
        found = []
        for _ in range(4):
            context = session.browser.new_context()
            vitals = VitalsCapture(context)
            page = context.new_page()
            t0 = time.time()
            page.goto(url + "/blank")
            page.evaluate("() => { document.body.innerHTML = '<h1>Written by the last step</h1>'; }")
            records = vitals.records(page, [Window("Writing", t0, time.time())])
            context.close()
            found.append(records)
    for records in found:
        assert len(records) == 1 and records[0]["url"] == f"{url}/blank", records
        assert all(records[0][m] is not None for m in ("fcp", "lcp", "cls")), records
        assert records[0]["lcp"] >= records[0]["fcp"] >= records[0]["ttfb"], records


def test_expectations_name_web_vitals_per_action() -> None:
    from uxchaos.scenario.expect import Expectation, ExpectationError, evaluate

    parsed = Expectation.parse('during["Logging in"].lcp_p75 < 4s and before["Logging in"].cls_p50 <= 0.1',
                               ["Logging in"])
    values = {"lcp_p75": 3.9, "cls_p50": 0.1}
    passed, used = evaluate(parsed, lambda phase, action, stat: values[stat or ""])
    assert passed and used == {"during['Logging in'].lcp_p75": 3.9, "before['Logging in'].cls_p50": 0.1}
    try:
        Expectation.parse('during["Logging in"].lcp_p99 < 4s', ["Logging in"])
    except ExpectationError as e:
        assert "unknown statistic" in str(e) and "lcp_p75" in str(e) and "inp_p50" in str(e)
    else:
        raise AssertionError("lcp_p99 was accepted")

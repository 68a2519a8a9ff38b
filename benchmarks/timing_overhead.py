"""The harness's own overhead: the same login timed by a bare Playwright script, by uxchaos's YAML
runner and as a Python journey (`journey: {python: …}`, one `step()` block), interleaved in one
run against the demo, same browser. Prints the ratios of medians (goal ≤ 1.03). The bare script is
timed from its first call to its last; uxchaos reports the sum of its step timings (its own
bookkeeping between steps is not user time) and, for the Python journey, the whole call; a ratio
above 1 would be time uxchaos adds inside what it reports.

    python benchmarks/timing_overhead.py [--rounds 40] [--no-capture]

uxchaos records each action's requests and each page's Web Vitals by default (journey/capture.py,
journey/vitals.py); `--no-capture` turns both off, to see what they cost. `--trace` also records a
Playwright trace of every uxchaos attempt (what `--trace slowest`, the default of `uxchaos run`, does
before it discards the traces it does not need), to see what tracing costs; `--trace-screenshots`
adds the screencast to those traces (`uxchaos run --trace-screenshots`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Browser, Page
from scipy import stats as sps

from uxchaos.browser.session import BrowserSession
from uxchaos.demo.login import login_action
from uxchaos.demo.stack import DemoStack
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.scenario.loading import parse_scenario
from uxchaos.scenario.python_ref import PythonJourney

JOURNEY = yaml.safe_dump({"name": "overhead", "target": {"base_url": "demo"}, "journey": [login_action()]},
                         sort_keys=False)


def paired_ratio(times: list[float], reference: list[float]) -> tuple[float, float, float]:
    """The median of the per-round ratios times / reference, and its 95% bootstrap interval (SciPy)."""
    ratios = [t / r for t, r in zip(times, reference, strict=True)]
    ci = sps.bootstrap((ratios,), statistics.median, n_resamples=2000, method="percentile",
                       random_state=1).confidence_interval
    return statistics.median(ratios), ci.low, ci.high


def bare_login(browser: Browser, base_url: str, email: str, password: str) -> float:
    """What someone would write by hand with Playwright, timed around the same work."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    t = time.perf_counter_ns()
    page.goto(base_url + "/login", wait_until="load")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation(wait_until="load"):
        page.click("#login")
    page.wait_for_url("**/dashboard", wait_until="commit")
    page.locator("body").get_by_text("Welcome").first.wait_for()
    elapsed = (time.perf_counter_ns() - t) / 1e9
    context.close()
    return elapsed


def python_login(page: Page, step: Any, vars: dict[str, str]) -> None:
    """The same work as a Python journey: relative URLs resolve against the target (context base_url)."""
    with step("Logging in"):
        page.goto("/login", wait_until="load")
        page.fill("#email", vars["username"])
        page.fill("#password", vars["password"])
        with page.expect_navigation(wait_until="load"):
            page.click("#login")
        page.wait_for_url("**/dashboard", wait_until="commit")
        page.locator("body").get_by_text("Welcome").first.wait_for()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--no-capture", action="store_true", help="record no requests and no Web Vitals")
    ap.add_argument("--trace", action="store_true", help="trace every uxchaos attempt (journey/traces.py)")
    ap.add_argument("--trace-screenshots", action="store_true", help="with --trace: record screenshots too")
    args = ap.parse_args()
    scenario = parse_scenario(JOURNEY, "overhead.yaml", env={})
    with DemoStack() as info, BrowserSession() as session, tempfile.TemporaryDirectory() as tmp:
        assert session.browser is not None
        variables = {"username": info.email, "password": info.password}
        capture = not args.no_capture
        trace_dir = Path(tmp) if args.trace else None
        plan = AttemptPlan("before", 1, scenario.journey, info.base_url, variables, 30, Path(tmp),
                           capture_requests=capture, capture_vitals=capture, trace_dir=trace_dir,
                           trace_screenshots=args.trace_screenshots, secrets={info.password})
        journey = PythonJourney("timing_overhead.py:python_login", Path(__file__).resolve(), "python_login", 1,
                                python_login)
        py_plan = AttemptPlan("before", 1, [], info.base_url, variables, 30, Path(tmp), journey,
                              capture_requests=capture, capture_vitals=capture, trace_dir=trace_dir,
                              trace_screenshots=args.trace_screenshots, secrets={info.password})
        timings: dict[str, list[float]] = {"bare": [], "yaml": [], "python": []}

        def once(who: str) -> float:
            if who == "bare":
                return bare_login(session.browser, info.base_url, info.email, info.password)  # type: ignore[arg-type]
            sample = run_attempt(session, plan if who == "yaml" else py_plan, lambda: False)
            assert sample.ok, sample.failure
            return sample.duration_s

        for who in ("bare", "yaml", "python") * 3:  # warm-up, not counted
            once(who)
        orders = [("bare", "yaml", "python"), ("python", "bare", "yaml"), ("yaml", "python", "bare")]
        for i in range(args.rounds):  # interleaved, rotating who goes first
            for who in orders[i % 3]:
                timings[who].append(once(who))
    b, y, p = (statistics.median(timings[k]) for k in ("bare", "yaml", "python"))
    traced = "off" if not args.trace else "on, with screenshots" if args.trace_screenshots else "on"
    print(f"login journey, {args.rounds} rounds each, interleaved, same browser and demo; "
          f"requests + Web Vitals {'off' if args.no_capture else 'on'}, traces {traced}")
    print(f"  bare Playwright script : median {b * 1000:8.1f} ms  (min {min(timings['bare']) * 1000:.1f})")
    print(f"  uxchaos YAML runner    : median {y * 1000:8.1f} ms  (min {min(timings['yaml']) * 1000:.1f})")
    print(f"  uxchaos Python journey : median {p * 1000:8.1f} ms  (min {min(timings['python']) * 1000:.1f})")
    # Each round runs all three back to back, so a per-round ratio cancels slow spells of a busy machine.
    # A login here varies by ±20% from one attempt to the next, so a 3% goal needs its interval: the
    # 95% bootstrap interval of the paired median (SciPy) says whether a figure clears the goal or noise.
    for key, label, median in (("yaml", "YAML", y), ("python", "Python", p)):
        paired, low, high = paired_ratio(timings[key], timings["bare"])
        print(f"  ratio {label + ' / bare':17}: {median / b:.3f} of medians, {paired:.3f} paired "
              f"per round (95% interval {low:.3f}–{high:.3f})  (goal ≤ 1.03)")


if __name__ == "__main__":
    main()

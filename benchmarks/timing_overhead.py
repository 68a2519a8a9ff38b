"""The harness's own overhead: the same login timed by a bare Playwright script and by uxchaos's
runner, interleaved in one run against the demo, same browser. Prints the ratio of medians
(goal ≤ 1.02). The bare script is timed from its first call to its last; uxchaos reports the sum
of its step timings (its own bookkeeping between steps is not user time), so a ratio above 1
would be time the runner adds inside the steps it reports.

    python benchmarks/timing_overhead.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser

from uxchaos.demo.stack import DemoStack
from uxchaos.journey.runner import AttemptPlan, BrowserSession
from uxchaos.scenario import parse_scenario

JOURNEY = """
name: overhead
target: {base_url: demo}
journey:
  - action: Logging in
    steps:
      - goto: /login
      - fill: "#email"
        value: "{{ username }}"
      - fill: "#password"
        value: "{{ password }}"
      - click: "#login"
      - expect_url: "**/dashboard"
      - expect_text: Welcome
"""


def bare_login(browser: Browser, base_url: str, email: str, password: str) -> float:
    """What someone would write by hand with Playwright, timed around the same work."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("about:blank")
    page.evaluate("0")
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    scenario = parse_scenario(JOURNEY, "overhead.yaml", env={})
    with DemoStack() as info, BrowserSession() as session, tempfile.TemporaryDirectory() as tmp:
        assert session.browser is not None
        plan = AttemptPlan("before", 1, scenario.journey, info.base_url,
                           {"username": info.email, "password": info.password}, 30, Path(tmp))
        bare, ours = [], []
        for _ in range(3):  # warm-up, not counted
            bare_login(session.browser, info.base_url, info.email, info.password)
            session.run_attempt(plan, lambda: False)
        for i in range(args.rounds):  # interleaved, alternating who goes first
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for who in order:
                if who == 0:
                    bare.append(bare_login(session.browser, info.base_url, info.email, info.password))
                else:
                    sample = session.run_attempt(plan, lambda: False)
                    assert sample.ok, sample.failure
                    ours.append(sample.duration_s)
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"login journey, {args.rounds} rounds each, interleaved, same browser and demo")
    print(f"  bare Playwright script : median {b * 1000:8.1f} ms  (min {min(bare) * 1000:.1f})")
    print(f"  uxchaos runner         : median {o * 1000:8.1f} ms  (min {min(ours) * 1000:.1f})")
    print(f"  ratio uxchaos / bare   : {o / b:.3f}  (goal ≤ 1.02)")


if __name__ == "__main__":
    main()

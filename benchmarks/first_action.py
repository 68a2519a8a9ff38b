"""The first action — goto + wait_for — timed by uxchaos and by a bare Playwright script, with the
database fault toggled off and on in alternation (as a hand-written script toggling the fault
between attempts does), on the demo's server-rendered login page and on its single-page app. Prints,
per page and per timer, the median with the fault off and on and the Δ between them, the database
turns the proxy counted inside each timed span (the demo's queue worker paused), the ratio of
uxchaos's Δ to the bare script's, and what the fault must add: the turns × the delay per turn.

Both timers run in the same browser, one fresh context per attempt, interleaved (rotating who goes
first); the fault is a latency toxic on the demo's database proxy, added and removed between rounds.

    python benchmarks/first_action.py [--rounds 10] [--delay-ms 150]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser

from uxchaos.browser.session import BrowserSession
from uxchaos.demo.stack import DemoStack
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.scenario.loading import parse_scenario

PAGES = {"login": ("/login", "#email"), "spa": ("/spa", "#overview-title")}


def journey(path: str, selector: str) -> str:
    return f"""name: first
target: {{base_url: demo}}
journey:
  - action: Opening
    steps:
      - goto: {path}
      - wait_for: "{selector}"
"""


def bare(browser: Browser, url: str, selector: str) -> tuple[float, float, float]:
    """What someone would write by hand, timed around the same two calls: (seconds, epoch start, end)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    t, start = time.perf_counter_ns(), time.time()
    page.goto(url, wait_until="load")
    page.wait_for_selector(selector)
    elapsed, end = (time.perf_counter_ns() - t) / 1e9, time.time()
    context.close()
    return elapsed, start, end


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--delay-ms", type=int, default=150)
    args = ap.parse_args()
    # timings[page][who][fault on?], and the database turns the proxy counted inside each timed span
    timings: dict[str, dict[str, dict[bool, list[float]]]] = {
        p: {w: {False: [], True: []} for w in ("bare", "uxchaos")} for p in PAGES}
    turns: dict[str, dict[str, dict[bool, list[int]]]] = {
        p: {w: {False: [], True: []} for w in ("bare", "uxchaos")} for p in PAGES}
    stack = DemoStack()
    info = stack.start()
    try:
        with BrowserSession() as session, tempfile.TemporaryDirectory() as tmp:
            assert session.browser is not None
            plans = {p: AttemptPlan("before", 1, parse_scenario(journey(*PAGES[p]), "f.yaml", env={}).journey,
                                    info.base_url, {}, 30, Path(tmp)) for p in PAGES}

            def once(page: str, who: str) -> tuple[float, int]:
                if who == "bare":
                    path, selector = PAGES[page]
                    elapsed, start, end = bare(session.browser, info.base_url + path, selector)  # type: ignore[arg-type]
                else:
                    sample = run_attempt(session, plans[page], lambda: False)
                    assert sample.ok, sample.failure
                    action = sample.actions[0]
                    assert action.duration_s is not None and action.started_at and action.ended_at
                    elapsed, start, end = action.duration_s, action.started_at, action.ended_at
                return elapsed, len(stack.hub.turns("database", start, end))

            # The demo's queue worker polls the database through the same proxy: paused, only the
            # journeys' turns are counted (and it takes no CPU from them).
            assert stack.supervisor is not None and stack.supervisor.pid is not None
            os.kill(stack.supervisor.pid, signal.SIGSTOP)
            for page in PAGES:  # warm-up, not counted
                once(page, "bare")
                once(page, "uxchaos")
            for i in range(args.rounds):
                for on in (False, True):
                    if on:
                        stack.hub.add_toxic("database", {"type": "latency",
                                                         "attributes": {"latency": f"{args.delay_ms}ms"}})
                    try:
                        for page in PAGES:
                            for who in (("bare", "uxchaos") if i % 2 else ("uxchaos", "bare")):
                                elapsed, counted = once(page, who)
                            timings[page][who][on].append(elapsed)
                            turns[page][who][on].append(counted)
                    finally:
                        stack.hub.reset()
    finally:
        if stack.supervisor is not None and stack.supervisor.pid is not None:
            os.kill(stack.supervisor.pid, signal.SIGCONT)
        stack.stop()
    print(f"goto + wait_for, {args.rounds} rounds, fault (database +{args.delay_ms} ms per round trip) off/on "
          "in alternation, same browser")
    for page in PAGES:
        deltas = {}
        for who in ("bare", "uxchaos"):
            off_s, on_s = (statistics.median(timings[page][who][x]) for x in (False, True))
            deltas[who] = on_s - off_s
            off_t, on_t = (statistics.median(turns[page][who][x]) for x in (False, True))
            print(f"  {page:<5} {who:<7}: off {off_s * 1000:7.1f} ms, on {on_s * 1000:7.1f} ms, "
                  f"Δ {deltas[who] * 1000:+7.1f} ms; database turns off {off_t:g}, on {on_t:g}")
        # What the fault must add: the turns the proxy counted with the fault on × the delay per turn.
        expected = statistics.median(turns[page]["bare"][True] + turns[page]["uxchaos"][True]) * args.delay_ms
        ratio = f"{deltas['uxchaos'] / deltas['bare']:.2f}" if deltas["bare"] else "–"
        print(f"  {page:<5} Δ uxchaos / Δ bare: {ratio}; turns × delay: {expected:+.0f} ms")


if __name__ == "__main__":
    main()

"""Does the starvation bound keep what is trustworthy? uxchaos's open model against a bare async Playwright
script doing the same open model, interleaved in one run, on the demo with its database 200 ms late,
with and without a CPU burner.

For each arrival rate and for each condition (calm; a burner: two busy loops per core, pinned to the
cores with sched_setaffinity, bounded in time and stopped by PID), one block of uxchaos (an open-model
before phase, no fault of its own) and one block of the bare script (one browser, a task per journey
started every 1/rate s, at most --max-users at once, a fresh context each), the order alternating.
Printed per rate and condition: the login median of the bare script, of uxchaos's kept attempts and of
all its attempts; kept / left out; the kept attempts' login bound (median and largest, ms), the
largest bound's share of its login, and the median share of the bound in every attempt's time.
Goals: kept medians within 5% of the bare script's; no attempt kept whose bound exceeds
load.LEFT_OUT_SHARE. Artillery's Playwright engine is run only when
`npx artillery` is installed (it is said when not). Load stays bounded: at most --attempts journeys per
block, loopback only.

    python benchmarks/starvation.py [--rates 0.5,1] [--attempts 8] [--max-users 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from playwright.async_api import Browser, async_playwright

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.demo.login import login_journey
from uxchaos.demo.stack import DemoInfo, DemoStack
from uxchaos.run.engine import Engine
from uxchaos.run.options import RunOptions
from uxchaos.scenario.loading import parse_scenario
from uxchaos.users.starvation import LEFT_OUT_SHARE

DB_DELAY = "200ms"
BURN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass\n"
def scenario_text(demo: DemoInfo, rate: float, users: int, attempts: int) -> str:
    return yaml.safe_dump({
        "name": "starvation",
        "target": {"base_url": demo.base_url, "credentials": {"username": demo.email, "password": demo.password}},
        "journey": login_journey(wait=True),
        "phases": {"before": {"arrival_rate": f"{rate:g}/s", "max_users": users, "attempts": attempts},
                   "during": {"attempts": 1}, "after": {"attempts": 1}}}, sort_keys=False)


@contextlib.contextmanager
def burner(on: bool, seconds: float = 300.0) -> Iterator[None]:
    """Two busy loops per core, pinned to the cores; each ends by itself after `seconds` at the latest."""
    cores = os.sched_getaffinity(0)
    procs = [subprocess.Popen([sys.executable, "-c", BURN, str(seconds)]) for _ in range(2 * len(cores) if on else 0)]
    try:
        for p in procs:
            os.sched_setaffinity(p.pid, cores)
        yield
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            p.wait(10)


def run_uxchaos(demo: DemoInfo, rate: float, users: int, attempts: int, out: Path) -> dict[str, Any]:
    text = scenario_text(demo, rate, users, attempts)
    outcome = Engine(parse_scenario(text, str(out / "starvation.yaml")), RunOptions(out_dir=out, deadline_s=900)).run()
    before = [s for s in outcome.samples if s.phase == "before" and s.ok]
    logins = [(a.duration_s, a.bound_ms, s.generator.saturated) for s in before for a in s.actions
              if a.name == "Logging in" and a.ok and a.duration_s]
    every = [s.generator.bound_ms / 1000 / s.duration_s for s in before
             if s.generator.bound_ms is not None and s.duration_s]
    kept = [(d, b) for d, b, left in logins if not left]
    return {"all": [d for d, _, _ in logins], "kept": [d for d, _ in kept],
            "bounds": [b for _, b in kept if b is not None],
            "shares": [b / 1000 / d for d, b in kept if b is not None],
            "left_out": sum(left for _, _, left in logins), "failed": attempts - len(before),
            "every_share": every}


async def bare(demo: DemoInfo, rate: float, users: int, attempts: int) -> list[float]:
    """The bare open model: journey i starts i / rate s in (or when one of `users` slots frees)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_browser(), args=launch_args())
        slots = asyncio.Semaphore(users)

        async def journey(browser: Browser, due: float) -> float:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            async with slots:
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                page = await context.new_page()
                await page.goto(demo.base_url + "/login")
                await page.locator("#email").wait_for()
                t = time.perf_counter()
                await page.fill("#email", demo.email)
                await page.fill("#password", demo.password)
                await page.click("#login")
                await page.wait_for_url("**/dashboard")
                await page.get_by_text("Welcome").first.wait_for()
                seconds = time.perf_counter() - t
                await context.close()
                return seconds

        t0 = time.monotonic()
        times = await asyncio.gather(*(journey(browser, t0 + i / rate) for i in range(attempts)))
        await browser.close()
    return list(times)


def artillery() -> str:
    npx = shutil.which("npx")
    if npx is None:
        return "Artillery: npx is not installed here — not run."
    found = subprocess.run([npx, "--no-install", "artillery", "--version"], capture_output=True, text=True,
                           timeout=60, check=False)
    if found.returncode != 0:
        return "Artillery: `npx --no-install artillery` is not installed here — not run."
    return "Artillery: installed, but this benchmark does not drive it yet — not run."


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seconds(values: list[float]) -> str:
    """A median in seconds, or – when there is none (no attempt kept)."""
    return f"{statistics.median(values):.2f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="0.5,1", help="journeys per second, comma-separated")
    parser.add_argument("--attempts", type=int, default=8, help="journeys per block")
    parser.add_argument("--max-users", type=int, default=6)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(artillery(), flush=True)
    rows = []
    stack = DemoStack()
    demo = stack.start()
    with tempfile.TemporaryDirectory() as tmp:
        stack.hub.add_toxic("database", {"type": "latency", "attributes": {"latency": DB_DELAY}})
        try:
            for i, rate in enumerate(rates):
                for condition in ("calm", "burner"):
                    result: dict[str, Any] = {}
                    for side in (("ux", "bare") if i % 2 == 0 else ("bare", "ux")):
                        with burner(condition == "burner"):
                            if side == "ux":
                                result["ux"] = run_uxchaos(demo, rate, args.max_users, args.attempts,
                                                           Path(tmp) / f"{rate}-{condition}")
                            else:
                                result["bare"] = asyncio.run(bare(demo, rate, args.max_users, args.attempts))
                    rows.append((rate, condition, result))
                    ux = result["ux"]
                    print(f"{rate:g}/s {condition}: bare {median(result['bare']):.2f}s, uxchaos kept "
                          f"{seconds(ux['kept'])}s ({len(ux['kept'])} kept, {ux['left_out']} left out)", flush=True)
        finally:
            stack.hub.reset()
            stack.stop()
    print(f"\nLogging in, database {DB_DELAY} late, open model on at most {args.max_users} users, {args.attempts} "
          f"journeys per block; left out: bound > {LEFT_OUT_SHARE:.0%} of the attempt.\n")
    print("| Rate | Condition | bare median (s) | uxchaos kept median (s) | kept / bare | uxchaos all median (s) | "
          "kept / left out | bound of kept logins, median / max (ms) | largest bound share, kept | "
          "bound share, every attempt (median) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate, condition, r in rows:
        ux = r["ux"]
        ratio = f"{median(ux['kept']) / median(r['bare']):.2f}" if ux["kept"] else "–"
        bounds = f"{median(ux['bounds']):.0f} / {max(ux['bounds']):.0f}" if ux["bounds"] else "–"
        share = f"{max(ux['shares']):.1%}" if ux["shares"] else "–"
        print(f"| {rate:g}/s | {condition} | {median(r['bare']):.2f} | {seconds(ux['kept'])} | {ratio} | "
              f"{median(ux['all']):.2f} | {len(ux['kept'])} / {ux['left_out']} | {bounds} | {share} | "
              f"{median(ux['every_share']):.0%} |")


if __name__ == "__main__":
    main()

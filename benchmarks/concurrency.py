"""Virtual users against the demo, side by side with a bare async Playwright script, in one run.

For each concurrency (default 1, 2, 4, 8): uxchaos runs the login journey with that many users
(one thread, Playwright driver and Chromium each — uxchaos/users.py), then a bare asyncio
Playwright script runs the same login with as many concurrent tasks (one browser, a context per
task). Both do the same number of logins per level. Printed per level and side: login median and
p95 (seconds), journeys per second (logins / wall time of the level), the host CPU over the level,
the generator's own CPU (this process: user + system seconds per wall second, Playwright drivers
and browsers excluded), and for uxchaos the attempts flagged saturated. Load stays bounded: at most
--logins logins per level and side, loopback only.

    python benchmarks/concurrency.py [--levels 1,2,4,8] [--logins 16]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

from uxchaos.browser import find_browser, launch_args
from uxchaos.demo.stack import DemoInfo, DemoStack
from uxchaos.engine import Engine, RunOptions
from uxchaos.scenario import parse_scenario
from uxchaos.users import _cpu_ticks

SCENARIO = """
name: concurrency
target:
  base_url: {base_url}
  credentials: {{username: {email}, password: {password}}}
journey:
  - action: Opening the login page
    steps:
      - goto: /login
  - action: Logging in
    steps:
      - fill: "#email"
        value: "{{{{ username }}}}"
      - fill: "#password"
        value: "{{{{ password }}}}"
      - click: "#login"
      - expect_url: "**/dashboard"
      - expect_text: Welcome
browsers: [local]                    # the virtual-user path even at one user
phases:
  before: {{users: {users}, attempts: {attempts}}}
  during: {{attempts: 1}}
  after: {{attempts: 1}}
"""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Meter:
    """Host CPU (all cores) and this process's CPU over a stretch of wall time."""

    def __enter__(self) -> Meter:
        self.t0, self.ticks0 = time.monotonic(), _cpu_ticks()
        self.self0, self.all0 = self._cpu()
        return self

    @staticmethod
    def _cpu() -> tuple[float, float]:
        """(this process, this process + its ended children: Playwright drivers and their browsers)."""
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        own = me.ru_utime + me.ru_stime
        return own, own + kids.ru_utime + kids.ru_stime

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.monotonic() - self.t0
        ticks = _cpu_ticks()
        own, everything = self._cpu()
        self.own = (own - self.self0) / self.wall
        self.all = (everything - self.all0) / self.wall
        self.host = ((ticks[0] - self.ticks0[0]) / max(1, ticks[1] - self.ticks0[1])
                     if ticks and self.ticks0 else float("nan"))


def run_uxchaos(demo: DemoInfo, users: int, attempts: int, out: Path) -> dict[str, Any]:
    text = SCENARIO.format(base_url=demo.base_url, email=demo.email, password=demo.password, users=users,
                           attempts=attempts)
    scenario = parse_scenario(text, str(out / "concurrency.yaml"))
    engine = Engine(scenario, RunOptions(out_dir=out, deadline_s=600))
    outcome = engine.run()
    before = [s for s in outcome.samples if s.phase == "before"]
    logins = [a.duration_s for s in before for a in s.actions if a.name == "Logging in" and a.ok and a.duration_s]
    wall = max(s.ended_at for s in before) - min(s.started_at for s in before)
    cpu = [s.host_cpu for s in before if s.host_cpu is not None]
    return {"median": statistics.median(logins), "p95": p95(logins), "per_s": len(logins) / wall,
            "failed": len(before) - len(logins), "host_attempts": statistics.mean(cpu) if cpu else float("nan"),
            "saturated": sum(s.saturated for s in before), "n": len(before)}


async def bare(demo: DemoInfo, users: int, attempts: int) -> tuple[list[float], float]:
    """The bare script: one browser, `users` tasks, each logging in `attempts` times in fresh contexts."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=find_browser(), args=launch_args())

        async def user(browser: Browser) -> list[float]:
            times = []
            for _ in range(attempts):
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                page = await context.new_page()
                await page.goto(demo.base_url + "/login")
                t = time.perf_counter()
                await page.fill("#email", demo.email)
                await page.fill("#password", demo.password)
                await page.click("#login")
                await page.wait_for_url("**/dashboard")
                await page.get_by_text("Welcome").first.wait_for()
                times.append(time.perf_counter() - t)
                await context.close()
            return times

        t0 = time.monotonic()
        results = await asyncio.gather(*(user(browser) for _ in range(users)))
        wall = time.monotonic() - t0
        await browser.close()
    return [t for r in results for t in r], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--logins", type=int, default=16, help="logins per level and side (bounded load)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    stack = DemoStack()
    demo = stack.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for users in levels:
                attempts = max(1, args.logins // users)
                with Meter() as m:
                    ux = run_uxchaos(demo, users, attempts, Path(tmp))
                ux.update(own=m.own, all=m.all, host=m.host)
                with Meter() as m:
                    times, wall = asyncio.run(bare(demo, users, attempts))
                rows.append((users, ux, {"median": statistics.median(times), "p95": p95(times),
                                         "per_s": len(times) / wall, "host": m.host, "own": m.own, "all": m.all}))
                print(f"users {users}: uxchaos {ux['median']:.3f}s/{ux['per_s']:.2f}/s, bare "
                      f"{rows[-1][2]['median']:.3f}s/{rows[-1][2]['per_s']:.2f}/s", flush=True)
    finally:
        stack.stop()
    print("\n| Users | login median / p95 (s), uxchaos | bare | journeys/s, uxchaos | bare | uxchaos / bare "
          "| host CPU, uxchaos (its attempts) | bare | generator CPU, Python process (+ drivers and browsers), "
          "uxchaos | bare | saturated (uxchaos) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for users, ux, b in rows:
        print(f"| {users} | {ux['median']:.2f} / {ux['p95']:.2f} | {b['median']:.2f} / {b['p95']:.2f} | "
              f"{ux['per_s']:.2f} | {b['per_s']:.2f} | {ux['per_s'] / b['per_s']:.0%} | "
              f"{ux['host']:.0%} ({ux['host_attempts']:.0%}) | {b['host']:.0%} | "
              f"{ux['own']:.2f} ({ux['all']:.2f}) cores | {b['own']:.2f} ({b['all']:.2f}) cores | "
              f"{ux['saturated']}/{ux['n']} |")


if __name__ == "__main__":
    main()

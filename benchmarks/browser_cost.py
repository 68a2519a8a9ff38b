"""What one login journey costs the machine in the full Chromium and in Chromium's headless shell.

The demo's login journey (a fresh context, open the login page, log in, see the dashboard) run
sequentially in one browser, the two browsers alternating round by round. Per journey: the CPU time of
the whole host (/proc/stat, every core: browser, driver, the demo app and its database) and the wall
time, each as the difference between a long and a short block (so the browser's start and end cancel
out), and the login's median. The database is as fast as it is: the figure is the client's cost.

    python benchmarks/browser_cost.py [--rounds 2] [--journeys 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.demo.stack import DemoInfo, DemoStack
from uxchaos.users.processes import TICK_NS, cpu_ticks


def host_busy_s() -> float:
    """CPU seconds all cores spent on anything but idling and waiting for the disk."""
    ticks = cpu_ticks()
    assert ticks is not None, "no /proc/stat: this benchmark needs Linux"
    return ticks[0] * TICK_NS / 1e9


def block(executable: str, demo: DemoInfo, journeys: int) -> tuple[float, float, list[float]]:
    """(host CPU s, wall s, login times) of `journeys` sequential journeys in a browser started for them."""
    busy, wall, logins = host_busy_s(), time.monotonic(), []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=launch_args())
        for _ in range(journeys):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(demo.base_url + "/login")
            page.locator("#email").wait_for()
            t = time.perf_counter()
            page.fill("#email", demo.email)
            page.fill("#password", demo.password)
            page.click("#login")
            page.wait_for_url("**/dashboard")
            page.get_by_text("Welcome").first.wait_for()
            logins.append(time.perf_counter() - t)
            context.close()
        browser.close()
    return host_busy_s() - busy, time.monotonic() - wall, logins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--journeys", type=int, default=10, help="the long block's extra journeys")
    args = parser.parse_args()
    browsers = {"full Chromium": find_browser(headless=False), "headless shell": find_browser(headless=True)}
    if browsers["full Chromium"] == browsers["headless shell"]:
        print(f"only one Chromium found ({browsers['full Chromium']}): nothing to compare")
        return
    stack = DemoStack()
    demo = stack.start()
    rows: dict[str, list[tuple[float, float, list[float]]]] = {name: [] for name in browsers}
    try:
        for r in range(args.rounds):
            for name in (list(browsers) if r % 2 == 0 else list(browsers)[::-1]):
                short = block(browsers[name], demo, 2)
                long = block(browsers[name], demo, 2 + args.journeys)
                cpu, wall = (long[0] - short[0]) / args.journeys, (long[1] - short[1]) / args.journeys
                rows[name].append((cpu, wall, long[2]))
                print(f"round {r + 1} {name}: {cpu:.2f} CPU s and {wall:.2f} s per journey", flush=True)
    finally:
        stack.stop()
    print(f"\n{args.journeys} journeys per long block, {args.rounds} rounds; {browsers}\n")
    print("| Browser | host CPU per journey (s) | wall per journey (s) | login median (s) |")
    print("|---|---:|---:|---:|")
    for name, got in rows.items():
        cpus = ", ".join(f"{c:.2f}" for c, _, _ in got)
        walls = ", ".join(f"{w:.2f}" for _, w, _ in got)
        login = statistics.median([t for _, _, times in got for t in times])
        print(f"| {name} | {cpus} | {walls} | {login:.3f} |")


if __name__ == "__main__":
    main()

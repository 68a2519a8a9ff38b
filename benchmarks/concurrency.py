"""Virtual users against the demo, side by side with a bare async Playwright script, in one run.

For each concurrency (default 1, 2, 4, 8): uxchaos runs the login journey with that many users
(one thread, Playwright driver and Chromium each — uxchaos/users/pool.py), then a bare asyncio
Playwright script runs the same login with as many concurrent tasks (one browser, a context per
task). Both do the same number of logins per level, in --blocks alternating blocks (the machine's
speed drifts over minutes). Printed per level and side: login median and p95 (seconds), journeys
per second (logins / wall time of the blocks), the host CPU over the level,
the generator's own CPU (this process: user + system seconds per wall second, Playwright drivers
and browsers excluded), and for uxchaos the attempts flagged saturated. Load stays bounded: at most
--logins logins per level and side, loopback only.

    python benchmarks/concurrency.py [--levels 1,2,4,8] [--logins 16] [--blocks 4]

With --remote N the users' browsers live on N local `uxchaos browser serve` servers instead: printed
per level is the coordinator's own CPU per journey — its Python process alone, and
with the Playwright drivers it starts (one per user; the browsers run in the servers, which are not
counted) — and how many remote users one coordinator core would drive at the measured journey time;
then the same for a bare sync Playwright client doing the same journey on the same server (the floor
any coordinator built on Playwright's Python client can reach).

    python benchmarks/concurrency.py --remote 2 [--levels 2,4] [--logins 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from playwright.async_api import Browser, async_playwright

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.demo.login import login_journey
from uxchaos.demo.stack import DemoInfo, DemoStack, demo_credentials
from uxchaos.run.engine import Engine
from uxchaos.run.options import RunOptions
from uxchaos.scenario.loading import parse_scenario
from uxchaos.users.processes import cpu_ticks as _cpu_ticks
from uxchaos.util.netutil import wait_until
from uxchaos.util.procs import die_with_parent


def scenario_text(demo: DemoInfo | Any, users: int, attempts: int, browsers: list[str]) -> str:
    return yaml.safe_dump({
        "name": "concurrency",
        "target": {"base_url": demo.base_url, "credentials": {"username": demo.email, "password": demo.password}},
        "journey": login_journey(),
        "browsers": browsers,  # local: the virtual-user path even at one user
        "phases": {"before": {"users": users, "attempts": attempts}, "during": {"attempts": 1},
                   "after": {"attempts": 1}}}, sort_keys=False)


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


def run_uxchaos(demo: DemoInfo | Any, users: int, attempts: int, out: Path, browsers: list[str] | None = None,
                listener: Any = None) -> dict[str, Any]:
    text = scenario_text(demo, users, attempts, browsers or ["local"])
    scenario = parse_scenario(text, str(out / "concurrency.yaml"))
    engine = Engine(scenario, RunOptions(out_dir=out, deadline_s=600), [listener] if listener else [])
    outcome = engine.run()
    before = [s for s in outcome.samples if s.phase == "before"]
    logins = [a.duration_s for s in before for a in s.actions if a.name == "Logging in" and a.ok and a.duration_s]
    wall = max(s.ended_at for s in before) - min(s.started_at for s in before)
    cpu = [s.generator.host_cpu for s in before if s.generator.host_cpu is not None]
    journeys = [s.duration_s for s in before if s.ok]
    return {"logins": logins, "wall": wall, "median": statistics.median(logins), "p95": p95(logins),
            "per_s": len(logins) / wall,
            "journey": statistics.median(journeys) if journeys else float("nan"), "ok": len(journeys),
            "failed": len(before) - len(logins), "host_attempts": statistics.mean(cpu) if cpu else float("nan"),
            "saturated": sum(s.generator.saturated for s in before), "n": len(before)}


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


def start_servers(n: int) -> list[tuple[subprocess.Popen[str], str]]:
    servers = []
    for _ in range(n):
        proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "browser", "serve", "--port", "0"],
                                stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
        assert proc.stdout is not None
        servers.append((proc, proc.stdout.readline().split()[2]))
    return servers


def coordinator_cpu() -> tuple[float, float]:
    """CPU seconds so far of this process (every thread) and of its Playwright drivers: its child
    processes named node (a browser server's node is its grandchild, the demo is not node)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    tick = os.sysconf("SC_CLK_TCK")
    drivers = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)
        except OSError:
            continue
        comm, rest = fields[0].split(" (", 1)[1], fields[1].split()
        if comm.startswith("node") and int(rest[1]) == os.getpid():  # the driver names itself node-MainThread
            drivers += (int(rest[11]) + int(rest[12])) / tick
    return me.ru_utime + me.ru_stime, drivers


class BeforePhaseCpu:
    """A run listener: the coordinator's CPU over the before phase only (the users' browsers and drivers
    are started before it, so start-up is not counted)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}

    def on_phase(self, phase: str, attempts: int) -> None:
        self.marks[phase] = coordinator_cpu()

    def on_sample(self, sample: Any) -> None:
        pass

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


@contextlib.contextmanager
def demo_elsewhere() -> Iterator[Any]:
    """The demo in its own process (`uxchaos demo serve`): its proxies run in the process that starts
    them, and they must not count as the coordinator's CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "demo.json"
        proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "demo", "serve", "--state", str(state)],
                                stdout=subprocess.DEVNULL, preexec_fn=die_with_parent())
        try:
            wait_until(state.exists, 120, "the demo")
            email, password = demo_credentials()
            yield SimpleNamespace(base_url=json.loads(state.read_text())["base_url"], email=email, password=password)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def bare_remote(demo: Any, endpoint: str, logins: int) -> tuple[float, float, float]:
    """The floor: a bare sync Playwright client doing the same journey on the same browser server, one
    login after another. (median journey s, this process's CPU ms per journey, + its driver's)."""
    from playwright.sync_api import sync_playwright
    from timing_overhead import bare_login  # the same hand-written login (this script's folder is on sys.path)

    def journey(browser: Any) -> float:
        return bare_login(browser, demo.base_url, demo.email, demo.password)

    with sync_playwright() as p:
        browser = p.chromium.connect(endpoint)
        journey(browser)  # warm-up, not counted
        own0, drivers0 = coordinator_cpu()
        times = [journey(browser) for _ in range(logins)]
        own1, drivers1 = coordinator_cpu()
        browser.close()
    return (statistics.median(times), (own1 - own0) / logins * 1000,
            (own1 - own0 + drivers1 - drivers0) / logins * 1000)


def remote(demo: Any, levels: list[int], logins: int, n_servers: int) -> None:
    """The coordinator's own CPU per journey with every browser on a local browser server."""
    servers = start_servers(n_servers)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for users in levels:
                cpu = BeforePhaseCpu()
                ux = run_uxchaos(demo, users, max(1, logins // users), Path(tmp), [url for _, url in servers], cpu)
                (own0, drivers0), (own1, drivers1) = cpu.marks["before"], cpu.marks["during"]
                own_ms = (own1 - own0) / ux["n"] * 1000
                all_ms = (own1 - own0 + drivers1 - drivers0) / ux["n"] * 1000
                rows.append((users, ux, own_ms, all_ms))
                print(f"users {users}: journey {ux['journey']:.2f}s, coordinator {own_ms:.0f} ms "
                      f"(+ drivers {all_ms:.0f} ms) CPU per journey", flush=True)
        floor = bare_remote(demo, servers[0][1], logins)
        print(f"bare client: journey {floor[0]:.2f}s, {floor[1]:.0f} ms (+ driver {floor[2]:.0f} ms) CPU per journey",
              flush=True)
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(f"\n| Users (on {n_servers} local browser servers) | journeys | median journey (s) | coordinator CPU per "
          "journey: Python process / + its Playwright drivers (ms) | remote users per coordinator core: Python "
          "process / + drivers |")
    print("|---:|---:|---:|---:|---:|")
    for users, ux, own_ms, all_ms in rows:
        print(f"| {users} | {ux['n']} | {ux['journey']:.2f} | {own_ms:.0f} / {all_ms:.0f} | "
              f"{ux['journey'] * 1000 / own_ms:.0f} / {ux['journey'] * 1000 / all_ms:.0f} |")
    print(f"| bare sync Playwright client, 1 user | {logins} | {floor[0]:.2f} | {floor[1]:.0f} / {floor[2]:.0f} | "
          f"{floor[0] * 1000 / floor[1]:.0f} / {floor[0] * 1000 / floor[2]:.0f} |")


def level(demo: DemoInfo, users: int, logins: int, blocks: int, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One concurrency level: `blocks` blocks per side, alternating uxchaos and bare (who starts
    alternates too). This machine's speed drifts by tens of percent over minutes (one run's bare
    rate moved from 0.91 to 1.38 journeys/s between levels), so a side measured all at once after
    the other would carry the drift into the ratio. Rates are total logins / total wall per side."""
    attempts = max(1, logins // users // blocks)
    ux_parts: list[dict[str, Any]] = []
    bare_times: list[float] = []
    bare_wall = 0.0
    meters: dict[str, list[Meter]] = {"ux": [], "bare": []}
    for block in range(blocks):
        for side in (("ux", "bare") if block % 2 == 0 else ("bare", "ux")):
            with Meter() as m:
                if side == "ux":
                    ux_parts.append(run_uxchaos(demo, users, attempts, out / f"u{users}b{block}"))
                else:
                    times, wall = asyncio.run(bare(demo, users, attempts))
                    bare_times += times
                    bare_wall += wall
            meters[side].append(m)

    def cpu(side: list[Meter]) -> dict[str, float]:  # rates weighted by each block's wall time
        wall = sum(m.wall for m in side)
        return {k: sum(getattr(m, k) * m.wall for m in side) / wall for k in ("own", "all", "host")}

    logins_ux = [t for part in ux_parts for t in part["logins"]]
    ux = {"median": statistics.median(logins_ux), "p95": p95(logins_ux),
          "per_s": len(logins_ux) / sum(part["wall"] for part in ux_parts),
          "host_attempts": statistics.mean(part["host_attempts"] for part in ux_parts),
          "saturated": sum(part["saturated"] for part in ux_parts), "n": sum(part["n"] for part in ux_parts),
          **cpu(meters["ux"])}
    return ux, {"median": statistics.median(bare_times), "p95": p95(bare_times), "per_s": len(bare_times) / bare_wall,
                **cpu(meters["bare"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--logins", type=int, default=16, help="logins per level and side (bounded load)")
    parser.add_argument("--blocks", type=int, default=4,
                        help="per level, alternate uxchaos and the bare script in this many blocks each")
    parser.add_argument("--remote", type=int, default=0, metavar="N",
                        help="browsers on N local `uxchaos browser serve` servers; measure the coordinator's CPU")
    parser.add_argument("--no-capture", action="store_true",
                        help="without recording requests and Web Vitals (journey/capture.py, journey/vitals.py): "
                             "what they cost")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if args.no_capture:
        import uxchaos.run.engine

        uxchaos.run.engine.AttemptPlan = functools.partial(uxchaos.run.engine.AttemptPlan,  # type: ignore[misc]
                                                       capture_requests=False, capture_vitals=False)
    if args.remote:
        with demo_elsewhere() as outside:
            remote(outside, levels, args.logins, args.remote)
        return
    stack = DemoStack()
    demo = stack.start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for users in levels:
                ux, b = level(demo, users, args.logins, args.blocks, Path(tmp))
                rows.append((users, ux, b))
                print(f"users {users}: uxchaos {ux['median']:.3f}s/{ux['per_s']:.2f}/s, bare "
                      f"{b['median']:.3f}s/{b['per_s']:.2f}/s", flush=True)
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

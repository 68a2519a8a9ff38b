"""What a Playwright trace costs an attempt: the demo's login run by uxchaos's YAML runner untraced,
traced with DOM snapshots (what `--trace` records by default) and traced with snapshots and
screenshots (`--trace-screenshots`), interleaved in one run against the demo, same browser. Prints
each traced variant's median time, its paired ratio to the untraced attempt with the 95% bootstrap
interval (SciPy), and the size of its trace zip.

    python benchmarks/trace_cost.py [--rounds 40]

With `--trace slowest` (the default of `uxchaos run`) every attempt is traced, so this is what the
default adds to every timing a run reports.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from timing_overhead import JOURNEY, paired_ratio

from uxchaos.browser.session import BrowserSession
from uxchaos.demo.stack import DemoStack
from uxchaos.journey.attempt import run_attempt
from uxchaos.journey.plan import AttemptPlan
from uxchaos.scenario.loading import parse_scenario

VARIANTS = {"untraced": None, "snapshots": False, "snapshots + screenshots": True}  # name → trace_screenshots


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    journey = parse_scenario(JOURNEY, "trace_cost.yaml", env={}).journey
    with DemoStack() as info, BrowserSession() as session, tempfile.TemporaryDirectory() as tmp:
        variables = {"username": info.email, "password": info.password}
        plans = {name: AttemptPlan("before", 1, journey, info.base_url, variables, 30, Path(tmp),
                                   trace_dir=None if shots is None else Path(tmp), trace_screenshots=bool(shots),
                                   secrets={info.password})
                 for name, shots in VARIANTS.items()}
        timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
        sizes: dict[str, list[int]] = {name: [] for name in VARIANTS}

        def once(name: str) -> float:
            sample = run_attempt(session, plans[name], lambda: False)
            assert sample.ok, sample.failure
            if sample.captured.trace is not None:
                zipped = Path(tmp) / sample.captured.trace
                sizes[name].append(zipped.stat().st_size)
                zipped.unlink()
            return sample.duration_s

        names = list(VARIANTS)
        for name in names * 2:  # warm-up, not counted
            once(name)
        for i in range(args.rounds):  # interleaved, rotating who goes first
            for name in names[i % len(names):] + names[:i % len(names)]:
                timings[name].append(once(name))
    base = timings["untraced"]
    print(f"login journey (YAML runner), {args.rounds} rounds each, interleaved, same browser and demo")
    print(f"  untraced                : median {statistics.median(base) * 1000:8.1f} ms")
    for name in names[1:]:
        paired, low, high = paired_ratio(timings[name], base)
        print(f"  {name:24}: median {statistics.median(timings[name]) * 1000:8.1f} ms, "
              f"{paired:.3f} of untraced paired per round "
              f"(95% interval {low:.3f}–{high:.3f}), trace zip {statistics.median(sizes[name]) / 1000:.0f} kB")


if __name__ == "__main__":
    main()

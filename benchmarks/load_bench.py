"""The same locustfile against the same target, run by bare `locust --headless` and by uxchaos's load
machinery (uxchaos.load.process: the Locust child that reports every second), interleaved round by
round: prints each one's request rate and the paired ratio uxchaos / bare with its 95% interval.

The target is a small threaded HTTP server in its own process on 127.0.0.1; both sides get the same
users, spawn rate and duration, and both rates are counted from the moment every user has started
(bare Locust's per-second history CSV; uxchaos's `load` records), so the ramp counts for neither.

    python benchmarks/load_bench.py [--rounds 6] [--users 10] [--seconds 8]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing_overhead import paired_ratio

from uxchaos.load.process import LocustProcesses
from uxchaos.util.netutil import free_port, http_ok, wait_until

LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.05)

    @task
    def index(self):
        self.client.get("/")
"""


def bare(locustfile: Path, host: str, users: int, seconds: float, folder: Path) -> float:
    """`locust --headless`; requests per second after the ramp, from its per-second history."""
    prefix = folder / "bare"
    subprocess.run([sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
                    "-r", str(users), "-t", f"{seconds + 1:g}s", "--host", host, "--csv", str(prefix),
                    "--csv-full-history", "--only-summary", "--loglevel", "WARNING"],
                   check=False, capture_output=True, timeout=seconds + 60)
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated" and int(r["User Count"]) == users]
    if len(rows) < 2:
        raise RuntimeError("bare Locust wrote too little history")
    span = float(rows[-1]["Timestamp"]) - float(rows[0]["Timestamp"])
    return (int(rows[-1]["Total Request Count"]) - int(rows[0]["Total Request Count"])) / span


def through_uxchaos(locustfile: Path, host: str, users: int, seconds: float, folder: Path) -> float:
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(record: dict[str, Any]) -> None:
        with lock:
            records.append(record)

    processes = LocustProcesses(locustfile, host, users, float(users), folder / "locust.log", keep)
    processes.start()
    try:
        processes.wait_ramped(60)
        time.sleep(seconds + 1)
    finally:
        processes.stop()
    stats = [r for r in records if r["kind"] == "stats" and r["users"] == users and not r.get("final")][1:]
    n = sum(s["n"] for r in stats for s in r["requests"].values())
    return n / sum(r["interval_s"] for r in stats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        locustfile = folder / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        (folder / "index.html").write_text("<html><body>ok</body></html>")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: http_ok(host + "/"), 30, "the target")
            rates: dict[str, list[float]] = {"bare": [], "uxchaos": []}
            for i in range(args.rounds):
                order = [("bare", bare), ("uxchaos", through_uxchaos)]
                for name, run in order if i % 2 == 0 else order[::-1]:
                    rates[name].append(run(locustfile, host, args.users, args.seconds, folder))
                print(f"round {i + 1}: bare {rates['bare'][-1]:.1f}/s, uxchaos {rates['uxchaos'][-1]:.1f}/s",
                      flush=True)
        finally:
            server.terminate()
            server.wait(10)
    ratio, low, high = paired_ratio(rates["uxchaos"], rates["bare"])
    print(f"\n{args.rounds} rounds, {args.users} users, {args.seconds:g}s each: request rate uxchaos / bare Locust "
          f"= {ratio:.3f} [{low:.3f}–{high:.3f}] (median of paired ratios, 95% bootstrap interval)")


if __name__ == "__main__":
    main()

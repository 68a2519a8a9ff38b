"""The load panel under the report's timeline: Locust's requests and failures per second and the p95
of each second's requests, on the same time axis as the browser attempts."""

from __future__ import annotations

from typing import Any

from uxchaos.load.stats import percentile_ms


def load_panel(ax: Any, records: list[dict[str, Any]], start: float) -> None:
    # the last, partial second of a stopping Locust would show as a spike or a dip: whole seconds only
    records = [r for r in records if float(r.get("interval_s") or 0.0) >= 0.5]
    xs = [float(r["time"]) - start for r in records]
    ax.plot(xs, [r.get("rps", 0.0) for r in records], lw=1.2, color="#4c78a8", label="requests/s")
    ax.plot(xs, [r.get("fail_per_s", 0.0) for r in records], lw=1.2, color="#e45756", label="failures/s")
    ax.set_ylabel("Locust /s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    p95 = ax.twinx()
    values = []
    for r in records:
        hist: dict[int, int] = {}
        for stats in r.get("requests", {}).values():
            for ms, count in stats.get("hist", {}).items():
                hist[int(ms)] = hist.get(int(ms), 0) + int(count)
        found = percentile_ms(hist, 0.95)
        values.append(None if found is None else found / 1000)
    p95.plot(xs, [float("nan") if v is None else v for v in values], lw=1, ls="--", color="#333", label="p95 (s)")
    p95.set_ylabel("p95 (s)")
    p95.set_ylim(bottom=0)
    lines = ax.get_lines() + p95.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper left", bbox_to_anchor=(1.08, 1),
              frameon=False)

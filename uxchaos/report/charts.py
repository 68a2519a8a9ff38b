"""Charts as inline SVG, drawn with matplotlib (no network, no scripts in the page)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from uxchaos.analysis.summary import Analysis
from uxchaos.report.loadchart import load_panel
from uxchaos.results.rundata import RunData
from uxchaos.scenario.model import PHASES

matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "uxchaos"})
PHASE_COLORS = {"before": "#4c78a8", "during": "#e45756", "after": "#54a24b"}


def label(text: str) -> str:
    """matplotlib reads $…$ as math: keep user text literal."""
    return text.replace("$", r"\$")


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined in HTML


def timeline(run: RunData, analysis: Analysis) -> str:
    """Every sample: x = wall-clock seconds since the run started, y = action duration."""
    start = run.meta.get("started_at") or min((s.started_at for s in run.samples), default=0)
    with_users = any(s.generator.user is not None for s in run.samples)
    with_load = bool(run.load_records)
    # Below the timeline, on the same time axis: how many users were busy, and the Locust load.
    ratios = [3.0] + ([1.2] if with_users else []) + ([1.6] if with_load else [])
    fig, axes = plt.subplots(len(ratios), 1, figsize=(9, 3.6 + 1.4 * (len(ratios) - 1)), sharex=True,
                             height_ratios=ratios, squeeze=False)
    ax = axes[0][0]
    if with_users:
        active_users(axes[1][0], run, start)
    if with_load:
        load_panel(axes[-1][0], run.load_records, start)
        axes[-1][0].set_xlabel("seconds since the run started")
    injected = next((e["time"] for e in run.events if e["event"] == "injected"), None)
    reverted = next((e["time"] for e in run.events if e["event"] == "reverted"), None)
    if injected is not None:
        end = reverted if reverted is not None else max((s.ended_at for s in run.samples), default=injected)
        ax.axvspan(injected - start, end - start, color="#e45756", alpha=0.12, label="fault active")
        ax.axvline(injected - start, color="#e45756", lw=1, ls="--")
    if reverted is not None:
        ax.axvline(reverted - start, color="#54a24b", lw=1, ls="--", label="reverted")
        recovered = [r.seconds for r in analysis.recovery.values() if r.seconds is not None]
        if recovered:
            ax.axvline(reverted - start + max(recovered), color="#333", lw=1, ls=":", label="recovered")
    for action in run.actions:
        xs: list[float] = []
        ys: list[float] = []
        fx: list[float] = []
        fy: list[float] = []
        for s in run.samples:
            timing = next((a for a in s.actions if a.name == action), None)
            if timing is None or timing.duration_s is None:
                continue
            (xs if timing.ok else fx).append(s.started_at - start)
            (ys if timing.ok else fy).append(timing.duration_s)
        line = ax.plot(xs, ys, marker="o", ms=4, lw=1, label=label(action))[0]
        if fx:
            ax.scatter(fx, fy, marker="x", color=line.get_color(), s=40, label=label(f"{action} (failed)"))
    if len(ratios) == 1:
        ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("duration (s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return _svg(fig)


def steps_over_time(spans: list[tuple[float, float]]) -> tuple[list[float], list[int]]:
    """How many of the spans (start, end) are open at each moment: the times where the count changes
    and the count from each on (a step function, starting and ending at 0)."""
    changes = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda c: (c[0], c[1]))
    xs: list[float] = []
    ys: list[int] = []
    level = 0
    for t, delta in changes:
        level += delta
        if xs and xs[-1] == t:
            ys[-1] = level
        else:
            xs.append(t)
            ys.append(level)
    return xs, ys


def active_users(ax: plt.Axes, run: RunData, start: float) -> None:
    """Users busy with an attempt at each moment; for an open model also the journeys that were due but
    waited for a free user (they started late)."""
    xs, ys = steps_over_time([(s.started_at - start, s.ended_at - start) for s in run.samples
                              if s.generator.user is not None])
    ax.step(xs, ys, where="post", color="#4c78a8", lw=1.2, label="users busy")
    schedules = [s.schedule for s in run.samples]
    waiting = [(t.scheduled_at - start, t.scheduled_at - start + (t.late_ms or 0.0) / 1000) for t in schedules
               if t.scheduled_at is not None and t.started_late]
    if waiting:
        wx, wy = steps_over_time(waiting)
        ax.step(wx, wy, where="post", color="#e45756", lw=1.2, ls="--", label="due, waiting for a free user")
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def distributions(run: RunData) -> str:
    """Per action, the spread of durations in each phase (box + every sample)."""
    n = max(1, len(run.actions))
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, action in zip(axes[0], run.actions or ["(none)"], strict=False):
        data = [run.action_durations(action, p) for p in PHASES]
        ax.boxplot([d or [float("nan")] for d in data], tick_labels=list(PHASES), widths=0.5)
        for i, (phase, values) in enumerate(zip(PHASES, data, strict=True), start=1):
            ax.scatter([i] * len(values), values, color=PHASE_COLORS[phase], s=14, zorder=3)
        ax.set_title(label(action))
        ax.set_ylabel("duration (s)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _svg(fig)


def dose_response(analysis: Analysis) -> str:
    """Action time against the swept level: each level's median with its interval, and the fit."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for c in analysis.curves:
        xs = [lv.level for lv in c.levels if lv.median is not None]
        ys = [lv.median for lv in c.levels if lv.median is not None]
        low = [(lv.median - lv.ci_low) if lv.ci_low is not None and lv.median is not None else 0.0
               for lv in c.levels if lv.median is not None]
        high = [(lv.ci_high - lv.median) if lv.ci_high is not None and lv.median is not None else 0.0
                for lv in c.levels if lv.median is not None]
        bars = ax.errorbar(xs, ys, yerr=[low, high], fmt="o", capsize=3, label=label(c.action))
        if c.slope is not None and c.intercept is not None and xs:
            line_x = [min(xs), max(xs)]
            ax.plot(line_x, [c.intercept + c.slope * x for x in line_x], ls="--", lw=1, color=bars[0].get_color())
        if c.threshold is not None:
            ax.axhline(c.threshold.limit_s, color="#999", lw=0.8, ls=":")
    first = analysis.curves[0] if analysis.curves else None
    unit = " (s)" if first is not None and first.unit == "s" else ""
    ax.set_xlabel(label(f"{first.param}{unit}" if first else "level"))
    ax.set_ylabel("action time (s)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _svg(fig)


WAIT_COLOR, TRANSFER_COLOR, CONNECT_COLOR = "#e45756", "#4c78a8", "#bbbbbb"


def waterfall(run: RunData, action: str, phases: tuple[str, str] = ("before", "during")) -> str | None:
    """A median attempt of each phase side by side on one time scale: each request a bar from its start,
    split into connecting, waiting for the server and transfer; the dashed line is where the action ended.
    None when a phase has no attempt with recorded requests."""
    from uxchaos.analysis.attribution import collapse_path, median_attempt

    picked = [(p, median_attempt(run.samples, p, action)) for p in phases]
    if any(s is None for _, s in picked):
        return None
    rows = max(1, max(sum(1 for r in s.captured.requests or [] if r.get("action") == action) for _, s in picked if s))
    fig, axes = plt.subplots(1, len(picked), figsize=(11, 1.2 + 0.28 * min(rows, 40)), sharex=True, squeeze=False)
    for ax, (phase, sample) in zip(axes[0], picked, strict=True):
        assert sample is not None
        records = [r for r in sample.captured.requests or [] if r.get("action") == action][:40]
        timing = next(a for a in sample.actions if a.name == action)
        names = []
        for y, r in enumerate(records):
            start = float(r.get("start_ms") or 0.0) / 1000
            left = start
            for key, color in (("connect_ms", CONNECT_COLOR), ("wait_ms", WAIT_COLOR), ("download_ms", TRANSFER_COLOR)):
                width = float(r.get(key) or 0.0) / 1000
                if width > 0:
                    ax.barh(y, width, left=left, color=color, height=0.6)
                left += width
            if r.get("failure"):
                ax.plot([start], [y], marker="x", color="#000")
            names.append(label(f"{r.get('method', '?')} {collapse_path(str(r.get('url', '')))}"[:48]))
        ax.axvline(timing.duration_s or 0.0, color="#333", lw=1, ls="--")
        ax.set_yticks(range(len(records)), names if records else [])
        ax.invert_yaxis()
        ax.set_title(label(f"{phase} #{sample.attempt}: {timing.duration_s or 0.0:.2f} s"))
        ax.set_xlabel("seconds since the action started")
        ax.grid(alpha=0.3, axis="x")
        ax.set_xlim(left=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (CONNECT_COLOR, WAIT_COLOR, TRANSFER_COLOR)]
    fig.legend(handles, ["connecting", "waiting for the server", "transfer"], loc="lower center", ncol=3,
               frameon=False, bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return _svg(fig)

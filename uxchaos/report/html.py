"""report.html: one self-contained file (no scripts, no fonts, no network) with the charts, the
statistics, the expectations and the fault timeline. Every text from a scenario, the app or the
browser is escaped."""

from __future__ import annotations

import datetime as dt
from html import escape

from uxchaos.analysis import Analysis
from uxchaos.report import charts
from uxchaos.report.data import RunData
from uxchaos.report.markdown import fmt_ratio, fmt_s, fmt_value

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child,td.t{text-align:left}.pass{color:#1a7f37}.fail{color:#c00;font-weight:bold}
figure{margin:1em 0}svg{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 .2em}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    def td(c: str) -> str:  # numbers right-aligned, words left
        numeric = c.replace(".", "", 1).replace("×", "").replace("–", "").strip().split(" ")[0].isdigit() or c == "–"
        return f"<td>{c}</td>" if numeric else f"<td class='t'>{c}</td>"

    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _dose_response(analysis: Analysis) -> list[str]:
    if not analysis.curves:
        return []
    from uxchaos.report.markdown import format_level, slope_text, threshold_text

    first = analysis.curves[0]
    rows = [[escape(c.action)] + [f"{lv.median:.2f}" if lv.median is not None else "–" for lv in c.levels]
            + [escape(slope_text(c)), escape(threshold_text(c) or "–")] for c in analysis.curves]
    return ["<h2>Dose–response</h2><p>Median seconds per action at each level; the dashed line is a Theil–Sen "
            "fit through every successful attempt (for a delay, its slope is the number of sequential round "
            "trips).</p>",
            f"<figure class='chart' id='dose-response'>{charts.dose_response(analysis)}</figure>",
            _table(["Action", *[f"{first.param} {format_level(lv.level, first.unit)}" for lv in first.levels],
                    "Slope", "Threshold"], rows)]


def _attribution(run: RunData, analysis: Analysis) -> list[str]:
    if not analysis.attribution:
        return []
    from uxchaos.report.markdown import ATTRIBUTION_INTRO, fmt_opt

    out = ["<h2>Why it got slower</h2>", f"<p>{escape(ATTRIBUTION_INTRO.replace('*', ''))}</p><ul>"]
    out += [f"<li><b>{escape(a.head())}</b>: {escape(a.detail())}</li>" for a in analysis.attribution]
    out.append("</ul>")
    for a in analysis.attribution:
        rows = [[escape(r.key), fmt_opt(r.before_s), fmt_opt(r.during_s), f"{r.wait_s:+.3f}", f"{r.transfer_s:+.3f}",
                 escape(f"only {r.only}" if r.only else "")] for r in a.requests]
        rows.append(["browser-side", "", "", "", "", escape(f"{a.rest_s:+.3f} s of {a.delta_s:+.3f} s")])
        chart = charts.waterfall(run, a.action)
        out.append(f"<h3>{escape(a.action)}</h3>")
        if chart:
            out.append(f"<figure class='chart waterfall'>{chart}</figure>")
        out.append(_table(["Request", "Before (s)", "During (s)", "Server wait Δ (s)", "Transfer Δ (s)", "Note"],
                          rows))
    return out


def render_html(run: RunData, analysis: Analysis) -> str:
    scenario = run.meta.get("scenario", {})
    name = escape(str(scenario.get("name", "?")))
    started = run.meta.get("started_at")
    when = f"{dt.datetime.fromtimestamp(started, dt.UTC):%Y-%m-%d %H:%M:%S} UTC" if started else "?"
    fault = next((e.get("fault") for e in run.events if e["event"] == "inject_requested"), None)
    stats_rows = [
        [escape(r.action), escape(r.phase), str(r.stats.n), str(r.stats.failures), fmt_s(r.stats.median),
         fmt_s(r.stats.p90), fmt_s(r.stats.p95), fmt_s(r.stats.min), fmt_s(r.stats.max), fmt_s(r.stats.std),
         fmt_ratio(r.vs_before), escape(r.vs_before.verdict if r.vs_before else "baseline")]
        for r in analysis.rows
    ]
    exp_rows = [[f"<code>{escape(e.text)}</code>",
                 f"<span class='{'pass' if e.passed else 'fail'}'>{'pass' if e.passed else 'FAIL'}</span>",
                 escape(", ".join(f"{k} = {fmt_value(v)}" for k, v in e.values.items()) or e.message)]
                for e in analysis.expectations]
    rec_rows = [[escape(a), fmt_s(r.seconds), escape(r.verdict)] for a, r in analysis.recovery.items()]
    start = started or 0
    event_rows = [[escape(dt.datetime.fromtimestamp(e["time"], dt.UTC).strftime("%H:%M:%S.%f")[:-3]),
                   f"{e['time'] - start:.2f}", escape(str(e["event"])),
                   escape(", ".join(f"{k}: {v}" for k, v in e.items() if k not in ("event", "time")))]
                  for e in run.events]
    failures = "".join(
        f"<li>{escape(s.phase)} #{s.attempt}, {escape(s.failed_action or '?')}: {escape(s.failure or '')}"
        + (f" — <a href='screenshots/{escape(s.screenshot)}'>screenshot</a>" if s.screenshot else "") + "</li>"
        for s in run.samples if not s.ok)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src 'self' data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>uxchaos: {name}</title><style>{CSS}</style></head><body>",
        f"<h1>uxchaos report: {name}</h1><p>{escape(str(scenario.get('description', '')))}</p>",
        f"<p>Run {escape(when)}, status <b>{escape(str(run.meta.get('status', '?')))}</b>, target "
        f"<code>{escape(str(run.meta.get('base_url', '?')))}</code>. Fault: {escape(str(fault or 'none'))}.</p>",
        "<h2>Timeline</h2><p>Every attempt: when it started and how long each action took; the shaded band is "
        "the fault window.</p>",
        f"<figure class='chart' id='timeline'>{charts.timeline(run, analysis)}</figure>",
        "<h2>Distributions</h2>",
        f"<figure class='chart' id='distributions'>{charts.distributions(run)}</figure>",
        "<h2>Expectations</h2>",
        _table(["Expectation", "Result", "Measured"], exp_rows) if exp_rows else "<p>None.</p>",
        "<h2>Statistics</h2><p>Successful, non-straddled attempts; ratio = median / before-phase median, "
        "with a bootstrap 95% interval; verdict from a Mann–Whitney U test and Cliff's delta.</p>",
        _table(["Action", "Phase", "n", "Failures", "Median (s)", "p90", "p95", "Min", "Max", "Std",
                "Ratio [95% CI]", "Verdict"], stats_rows),
        "<h2>Recovery</h2>", _table(["Action", "Recovery (s)", "Verdict"], rec_rows),
        *_dose_response(analysis),
        *_attribution(run, analysis),
        "<h2>Fault timeline</h2>",
        _table(["Time (UTC)", "+s", "Event", "Details"], event_rows) if event_rows else "<p>No fault events.</p>",
    ]
    if failures:
        parts.append(f"<h2>Failures</h2><ul>{failures}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)

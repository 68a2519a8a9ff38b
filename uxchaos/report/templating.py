"""The Jinja2 side of the reports: one template folder in the package (uxchaos/report/templates/),
overridable file by file with `--templates DIR` (a file there replaces the package's file of the same
name; the others still come from the package). `*.html.j2` templates are autoescaped; markdown
templates escape table cells with the `cell` filter. The formatting helpers live here so every
template formats numbers, times and fault details the same way."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from uxchaos.analysis.stats import Comparison
from uxchaos.errors import BadInput
from uxchaos.util.durations import format_level


def cell(value: Any) -> str:
    """Escape text for a markdown table cell: pipes and line breaks would break the table, and
    markdown viewers render raw HTML."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def fmt_s3(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def fmt_value(value: float | int | None) -> str:
    """Counts as counts, times with two decimals."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else fmt_s(value)


def fmt_ratio(c: Comparison | None) -> str:
    if c is None or c.ratio is None:
        return "–"
    ci = f" [{c.ci_low:.2f}–{c.ci_high:.2f}]" if c.ci_low is not None and c.ci_high is not None else ""
    return f"{c.ratio:.2f}×{ci}"


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def readable(value: Any) -> str:
    """Fault details as text, not Python reprs: {"latency": "200ms", "connect": False} →
    "latency 200ms, connect no"; nested mappings in parentheses."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_nested(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_nested(v) for v in value)
    return str(value)


def _nested(value: Any) -> str:
    return f"({readable(value)})" if isinstance(value, dict | list | tuple) and len(value) > 1 else readable(value)


def event_details(event: dict[str, Any]) -> str:
    """Everything of a fault event but its name and time, readable: "reason during phase finished; removed …"."""
    details = {k: v for k, v in event.items() if k not in ("event", "time")}
    inner = details.pop("details", None)
    if isinstance(inner, dict):
        details.update(inner)
    elif inner is not None:
        details["details"] = inner
    return "; ".join(_field(k, v) for k, v in details.items() if v is not None)


def _field(key: str, value: Any) -> str:
    """"observed_ms", 189.6 → "observed 189.6 ms"; nested mappings in parentheses."""
    for suffix, unit in (("_ms", "ms"), ("_s", "s")):
        if key.endswith(suffix) and isinstance(value, int | float) and not isinstance(value, bool):
            return f"{key[:-len(suffix)].replace('_', ' ')} {readable(value)} {unit}"
    return f"{key.replace('_', ' ')} {_nested(value)}"


def environment(templates: Path | None = None) -> Environment:
    loaders: list[Any] = []
    if templates is not None:
        if not templates.is_dir():
            raise BadInput(f"--templates {templates}: not a folder (it should hold report.md.j2, report.html.j2, …)")
        loaders.append(FileSystemLoader(str(templates)))
    loaders.append(PackageLoader("uxchaos.report", "templates"))
    env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True,
                      autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False))
    env.filters.update(cell=cell, s=fmt_s, s3=fmt_s3, value=fmt_value, ratio=fmt_ratio, utc=utc, readable=readable,
                       format_level=format_level)
    env.globals.update(event_details=event_details, format_level=format_level)
    return env


def render(name: str, templates: Path | None = None, **context: Any) -> str:
    from jinja2 import TemplateError

    try:
        return environment(templates).get_template(name).render(**context)
    except TemplateError as e:
        where = f" (from {templates})" if templates is not None else ""
        raise BadInput(f"template {name}{where}: {type(e).__name__}: {e}") from None

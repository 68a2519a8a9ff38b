"""Durations written by people: "2s", "2000ms", "1m30s", "1.5s" — and arrival rates: "2/s", "120/min".
Bare numbers are refused."""

from __future__ import annotations

import re

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_duration(text: object) -> float:
    """Return seconds. Accepts one or more `<number><unit>` parts with units us, ms, s, m, h."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise DurationError(f"expected a duration such as '2s' or '2000ms', got {text!r}")
    if isinstance(text, (int, float)):
        raise DurationError(
            f"a bare number ({text}) has no unit: write '{text}ms' or '{text}s'"
        )
    s = text.strip().replace(" ", "")
    if s.startswith("-"):
        raise DurationError(f"durations cannot be negative: {text!r}")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        raise DurationError(f"'{text}' has no unit: write '{s}ms' or '{s}s'")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise DurationError(
            f"cannot read {text!r} as a duration: use a number and a unit (us, ms, s, m, h), "
            "e.g. '2s', '2000ms', '1m30s'"
        )
    return total


_RATE_UNITS_S = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RATE = re.compile(r"(\d+(?:\.\d+)?)/(s|sec|min|m|h)")


def parse_rate(text: object) -> float:
    """An arrival rate written by people ("2/s", "120/min", "0.5/s", "900/h"): events per second."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise DurationError(f"expected an arrival rate such as '2/s' or '120/min', got {text!r}")
    if isinstance(text, (int, float)):
        raise DurationError(f"a bare number ({text}) has no unit: write '{text}/s' or '{text}/min'")
    s = text.strip().replace(" ", "")
    if s.startswith("-"):
        raise DurationError(f"an arrival rate cannot be negative: {text!r}")
    m = _RATE.fullmatch(s)
    if m is None:
        raise DurationError(f"cannot read {text!r} as an arrival rate: write journeys per second, minute or hour, "
                            "e.g. '2/s', '120/min', '900/h'")
    rate = float(m.group(1)) / _RATE_UNITS_S[m.group(2)]
    if rate <= 0:
        raise DurationError(f"an arrival rate must be more than 0, got {text!r}")
    return rate


def format_rate(per_s: float) -> str:
    """2.0 -> '2/s', 0.5 -> '30/min'."""
    if per_s >= 1 or per_s * 60 != round(per_s * 60):
        return f"{per_s:g}/s"
    return f"{per_s * 60:g}/min"


def format_level(value: float | None, unit: str) -> str:
    """One level of a swept fault: a duration when its unit is seconds, else the number."""
    if value is None:
        return "–"
    return format_duration(value) if unit == "s" else f"{value:g}"


def format_duration(seconds: float) -> str:
    """Short human form: 2000ms -> '2s', 0.3 -> '300ms'."""
    if seconds < 1 and seconds * 1000 == round(seconds * 1000):
        return f"{round(seconds * 1000)}ms"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3g}s"

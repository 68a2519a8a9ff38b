"""Typed parameters shared by steps and fault drivers: one converter per kind, each raising
ValueError with a message that says what is allowed."""

from __future__ import annotations

import signal
from typing import Any

from uxchaos.util.durations import parse_duration, parse_rate


def convert(kind: str | tuple[str, ...], value: Any) -> Any:
    """Convert a YAML value to the parameter kind; tuple kinds are a list of allowed words."""
    if isinstance(kind, tuple):
        if value not in kind:
            raise ValueError(f"must be one of {', '.join(kind)}, got {value!r}")
        return value
    if kind == "text":
        if isinstance(value, (dict, list)) or value is None:
            got = "nothing" if value is None else ("a mapping" if isinstance(value, dict) else "a list")
            raise ValueError(f"must be a text, got {got}")
        return str(value)
    if kind == "duration":
        return parse_duration(value)
    if kind == "rate":
        return parse_rate(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {value!r}")
        return float(value)
    if kind == "probability":
        number = convert("float", value)
        if not 0 <= number <= 1:
            raise ValueError(f"must be a probability from 0.0 to 1.0, got {value!r}")
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if kind == "signal":
        name = str(value).upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        if not hasattr(signal.Signals, name) or isinstance(value, bool):
            raise ValueError(f"unknown signal {value!r}: use a name such as SIGKILL, SIGTERM, SIGINT")
        return name
    raise AssertionError(f"unknown parameter kind {kind}")

"""Toxics: the faults the proxy applies to a stream. One small class each, behind a registry.

Semantics (stated in the README too):
- `stream` is the direction a toxic acts on: ``upstream`` = client → service, ``downstream`` =
  service → client (Toxiproxy's words), ``both``.
- `toxicity` is decided once per connection and toxic, as in Toxiproxy.
- latency delays *every chunk* by `latency` ± `jitter` (uniform). Chunks of one stream keep their order.
  With ``connect: true`` the connection set-up to the service is delayed once as well, like netem
  delaying the TCP handshake; Toxiproxy never does that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.durations import DurationError, format_duration, parse_duration

STREAMS = ("upstream", "downstream", "both")


class ToxicError(ValueError):
    """A toxic specification that cannot be used; the message says what is allowed."""


@dataclass
class Toxic:
    name: str
    stream: str = "downstream"
    toxicity: float = 1.0

    kind: ClassVar[str] = ""
    attributes_help: ClassVar[str] = ""

    def covers(self, direction: str) -> bool:
        return self.stream == "both" or self.stream == direction

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        raise NotImplementedError

    def attributes(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes(),
        }


TOXICS: dict[str, type[Toxic]] = {}


def register(cls: type[Toxic]) -> type[Toxic]:
    TOXICS[cls.kind] = cls
    return cls


def _duration(attrs: dict[str, Any], key: str, default: str | None = None) -> float:
    raw = attrs.pop(key, default)
    if raw is None:
        raise ToxicError(f"attribute '{key}' is required (a duration such as '2s' or '2000ms')")
    try:
        return parse_duration(raw)
    except DurationError as e:
        raise ToxicError(f"attribute '{key}': {e}") from None


def _no_leftovers(kind: str, attrs: dict[str, Any], allowed: str) -> None:
    if attrs:
        raise ToxicError(f"unknown attribute(s) for {kind}: {', '.join(sorted(attrs))}; allowed: {allowed}")


@register
@dataclass
class Latency(Toxic):
    latency_s: float = 0.0
    jitter_s: float = 0.0
    connect: bool = False

    kind: ClassVar[str] = "latency"
    attributes_help: ClassVar[str] = "latency (duration), jitter (duration, default 0ms), connect (bool)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        latency = _duration(attrs, "latency")
        jitter = _duration(attrs, "jitter", "0ms")
        connect = attrs.pop("connect", False)
        if not isinstance(connect, bool):
            raise ToxicError("attribute 'connect' must be true or false")
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        if jitter > latency:
            raise ToxicError(f"jitter ({format_duration(jitter)}) cannot exceed latency ({format_duration(latency)})")
        return cls(name, stream, toxicity, latency, jitter, connect)

    def sample_delay(self, rng: random.Random) -> float:
        if self.jitter_s:
            return max(0.0, self.latency_s + rng.uniform(-self.jitter_s, self.jitter_s))
        return self.latency_s

    def attributes(self) -> dict[str, Any]:
        return {
            "latency": format_duration(self.latency_s),
            "jitter": format_duration(self.jitter_s),
            "connect": self.connect,
        }


@register
@dataclass
class Bandwidth(Toxic):
    rate_bytes_per_s: float = 0.0

    kind: ClassVar[str] = "bandwidth"
    attributes_help: ClassVar[str] = "rate (bytes per second, integer > 0, or '100kbit', '1mbit', '64KB')"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        raw = attrs.pop("rate", None)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, parse_rate(raw))

    def attributes(self) -> dict[str, Any]:
        return {"rate": int(self.rate_bytes_per_s)}


_RATE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1_000_000, "kbit": 125, "mbit": 125_000, "gbit": 125_000_000}


def parse_rate(raw: object) -> float:
    """Bytes per second from an integer or a string with a unit (KB, MB, kbit, mbit, gbit)."""
    if isinstance(raw, bool) or raw is None:
        raise ToxicError("attribute 'rate' is required: bytes per second, or e.g. '100kbit', '64KB'")
    if isinstance(raw, (int, float)):
        value, unit = float(raw), ""
    else:
        text = str(raw).strip().lower()
        num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        value_text, unit = num, text[len(num):]
        try:
            value = float(value_text)
        except ValueError:
            raise ToxicError(f"cannot read rate {raw!r}: use bytes per second or e.g. '100kbit', '64KB'") from None
        if unit not in _RATE_UNITS:
            raise ToxicError(f"unknown rate unit in {raw!r}: use one of KB, MB, kbit, mbit, gbit")
    rate = value * _RATE_UNITS[unit]
    if rate <= 0:
        raise ToxicError(f"rate must be greater than 0, got {raw!r}")
    return rate


@dataclass
class _TimedToxic(Toxic):
    """A toxic with one `timeout` attribute (a duration, default 0ms)."""

    timeout_s: float = 0.0

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        timeout = _duration(attrs, "timeout", "0ms")
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, timeout)

    def attributes(self) -> dict[str, Any]:
        return {"timeout": format_duration(self.timeout_s)}


@register
@dataclass
class Timeout(_TimedToxic):
    """Swallow all data; the connection stays open (closed after `timeout` when that is > 0)."""

    kind: ClassVar[str] = "timeout"
    attributes_help: ClassVar[str] = "timeout (duration; 0ms = keep the connection open for ever)"


@register
@dataclass
class Reset(_TimedToxic):
    """Reset connections (TCP RST) after `timeout`; new connections are reset as they arrive."""

    kind: ClassVar[str] = "reset"
    attributes_help: ClassVar[str] = "timeout (duration before the reset, default 0ms)"


@register
@dataclass
class Down(Toxic):
    """The service is gone: new connections are refused, existing ones closed."""

    kind: ClassVar[str] = "down"
    attributes_help: ClassVar[str] = "(none)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, "both", 1.0)


def toxic_from_spec(spec: dict[str, Any]) -> Toxic:
    if not isinstance(spec, dict):
        raise ToxicError(f"a toxic is a mapping with 'type' and 'attributes', got {type(spec).__name__}")
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in TOXICS:
        raise ToxicError(f"unknown toxic type {kind!r}; allowed: {', '.join(sorted(TOXICS))}")
    name = str(spec.pop("name", None) or f"{kind}_{spec.get('stream', 'downstream')}")
    stream = spec.pop("stream", "downstream")
    if stream not in STREAMS:
        raise ToxicError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    toxicity = spec.pop("toxicity", 1.0)
    if isinstance(toxicity, bool) or not isinstance(toxicity, (int, float)) or not 0 <= toxicity <= 1:
        raise ToxicError(f"toxicity is a probability from 0.0 to 1.0, got {toxicity!r}")
    attrs = spec.pop("attributes", {}) or {}
    if not isinstance(attrs, dict):
        raise ToxicError("attributes must be a mapping")
    if spec:
        raise ToxicError(f"unknown key(s) {', '.join(sorted(spec))}; allowed: type, name, stream, toxicity, attributes")
    return TOXICS[kind].from_attributes(name, stream, float(toxicity), dict(attrs))

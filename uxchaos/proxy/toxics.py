"""Toxics: the faults the proxy applies to a stream. One small class each, behind a registry keyed
by Toxiproxy's type names, with Toxiproxy's attribute names and units.

Semantics (stated in docs/proxy.md too):
- `stream` is the direction a toxic acts on: ``upstream`` = client → service, ``downstream`` =
  service → client (Toxiproxy's words); uxchaos adds ``both``.
- `toxicity` is decided once per connection and toxic, as in Toxiproxy — except for the HTTP toxics,
  which decide it for every request (keep-alive connections carry many).
- Times are integer (or fractional) milliseconds as in Toxiproxy; uxchaos also reads duration
  strings such as "2s". Bandwidth `rate` is KB/s (1 KB = 1000 bytes) as in Toxiproxy; uxchaos also
  reads "100kbit", "1mbit", "64KB".
- latency delays *every chunk* by `latency` ± `jitter` (uniform). Chunks of one stream keep their
  order. With ``connect: true`` (uxchaos's addition) the connection set-up to the service is
  delayed once as well, like netem delaying the TCP handshake; Toxiproxy never does that.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.util.durations import DurationError, parse_duration

STREAMS = ("upstream", "downstream", "both")
ENVELOPE = ("type", "name", "stream", "toxicity", "attributes")


class ToxicError(ValueError):
    """A toxic specification that cannot be used; the message names the field and what is allowed."""


@dataclass
class Toxic:
    name: str
    stream: str = "downstream"
    toxicity: float = 1.0

    kind: ClassVar[str] = ""
    attributes_help: ClassVar[str] = ""
    http: ClassVar[bool] = False  # acts on HTTP/1.x requests and responses, not on raw chunks

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


def _millis(attrs: dict[str, Any], key: str, default: float | None = None) -> float:
    """Seconds from Toxiproxy's milliseconds (a number) or a duration string ('2s', '150ms')."""
    raw = attrs.pop(key, default)
    if raw is None:
        raise ToxicError(f"attribute '{key}' is required: milliseconds (e.g. 2000) or a duration such as '2s'")
    if isinstance(raw, bool):
        raise ToxicError(f"attribute '{key}': milliseconds or a duration, got {raw!r}")
    if isinstance(raw, (int, float)):
        if raw < 0:
            raise ToxicError(f"attribute '{key}' cannot be negative, got {raw!r}")
        return raw / 1000
    try:
        return parse_duration(raw)
    except DurationError as e:
        raise ToxicError(f"attribute '{key}': {e}; or a number of milliseconds") from None


def _count(attrs: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    raw = attrs.pop(key, default)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int):
        raise ToxicError(f"attribute '{key}' must be a whole number, got {raw!r}")
    if raw < minimum:
        raise ToxicError(f"attribute '{key}' must be at least {minimum}, got {raw}")
    return raw


def _ms(seconds: float) -> int | float:
    """Toxiproxy writes milliseconds as integers; keep a fraction only when there is one."""
    ms = round(seconds * 1000, 3)
    return int(ms) if ms == int(ms) else ms


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
    attributes_help: ClassVar[str] = "latency (ms), jitter (ms, default 0), connect (bool, uxchaos)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        latency = _millis(attrs, "latency", 0)
        jitter = _millis(attrs, "jitter", 0)
        connect = attrs.pop("connect", False)
        if not isinstance(connect, bool):
            raise ToxicError("attribute 'connect' must be true or false")
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        if jitter > latency:
            raise ToxicError(f"attribute 'jitter' ({_ms(jitter)} ms) cannot exceed 'latency' ({_ms(latency)} ms)")
        return cls(name, stream, toxicity, latency, jitter, connect)

    def sample_delay(self, rng: random.Random) -> float:
        if self.jitter_s:
            return max(0.0, self.latency_s + rng.uniform(-self.jitter_s, self.jitter_s))
        return self.latency_s

    def attributes(self) -> dict[str, Any]:
        return {"latency": _ms(self.latency_s), "jitter": _ms(self.jitter_s), "connect": self.connect}


@register
@dataclass
class Bandwidth(Toxic):
    rate_bytes_per_s: float = 0.0

    kind: ClassVar[str] = "bandwidth"
    attributes_help: ClassVar[str] = "rate (KB/s, a number > 0; or '100kbit', '1mbit', '64KB')"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        raw = attrs.pop("rate", None)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, parse_rate(raw))

    def attributes(self) -> dict[str, Any]:
        kb = self.rate_bytes_per_s / 1000
        return {"rate": int(kb) if kb == int(kb) else round(kb, 3)}


_RATE_UNITS = {"b": 1, "kb": 1000, "mb": 1_000_000, "kbit": 125, "mbit": 125_000, "gbit": 125_000_000}


def parse_rate(raw: object) -> float:
    """Bytes per second from Toxiproxy's KB/s (a number) or a string with a unit (KB, MB, kbit…)."""
    if isinstance(raw, bool) or raw is None:
        raise ToxicError("attribute 'rate' is required: KB/s (e.g. 100), or e.g. '100kbit', '64KB'")
    if isinstance(raw, (int, float)):
        rate = float(raw) * 1000
    else:
        text = str(raw).strip().lower()
        num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(num):]
        try:
            value = float(num)
        except ValueError:
            raise ToxicError(f"attribute 'rate': cannot read {raw!r}: use KB/s (a number) or e.g. '100kbit'") from None
        if unit not in _RATE_UNITS:
            raise ToxicError(f"attribute 'rate': unit missing or unknown in {raw!r}: a number is KB/s, "
                             "or write one of B, KB, MB, kbit, mbit, gbit")
        rate = value * _RATE_UNITS[unit]
    if rate <= 0:
        raise ToxicError(f"attribute 'rate' must be greater than 0, got {raw!r}")
    return rate


@dataclass
class _TimedToxic(Toxic):
    """A toxic with one time attribute in milliseconds (default 0)."""

    timeout_s: float = 0.0
    time_key: ClassVar[str] = "timeout"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        timeout = _millis(attrs, cls.time_key, 0)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, timeout)

    def attributes(self) -> dict[str, Any]:
        return {self.time_key: _ms(self.timeout_s)}


@register
@dataclass
class Timeout(_TimedToxic):
    """Swallow all data; the connection stays open (closed after `timeout` when that is > 0)."""

    kind: ClassVar[str] = "timeout"
    attributes_help: ClassVar[str] = "timeout (ms; 0 = keep the connection open for ever)"


@register
@dataclass
class ResetPeer(_TimedToxic):
    """On data in its stream: drop it, and `timeout` later reset the connection (TCP RST)."""

    kind: ClassVar[str] = "reset_peer"
    attributes_help: ClassVar[str] = "timeout (ms before the reset, default 0)"


@register
@dataclass
class SlowClose(_TimedToxic):
    """Hold back the close of its stream by `delay`."""

    kind: ClassVar[str] = "slow_close"
    attributes_help: ClassVar[str] = "delay (ms)"
    time_key: ClassVar[str] = "delay"


@register
@dataclass
class Slicer(Toxic):
    """Cut every chunk into pieces of about `average_size` ± `size_variation` bytes, `delay` µs apart."""

    average_size: int = 0
    size_variation: int = 0
    delay_us: int = 0

    kind: ClassVar[str] = "slicer"
    attributes_help: ClassVar[str] = "average_size (bytes > 0), size_variation (bytes < average_size), delay (µs)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        average = _count(attrs, "average_size", None, 1)
        variation = _count(attrs, "size_variation", 0)
        delay = _count(attrs, "delay", 0)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        if variation >= average:
            raise ToxicError(f"attribute 'size_variation' ({variation}) must be less than 'average_size' ({average})")
        return cls(name, stream, toxicity, average, variation, delay)

    def cut(self, size: int, rng: random.Random) -> list[int]:
        """Sizes of the pieces of a chunk of `size` bytes."""
        pieces: list[int] = []
        while size > 0:
            n = self.average_size
            if self.size_variation:
                n += rng.randint(-self.size_variation, self.size_variation)
            n = min(size, max(1, n))
            pieces.append(n)
            size -= n
        return pieces

    def attributes(self) -> dict[str, Any]:
        return {"average_size": self.average_size, "size_variation": self.size_variation, "delay": self.delay_us}


@register
@dataclass
class LimitData(Toxic):
    """Pass `bytes` bytes of its stream, then close the connection."""

    limit_bytes: int = 0

    kind: ClassVar[str] = "limit_data"
    attributes_help: ClassVar[str] = "bytes (whole number)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        limit = _count(attrs, "bytes", None)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, limit)

    def attributes(self) -> dict[str, Any]:
        return {"bytes": self.limit_bytes}


# --- HTTP toxics: for a proxy in front of an HTTP/1.x service -------------------------------------


@dataclass
class HttpToxic(Toxic):
    """Acts on whole HTTP/1.x exchanges; `toxicity` is the share of requests, each decided on its own.
    `path` (a regular expression searched in the request target) and `method` narrow the requests."""

    path: re.Pattern[str] | None = None
    method: str = ""

    http: ClassVar[bool] = True
    filter_help: ClassVar[str] = "path (regex on the request target), method (e.g. POST)"

    def covers(self, direction: str) -> bool:
        return False  # never applied to raw chunks

    @classmethod
    def _filters(cls, attrs: dict[str, Any]) -> tuple[re.Pattern[str] | None, str]:
        raw_path = attrs.pop("path", None)
        path = None
        if raw_path not in (None, ""):
            if not isinstance(raw_path, str):
                raise ToxicError(f"attribute 'path' must be a regular expression (text), got {raw_path!r}")
            try:
                path = re.compile(raw_path)
            except re.error as e:
                raise ToxicError(f"attribute 'path': not a regular expression: {e}") from None
        method = attrs.pop("method", "") or ""
        if not isinstance(method, str) or (method and not method.isalpha()):
            raise ToxicError(f"attribute 'method' must be an HTTP method such as GET or POST, got {method!r}")
        return path, method.upper()

    def matches(self, method: str, target: str) -> bool:
        if self.method and method != self.method:
            return False
        return self.path is None or self.path.search(target) is not None

    def _filter_attributes(self) -> dict[str, Any]:
        return {"path": self.path.pattern if self.path else "", "method": self.method}


@register
@dataclass
class HttpStatus(HttpToxic):
    """Answer matching requests with `status_code` and `body` without asking the service."""

    status_code: int = 503
    body: str = ""

    kind: ClassVar[str] = "http_status"
    attributes_help: ClassVar[str] = "status_code (100-599, default 503), body (text), " + HttpToxic.filter_help

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        status = _count(attrs, "status_code", 503, 100)
        if status > 599:
            raise ToxicError(f"attribute 'status_code' must be an HTTP status from 100 to 599, got {status}")
        body = attrs.pop("body", None)
        if body is None:
            body = f"{status} injected by uxchaos\n"
        if not isinstance(body, str):
            raise ToxicError(f"attribute 'body' must be text, got {type(body).__name__}")
        path, method = cls._filters(attrs)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, status, body)

    def attributes(self) -> dict[str, Any]:
        return {"status_code": self.status_code, "body": self.body, **self._filter_attributes()}


@register
@dataclass
class HttpSlowHeaders(HttpToxic):
    """Hold back the response headers by `delay` (a slow time to first byte); the body then streams
    at the service's own pace."""

    delay_s: float = 0.0

    kind: ClassVar[str] = "http_slow_headers"
    attributes_help: ClassVar[str] = "delay (ms), " + HttpToxic.filter_help

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        delay = _millis(attrs, "delay")
        path, method = cls._filters(attrs)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, delay)

    def attributes(self) -> dict[str, Any]:
        return {"delay": _ms(self.delay_s), **self._filter_attributes()}


@register
@dataclass
class HttpDropBody(HttpToxic):
    """Cut the connection in the middle of a response body: the headers and `body_fraction` of the
    body (of Content-Length; with no length, the first piece) arrive, then the connection closes."""

    body_fraction: float = 0.5

    kind: ClassVar[str] = "http_drop_body"
    attributes_help: ClassVar[str] = "body_fraction (0.0-1.0, default 0.5), " + HttpToxic.filter_help

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        fraction = attrs.pop("body_fraction", 0.5)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ToxicError(f"attribute 'body_fraction' is a share from 0.0 to below 1.0, got {fraction!r}")
        path, method = cls._filters(attrs)
        _no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, float(fraction))

    def attributes(self) -> dict[str, Any]:
        return {"body_fraction": self.body_fraction, **self._filter_attributes()}


def check_envelope(spec: dict[str, Any]) -> tuple[str, str, float]:
    """Type, stream and toxicity of a toxic spec (Toxiproxy's defaults: downstream, 1.0)."""
    kind = spec.get("type")
    if kind not in TOXICS:
        raise ToxicError(f"invalid toxic type: {kind!r}; allowed: {', '.join(sorted(TOXICS))}")
    stream = spec.get("stream") or "downstream"
    if stream not in STREAMS:
        raise ToxicError(f"stream was invalid, can be either upstream or downstream (or both): got {stream!r}")
    toxicity = spec.get("toxicity", 1.0)
    if isinstance(toxicity, bool) or not isinstance(toxicity, (int, float)) or not 0 <= toxicity <= 1:
        raise ToxicError(f"field 'toxicity' is a probability from 0.0 to 1.0, got {toxicity!r}")
    return kind, stream, float(toxicity)


def toxic_from_spec(spec: object) -> Toxic:
    """A toxic from Toxiproxy's JSON shape: {type, name?, stream?, toxicity?, attributes?}."""
    if not isinstance(spec, dict):
        raise ToxicError(f"a toxic is a JSON object with 'type' and 'attributes', got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(ENVELOPE))
    if unknown:
        raise ToxicError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(ENVELOPE)}")
    kind, stream, toxicity = check_envelope(spec)
    name = spec.get("name") or f"{kind}_{stream}"
    if not isinstance(name, str):
        raise ToxicError(f"field 'name' must be text, got {name!r}")
    attrs = spec.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ToxicError("field 'attributes' must be a JSON object")
    return TOXICS[kind].from_attributes(name, stream, toxicity, dict(attrs))


def updated_toxic(toxic: Toxic, spec: object) -> Toxic:
    """Toxiproxy's toxic update: new attributes (merged over the old ones) and/or toxicity."""
    if not isinstance(spec, dict):
        raise ToxicError(f"a toxic update is a JSON object with 'attributes' and/or 'toxicity', "
                         f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(ENVELOPE))
    if unknown:
        raise ToxicError(f"unknown field(s) {', '.join(unknown)}; allowed: attributes, toxicity")
    attrs = spec.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ToxicError("field 'attributes' must be a JSON object")
    merged = {**toxic.to_dict(), "attributes": {**toxic.attributes(), **attrs}}
    if "toxicity" in spec:
        merged["toxicity"] = spec["toxicity"]
    return toxic_from_spec(merged)

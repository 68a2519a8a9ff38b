"""What every toxic is: its envelope (name, stream, toxicity), its attributes, the registry keyed by
Toxiproxy's type names, and the hooks through which a toxic acts — on a chunk of a stream, on its
end, on the connection set-up, or on an HTTP/1.x request. The proxy calls the hooks and knows no
toxic by name; each toxic is one module of this package that owns its behaviour.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from uxchaos.util.durations import DurationError, parse_duration

STREAMS = ("upstream", "downstream", "both")
ENVELOPE = ("type", "name", "stream", "toxicity", "attributes")


class ToxicError(ValueError):
    """A toxic specification that cannot be used; the message names the field and what is allowed."""


@dataclass
class Chunk:
    """One chunk of a stream on its way through the toxics: each may delay it, throttle it, cut it
    into pieces, shorten it, or ask for the connection to end once it is written."""

    data: bytes
    at: float  # when it is due to be written (the event loop's clock)
    rate_bytes_per_s: float | None = None  # written at this rate (bandwidth)
    cut: Callable[[int], list[int]] | None = None  # sizes of the pieces it is written in (slicer)
    piece_gap_s: float = 0.0  # between those pieces
    close_after: bool = False  # end the connection once it is written (limit_data)


class Stream(Protocol):
    """One direction of one connection, as a toxic sees it."""

    @property
    def rng(self) -> random.Random: ...

    @property
    def state(self) -> dict[str, Any]:
        """What each toxic keeps about this direction, under its name (limit_data's byte count)."""
        ...

    def close_later(self, name: str, after_s: float) -> None:
        """Close the connection `after_s` from now (once per toxic name; 0: never)."""
        ...

    def reset_later(self, name: str, after_s: float) -> None:
        """Reset the connection (TCP RST) `after_s` from now (once per toxic name)."""
        ...


@dataclass
class HttpEffects:
    """What the HTTP toxics chosen for one request do to it."""

    answer: Callable[[bool, str], bytes] | None = None  # the proxy's own response (keep_alive, method)
    header_delay_s: float = 0.0  # the response's head held back this long
    drop_fraction: float | None = None  # the response body cut after this share of it

    @property
    def any(self) -> bool:
        return self.answer is not None or self.drop_fraction is not None or self.header_delay_s > 0


@dataclass
class Toxic:
    name: str
    stream: str = "downstream"
    toxicity: float = 1.0

    kind: ClassVar[str] = ""
    attributes_help: ClassVar[str] = ""
    http: ClassVar[bool] = False  # acts on HTTP/1.x requests and responses, not on raw chunks
    holds_eof: ClassVar[bool] = False  # its hold_eof can hold the end of a stream back

    def covers(self, direction: str) -> bool:
        return self.stream == "both" or self.stream == direction

    # -- behaviour: each hook does nothing unless the toxic overrides it ------------------------------
    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        """Act on a chunk of its stream; False: the chunk is swallowed (no later toxic sees it)."""
        return True

    def hold_eof(self, stream: Stream) -> bool:
        """The source ended: True holds the end back until the toxic goes (timeout)."""
        return False

    def close_delay_s(self) -> float:
        """How long the end of its stream is held back (slow_close)."""
        return 0.0

    def connect_delay_s(self, rng: random.Random) -> float | None:
        """A delay of the connection set-up to the service, or None."""
        return None

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


def millis(attrs: dict[str, Any], key: str, default: float | None = None) -> float:
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


def count(attrs: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    raw = attrs.pop(key, default)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if raw is None or isinstance(raw, bool) or not isinstance(raw, int):
        raise ToxicError(f"attribute '{key}' must be a whole number, got {raw!r}")
    if raw < minimum:
        raise ToxicError(f"attribute '{key}' must be at least {minimum}, got {raw}")
    return raw


def ms(seconds: float) -> int | float:
    """Toxiproxy writes milliseconds as integers; keep a fraction only when there is one."""
    ms = round(seconds * 1000, 3)
    return int(ms) if ms == int(ms) else ms


def no_leftovers(kind: str, attrs: dict[str, Any], allowed: str) -> None:
    if attrs:
        raise ToxicError(f"unknown attribute(s) for {kind}: {', '.join(sorted(attrs))}; allowed: {allowed}")


@dataclass
class TimedToxic(Toxic):
    """A toxic with one time attribute in milliseconds (default 0)."""

    timeout_s: float = 0.0
    time_key: ClassVar[str] = "timeout"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        timeout = millis(attrs, cls.time_key, 0)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, timeout)

    def attributes(self) -> dict[str, Any]:
        return {self.time_key: ms(self.timeout_s)}


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

    def decide(self, effects: HttpEffects, partly_sent: bool) -> bool:
        """Act on a request it matches; False when it had nothing to add. `partly_sent`: the request's
        first bytes already went to the service."""
        raise NotImplementedError

    def matches(self, method: str, target: str) -> bool:
        if self.method and method != self.method:
            return False
        return self.path is None or self.path.search(target) is not None

    def _filter_attributes(self) -> dict[str, Any]:
        return {"path": self.path.pattern if self.path else "", "method": self.method}



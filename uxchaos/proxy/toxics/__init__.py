"""Toxics: the faults the proxy applies to a stream or to HTTP/1.x requests, one module each
(Toxiproxy's `toxics/`), behind a registry keyed by Toxiproxy's type names (base.py: the envelope and
the hooks a toxic acts through; registry.py: toxics from their JSON). A new toxic is one module
with a class that registers itself and overrides the hooks it needs."""

from uxchaos.proxy.toxics.bandwidth import Bandwidth, parse_rate
from uxchaos.proxy.toxics.base import (
    ENVELOPE,
    STREAMS,
    TOXICS,
    Chunk,
    HttpEffects,
    HttpToxic,
    Stream,
    Toxic,
    ToxicError,
    register,
)
from uxchaos.proxy.toxics.http_drop_body import HttpDropBody
from uxchaos.proxy.toxics.http_slow_headers import HttpSlowHeaders
from uxchaos.proxy.toxics.http_status import HttpStatus
from uxchaos.proxy.toxics.latency import Latency
from uxchaos.proxy.toxics.limit_data import LimitData
from uxchaos.proxy.toxics.registry import check_envelope, toxic_from_spec, updated_toxic
from uxchaos.proxy.toxics.reset_peer import ResetPeer
from uxchaos.proxy.toxics.slicer import Slicer
from uxchaos.proxy.toxics.slow_close import SlowClose
from uxchaos.proxy.toxics.timeout import Timeout

__all__ = [
    "ENVELOPE",
    "STREAMS",
    "TOXICS",
    "Bandwidth",
    "Chunk",
    "HttpDropBody",
    "HttpEffects",
    "HttpSlowHeaders",
    "HttpStatus",
    "HttpToxic",
    "Latency",
    "LimitData",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Stream",
    "Timeout",
    "Toxic",
    "ToxicError",
    "check_envelope",
    "parse_rate",
    "register",
    "toxic_from_spec",
    "updated_toxic",
]

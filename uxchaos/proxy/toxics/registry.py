"""Toxics from Toxiproxy's JSON shape, and their updates: the envelope checked first, then the
type's own attributes, by the class registered under the type's name. The built-in toxics register
themselves when this module imports them; a toxic defined elsewhere registers the same way."""

from __future__ import annotations

from typing import Any

from uxchaos.proxy.toxics import (  # noqa: F401  (each registers itself)
    bandwidth,
    http_drop_body,
    http_slow_headers,
    http_status,
    latency,
    limit_data,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from uxchaos.proxy.toxics.base import ENVELOPE, STREAMS, TOXICS, Toxic, ToxicError


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

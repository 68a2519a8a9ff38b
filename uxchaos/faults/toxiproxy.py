"""The `toxiproxy` driver: the `proxy` driver's faults on an existing Toxiproxy server (or anything
that speaks its API, such as `uxchaos proxy serve`), reached at `target.proxy_control`.

Only Toxiproxy's own API is used, in its strict forms: integer milliseconds, integer KB/s, streams
`upstream`/`downstream` (so `direction: both` adds one toxic per stream), a proxy switched off with
`enabled: false`. uxchaos-only abilities (connect delay, HTTP faults) stay with the `proxy` driver."""

from __future__ import annotations

from typing import Any, ClassVar

from uxchaos.errors import EnvironmentProblem, FaultError
from uxchaos.faults import register
from uxchaos.faults.base import EffectProbe, Param
from uxchaos.faults.proxy import DIRECTION, PROBABILITY, RATE_HELP, ProxyDriver


def _int_ms(seconds: float) -> int:
    return round(seconds * 1000)


def kb_per_s(text: str) -> int:
    """Toxiproxy's integer KB/s from a rate as users write it (a number of KB/s, '100kbit', '1mbit')."""
    from uxchaos.proxy.toxics import ToxicError, parse_rate

    try:
        value: object = float(text)
    except ValueError:
        value = text
    try:
        return max(1, round(parse_rate(value) / 1000))
    except ToxicError as e:
        raise FaultError(str(e)) from None


@register
class ToxiproxyDriver(ProxyDriver):
    name = "toxiproxy"
    target_help = "the name of a proxy on the Toxiproxy server at target.proxy_control"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "delay": {
            "delay": Param("duration", help="Toxiproxy latency, added to every chunk, e.g. 2000ms"),
            "jitter": Param("duration", 0.0, "± uniform, e.g. 100ms"),
            "direction": DIRECTION,
            "probability": PROBABILITY,
        },
        "bandwidth": {"rate": Param("text", help=RATE_HELP), "direction": DIRECTION, "probability": PROBABILITY},
        "timeout": {"timeout": Param("duration", 0.0, "close after this long; 0ms = hold for ever"),
                    "direction": DIRECTION, "probability": PROBABILITY},
        "reset": {"timeout": Param("duration", 0.0, "reset_peer after this long"), "probability": PROBABILITY},
        "down": {},
    }

    def _control(self) -> Any:
        if self.runtime.proxies is None:
            raise EnvironmentProblem(
                "the toxiproxy driver needs a Toxiproxy server: set target.proxy_control to its API address, "
                "e.g. http://127.0.0.1:8474 (toxiproxy-server, or `uxchaos proxy serve`)"
            )
        return self.runtime.proxies

    def toxic_specs(self) -> list[dict[str, Any]]:
        p, kind = self.spec.params, self.spec.kind
        if kind == "down":
            return []
        if kind == "delay":
            toxic_type = "latency"
            attrs: dict[str, Any] = {"latency": _int_ms(p["delay"]), "jitter": _int_ms(p["jitter"])}
        elif kind == "bandwidth":
            toxic_type, attrs = "bandwidth", {"rate": kb_per_s(p["rate"])}
        elif kind == "timeout":
            toxic_type, attrs = "timeout", {"timeout": _int_ms(p["timeout"])}
        else:
            toxic_type, attrs = "reset_peer", {"timeout": _int_ms(p["timeout"])}
        direction = "upstream" if kind == "reset" else p.get("direction", "downstream")
        streams = ["upstream", "downstream"] if direction == "both" else [direction]
        return [{"type": toxic_type, "name": self._toxic_name(stream), "stream": stream,
                 "toxicity": p.get("probability", 1.0), "attributes": attrs} for stream in streams]

    def effect_probe(self) -> EffectProbe | None:
        if self.spec.kind != "delay":
            return None
        from uxchaos.faults.probe import find_probe
        from uxchaos.proxy.address import Address

        listen = Address.parse(self._control().describe(self.spec.target)["listen"])
        host = "127.0.0.1" if listen.host in ("", "0.0.0.0", "localhost") else listen.host
        host = "::1" if host == "::" else host
        probe = find_probe(host, listen.port)
        per_trip = self.spec.params["delay"] * (2 if self.spec.params["direction"] == "both" else 1)
        return EffectProbe(probe, per_trip) if probe else None

    def describe(self) -> str:
        base = super().describe()
        return base.replace("of proxy", "of Toxiproxy proxy", 1) if self.spec.kind == "delay" else base

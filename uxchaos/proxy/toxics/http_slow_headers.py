"""http_slow_headers: hold back the response headers by `delay` (a slow time to first byte)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import HttpEffects, HttpToxic, Toxic, millis, ms, no_leftovers, register


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
        delay = millis(attrs, "delay")
        path, method = cls._filters(attrs)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, delay)

    def decide(self, effects: HttpEffects, partly_sent: bool) -> bool:
        effects.header_delay_s += self.delay_s
        return True

    def attributes(self) -> dict[str, Any]:
        return {"delay": ms(self.delay_s), **self._filter_attributes()}

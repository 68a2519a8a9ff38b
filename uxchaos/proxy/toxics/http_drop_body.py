"""http_drop_body: cut the connection in the middle of a response body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import HttpEffects, HttpToxic, Toxic, ToxicError, no_leftovers, register


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
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, float(fraction))

    def decide(self, effects: HttpEffects, partly_sent: bool) -> bool:
        if effects.drop_fraction is not None:
            return False
        effects.drop_fraction = self.body_fraction
        return True

    def attributes(self) -> dict[str, Any]:
        return {"body_fraction": self.body_fraction, **self._filter_attributes()}

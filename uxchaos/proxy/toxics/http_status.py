"""http_status: answer matching requests with `status_code` and `body` without asking the service."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import HttpEffects, HttpToxic, Toxic, ToxicError, count, no_leftovers, register


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
        status = count(attrs, "status_code", 503, 100)
        if status > 599:
            raise ToxicError(f"attribute 'status_code' must be an HTTP status from 100 to 599, got {status}")
        body = attrs.pop("body", None)
        if body is None:
            body = f"{status} injected by uxchaos\n"
        if not isinstance(body, str):
            raise ToxicError(f"attribute 'body' must be text, got {type(body).__name__}")
        path, method = cls._filters(attrs)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, path, method, status, body)

    def decide(self, effects: HttpEffects, partly_sent: bool) -> bool:
        if effects.answer is not None or partly_sent:
            return False  # answered already, or the service has the request's first bytes
        effects.answer = self.response
        return True

    def response(self, keep_alive: bool, method: str) -> bytes:
        body = self.body.encode()
        try:
            reason = HTTPStatus(self.status_code).phrase
        except ValueError:
            reason = "Injected"
        head = (f"HTTP/1.1 {self.status_code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n"
                f"X-Uxchaos-Toxic: {self.name}\r\n\r\n")
        return head.encode("latin-1") + (b"" if method == "HEAD" else body)

    def attributes(self) -> dict[str, Any]:
        return {"status_code": self.status_code, "body": self.body, **self._filter_attributes()}

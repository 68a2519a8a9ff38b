"""limit_data: pass `bytes` bytes of its stream, then close the connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, Toxic, count, no_leftovers, register


@register
@dataclass
class LimitData(Toxic):
    """Pass `bytes` bytes of its stream, then close the connection."""

    limit_bytes: int = 0

    kind: ClassVar[str] = "limit_data"
    attributes_help: ClassVar[str] = "bytes (whole number)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        limit = count(attrs, "bytes", None)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, limit)

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        passed = stream.state.get(self.name, 0)
        if passed + len(chunk.data) >= self.limit_bytes:
            chunk.data = chunk.data[: max(0, self.limit_bytes - passed)]
            chunk.close_after = True
        stream.state[self.name] = passed + len(chunk.data)
        return True

    def attributes(self) -> dict[str, Any]:
        return {"bytes": self.limit_bytes}

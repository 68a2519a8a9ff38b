"""slicer: every chunk of its stream cut into pieces of about `average_size` ± `size_variation`
bytes, `delay` µs apart."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, Toxic, ToxicError, count, no_leftovers, register


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
        average = count(attrs, "average_size", None, 1)
        variation = count(attrs, "size_variation", 0)
        delay = count(attrs, "delay", 0)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
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

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        chunk.cut = lambda size: self.cut(size, stream.rng)
        chunk.piece_gap_s = self.delay_us / 1e6
        return True

    def attributes(self) -> dict[str, Any]:
        return {"average_size": self.average_size, "size_variation": self.size_variation, "delay": self.delay_us}

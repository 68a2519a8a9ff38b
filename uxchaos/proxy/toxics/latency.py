"""latency: every chunk of its stream `latency` ± `jitter` (uniform) later, in order; with
`connect: true` (uxchaos's addition) the set-up to the service is delayed once as well, like netem."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, Toxic, ToxicError, millis, ms, no_leftovers, register


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
        latency = millis(attrs, "latency", 0)
        jitter = millis(attrs, "jitter", 0)
        connect = attrs.pop("connect", False)
        if not isinstance(connect, bool):
            raise ToxicError("attribute 'connect' must be true or false")
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        if jitter > latency:
            raise ToxicError(f"attribute 'jitter' ({ms(jitter)} ms) cannot exceed 'latency' ({ms(latency)} ms)")
        return cls(name, stream, toxicity, latency, jitter, connect)

    def sample_delay(self, rng: random.Random) -> float:
        if self.jitter_s:
            return max(0.0, self.latency_s + rng.uniform(-self.jitter_s, self.jitter_s))
        return self.latency_s

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        chunk.at += self.sample_delay(stream.rng)
        return True

    def connect_delay_s(self, rng: random.Random) -> float | None:
        return self.sample_delay(rng) if self.connect else None

    def attributes(self) -> dict[str, Any]:
        return {"latency": ms(self.latency_s), "jitter": ms(self.jitter_s), "connect": self.connect}

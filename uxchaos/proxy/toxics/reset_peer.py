"""reset_peer: on data in its stream, drop it, and `timeout` later reset the connection (TCP RST)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, TimedToxic, register


@register
@dataclass
class ResetPeer(TimedToxic):
    """On data in its stream: drop it, and `timeout` later reset the connection (TCP RST)."""

    kind: ClassVar[str] = "reset_peer"
    attributes_help: ClassVar[str] = "timeout (ms before the reset, default 0)"

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        stream.reset_later(self.name, self.timeout_s)
        return False  # dropped: the connection is about to be reset

"""timeout: swallow all data of its stream; the connection stays open (closed after `timeout`
when that is > 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, TimedToxic, register


@register
@dataclass
class Timeout(TimedToxic):
    """Swallow all data; the connection stays open (closed after `timeout` when that is > 0)."""

    kind: ClassVar[str] = "timeout"
    attributes_help: ClassVar[str] = "timeout (ms; 0 = keep the connection open for ever)"
    holds_eof: ClassVar[bool] = True

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        stream.close_later(self.name, self.timeout_s)
        return False  # swallowed

    def hold_eof(self, stream: Stream) -> bool:
        # Everything is held back, the close too (as Toxiproxy does): the peer sees the connection
        # end when the timeout closes it, or when the toxic is removed.
        stream.close_later(self.name, self.timeout_s)
        return True

"""slow_close: hold back the close of its stream by `delay`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from uxchaos.proxy.toxics.base import TimedToxic, register


@register
@dataclass
class SlowClose(TimedToxic):
    """Hold back the close of its stream by `delay`."""

    kind: ClassVar[str] = "slow_close"
    attributes_help: ClassVar[str] = "delay (ms)"
    time_key: ClassVar[str] = "delay"

    def close_delay_s(self) -> float:
        return self.timeout_s

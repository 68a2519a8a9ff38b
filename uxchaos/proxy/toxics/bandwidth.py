"""bandwidth: its stream written at `rate` KB/s (1 KB = 1000 bytes, as in Toxiproxy), or a rate
with a unit ("100kbit", "1mbit", "64KB")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from uxchaos.proxy.toxics.base import Chunk, Stream, Toxic, ToxicError, no_leftovers, register


@register
@dataclass
class Bandwidth(Toxic):
    rate_bytes_per_s: float = 0.0

    kind: ClassVar[str] = "bandwidth"
    attributes_help: ClassVar[str] = "rate (KB/s, a number > 0; or '100kbit', '1mbit', '64KB')"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        raw = attrs.pop("rate", None)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, parse_rate(raw))

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        chunk.rate_bytes_per_s = self.rate_bytes_per_s
        return True

    def attributes(self) -> dict[str, Any]:
        kb = self.rate_bytes_per_s / 1000
        return {"rate": int(kb) if kb == int(kb) else round(kb, 3)}


_RATE_UNITS = {"b": 1, "kb": 1000, "mb": 1_000_000, "kbit": 125, "mbit": 125_000, "gbit": 125_000_000}


def parse_rate(raw: object) -> float:
    """Bytes per second from Toxiproxy's KB/s (a number) or a string with a unit (KB, MB, kbit…)."""
    if isinstance(raw, bool) or raw is None:
        raise ToxicError("attribute 'rate' is required: KB/s (e.g. 100), or e.g. '100kbit', '64KB'")
    if isinstance(raw, (int, float)):
        rate = float(raw) * 1000
    else:
        text = str(raw).strip().lower()
        num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(num):]
        try:
            value = float(num)
        except ValueError:
            raise ToxicError(f"attribute 'rate': cannot read {raw!r}: use KB/s (a number) or e.g. '100kbit'") from None
        if unit not in _RATE_UNITS:
            raise ToxicError(f"attribute 'rate': unit missing or unknown in {raw!r}: a number is KB/s, "
                             "or write one of B, KB, MB, kbit, mbit, gbit")
        rate = value * _RATE_UNITS[unit]
    if rate <= 0:
        raise ToxicError(f"attribute 'rate' must be greater than 0, got {raw!r}")
    return rate

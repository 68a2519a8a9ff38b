"""The built-in TCP fault proxy (the embedded equivalent of Toxiproxy and of netem), with
Toxiproxy 2.x's control API and HTTP-aware toxics."""

from uxchaos.proxy.address import Address
from uxchaos.proxy.hub import BadRequest, ProxyExists, ProxyHub, ProxyNotFound
from uxchaos.proxy.server import ToxicExists, ToxicNotFound
from uxchaos.proxy.toxics import TOXICS, Toxic, ToxicError, toxic_from_spec

__all__ = ["TOXICS", "Address", "BadRequest", "ProxyExists", "ProxyHub", "ProxyNotFound", "Toxic", "ToxicError",
           "ToxicExists", "ToxicNotFound", "toxic_from_spec"]

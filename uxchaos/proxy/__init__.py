"""The built-in TCP fault proxy (the embedded equivalent of Toxiproxy and of netem)."""

from uxchaos.proxy.hub import ProxyHub, ProxyNotFound
from uxchaos.proxy.server import Address
from uxchaos.proxy.toxics import TOXICS, Toxic, ToxicError, toxic_from_spec

__all__ = ["TOXICS", "Address", "ProxyHub", "ProxyNotFound", "Toxic", "ToxicError", "toxic_from_spec"]

"""A toxic is one class behind the registry: this test defines toxics of its own and uses them through
the real proxy (and its control API), touching no module of uxchaos — as test_driver_interface.py
does for fault drivers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from conftest import EchoServer, connect, recv_exactly

from uxchaos.proxy import ProxyHub
from uxchaos.proxy.control import ControlClient, ControlError, ControlServer
from uxchaos.proxy.toxics import TOXICS, Chunk, Stream, Toxic, register
from uxchaos.proxy.toxics.base import count, no_leftovers


@dataclass
class Shout(Toxic):
    """Upper-cases every chunk of its stream, and counts the chunks it saw on each direction."""

    limit: int = 0  # stop shouting after this many chunks (0: never)

    kind: ClassVar[str] = "test_shout"
    attributes_help: ClassVar[str] = "limit (chunks, default 0 = no limit)"

    @classmethod
    def from_attributes(cls, name: str, stream: str, toxicity: float, attrs: dict[str, Any]) -> Toxic:
        limit = count(attrs, "limit", 0)
        no_leftovers(cls.kind, attrs, cls.attributes_help)
        return cls(name, stream, toxicity, limit)

    def on_chunk(self, chunk: Chunk, stream: Stream) -> bool:
        seen = stream.state.get(self.name, 0) + 1
        stream.state[self.name] = seen
        if not self.limit or seen <= self.limit:
            chunk.data = chunk.data.upper()
        return True

    def attributes(self) -> dict[str, Any]:
        return {"limit": self.limit}


@pytest.fixture
def shout() -> Iterator[type[Toxic]]:
    register(Shout)
    yield Shout
    del TOXICS[Shout.kind]


def echo_of(s: Any, payload: bytes) -> bytes:
    s.sendall(payload)
    return recv_exactly(s, len(payload))


def test_a_toxic_defined_in_a_test_acts_through_the_real_proxy(shout: type[Toxic], hub: ProxyHub,
                                                                echo: EchoServer) -> None:
    p = hub.create("echo", echo.address)
    with connect(p["listen"]) as s:
        assert echo_of(s, b"hello") == b"hello"
        toxic = hub.add_toxic("echo", {"type": "test_shout", "attributes": {"limit": 2}})
        assert toxic == {"name": "test_shout_downstream", "type": "test_shout", "stream": "downstream",
                         "toxicity": 1.0, "attributes": {"limit": 2}}
        assert [echo_of(s, b"hello") for _ in range(3)] == [b"HELLO", b"HELLO", b"hello"]  # its own state
        hub.remove_toxic("echo", toxic["name"])
        assert echo_of(s, b"quiet") == b"quiet"


def test_a_toxic_defined_in_a_test_is_checked_and_served_by_the_control_api(shout: type[Toxic], hub: ProxyHub,
                                                                             echo: EchoServer) -> None:
    control = ControlServer(hub)
    try:
        client = ControlClient(control.address)
        created = client.create("echo", echo.address)
        added = client.add_toxic("echo", {"type": "test_shout", "stream": "upstream"})
        assert added["type"] == "test_shout" and added["stream"] == "upstream"
        with connect(created["listen"]) as s:
            assert echo_of(s, b"abc") == b"ABC"
        with pytest.raises(ControlError, match="unknown attribute"):
            client.add_toxic("echo", {"type": "test_shout", "name": "bad", "attributes": {"loud": True}})
    finally:
        control.close()

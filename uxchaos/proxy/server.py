"""The asyncio TCP fault proxy: client ⇄ proxy ⇄ upstream service. A Proxy listens at one address
in front of one upstream, holds the toxics in force (they can change at any time) and the
counters; its connections (connection.py) do the forwarding."""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import os
import random
import socket
import sys
import time
from typing import Any

from uxchaos.proxy.address import Address
from uxchaos.proxy.connection import Connection, ProxySide, set_nodelay
from uxchaos.proxy.toxics import HttpToxic, Toxic, ToxicError

log = logging.getLogger("uxchaos.proxy")

TURN_HISTORY = 100_000  # the times of the latest turns kept, for the turns counted during each action


class ClientSide(asyncio.Protocol):
    def __init__(self, proxy: ProxySide) -> None:
        self.proxy = proxy
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self.proxy.enabled:
            # Accepted by the kernel just before the listener closed: close it like the rest.
            transport.close()
            return
        transport.pause_reading()  # until the upstream side exists
        set_nodelay(transport)
        conn = Connection(self.proxy, transport)
        self.conn = conn
        self.proxy.connections.add(conn)
        self.proxy.total_connections += 1
        conn.task = self.proxy.loop.create_task(conn.connect_upstream())

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.pipes["upstream"].feed(data)

    def eof_received(self) -> bool:
        assert self.conn is not None
        if self.conn.upstream is None and not self.conn.closed:
            self.conn.early_eof = True  # passed on once the upstream side is connected
            return True
        self.conn.pipes["upstream"].feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        if conn is not None:
            conn.client = None
            # Nobody is left to read the replies; what still goes to the service may.
            conn.pipes["downstream"].cancel()
            conn.half_closed("downstream")
            if conn.upstream is None or conn.pipes["upstream"].feed_eof():
                conn.close()

    def pause_writing(self) -> None:
        if self.conn is not None and self.conn.upstream is not None:
            self.conn.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.conn is not None and self.conn.upstream is not None and not self.conn.upstream.is_closing():
            self.conn.upstream.resume_reading()


def _close_backlog(fileno: int) -> None:
    """Accept and close connections still waiting in a listener's queue: closing the listener
    alone would leave those clients hanging instead of seeing the connection end."""
    with socket.socket(fileno=os.dup(fileno)) as listener:
        listener.setblocking(False)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # BlockingIOError: the queue is empty
                return
            conn.close()


class Proxy:
    """One listening address in front of one upstream. Toxics can change at any time."""

    def __init__(
        self,
        name: str,
        upstream: Address,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        *,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.upstream = upstream
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.loop = loop
        self.rng = rng or random.Random()
        self.toxics: dict[str, Toxic] = {}
        self.stream_toxics: list[Toxic] = []  # the chunk toxics, in the order they were added
        self.connections: set[Connection] = set()
        self.total_connections = 0
        self.connection_ids = 0
        self.round_trips = 0  # request → answer turns over all connections (see Connection.count_turn)
        # (epoch seconds, connection id) of the latest turns: which turns fell inside an action, on which connection
        self.turn_log: collections.deque[tuple[float, int]] = collections.deque(maxlen=TURN_HISTORY)
        self.server: asyncio.Server | None = None
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self.http_counts: dict[str, int] = {"answered": 0, "dropped_bodies": 0}
        self.http_toxic_list: list[HttpToxic] = []  # the HTTP toxics, looked at for every chunk of HTTP
        self.other_traffic: bytes | None = None  # first bytes of the last connection that was not HTTP/1.x
        self._warned_not_http = False

    @property
    def enabled(self) -> bool:
        return self.server is not None

    async def start(self) -> None:
        if self.server is not None:
            return
        self.server = await self.loop.create_server(
            lambda: ClientSide(self), self.listen_host, self.listen_port, reuse_address=True, backlog=4096
        )
        self.listen_port = self.server.sockets[0].getsockname()[1]

    @property
    def listen(self) -> str:
        return str(Address(host=self.listen_host, port=self.listen_port))

    def record_event(self, kind: str, message: str, **extra: Any) -> None:
        event = {"time": time.time(), "proxy": self.name, "event": kind, "message": message, **extra}
        self.events.append(event)
        log.warning("proxy %s: %s: %s", self.name, kind, message)

    def http_toxics(self) -> list[HttpToxic]:
        return self.http_toxic_list

    def count_http(self, what: str) -> None:
        self.http_counts[what] += 1

    def not_http(self, reason: bytes, peer: Any, first_bytes: bool = True) -> None:
        """A connection that is not HTTP/1.x passes untouched; say so when HTTP toxics wait for HTTP.
        `first_bytes`: the connection was never HTTP (rather than leaving HTTP after some exchanges),
        so this proxy carries another protocol."""
        if first_bytes:
            self.other_traffic = reason[:24]
        if self.http_toxic_list and not self._warned_not_http:
            self._warned_not_http = True
            names = ", ".join(t.name for t in self.http_toxic_list)
            self.record_event("not_http", f"traffic is not HTTP/1.x ({reason[:24]!r}); it passes "
                              f"untouched by {names}", peer=peer)

    def _refresh(self) -> None:
        self.stream_toxics = [t for t in self.toxics.values() if not t.http]
        self.http_toxic_list = [t for t in self.toxics.values() if isinstance(t, HttpToxic)]

    async def add_toxic(self, toxic: Toxic) -> None:
        if toxic.name in self.toxics:
            raise ToxicExists(f"toxic already exists: proxy {self.name!r} has a toxic named {toxic.name!r}")
        if toxic.http and self.other_traffic is not None:
            raise ToxicError(f"toxic type {toxic.kind!r} needs HTTP/1.x traffic, but proxy {self.name!r} carries "
                             f"another protocol (a connection began {self.other_traffic!r})")
        self.toxics[toxic.name] = toxic
        self._warned_not_http = False
        self._refresh()

    async def replace_toxic(self, toxic: Toxic) -> None:
        if toxic.name not in self.toxics:
            raise ToxicNotFound(f"toxic not found: proxy {self.name!r} has no toxic named {toxic.name!r}")
        self.toxics[toxic.name] = toxic
        self._refresh()
        for conn in self.connections:
            conn.applies.pop(toxic.name, None)

    async def remove_toxic(self, name: str) -> Toxic:
        try:
            toxic = self.toxics.pop(name)
        except KeyError:
            raise ToxicNotFound(f"toxic not found: proxy {self.name!r} has no toxic named {name!r}") from None
        self._refresh()
        for conn in list(self.connections):
            conn.applies.pop(name, None)
            handle = conn.timeouts.pop(name, None)
            if handle is not None:
                handle.cancel()
            for pipe in conn.pipes.values():
                if pipe.held_eof and toxic.holds_eof:
                    pipe.held_eof = False
                    if pipe.feed_eof() and (conn.upstream is None or conn.client is None):
                        conn.close()
        return toxic

    async def set_enabled(self, enabled: bool) -> None:
        """Toxiproxy's `enabled`: a disabled proxy listens no more and has closed every connection."""
        if enabled:
            await self.start()
        else:
            await self._stop_listening()

    async def _stop_listening(self) -> None:
        if self.server is not None:
            for listener in self.server.sockets:
                self.loop.remove_reader(listener.fileno())  # accept nothing more…
                _close_backlog(listener.fileno())  # …close what waits in the kernel's queue…
            for _ in range(3):  # …and let accepts already in flight reach connection_made (which closes them):
                await asyncio.sleep(0)  # asyncio drops, unclosed, a connection accepted after server.close()
            server, self.server = self.server, None
            server.close()
            await server.wait_closed()
        for conn in list(self.connections):
            conn.close()

    async def move(self, listen: Address | None, upstream: Address | None) -> None:
        """Toxiproxy's proxy update: a new upstream serves new connections; a new listen address restarts."""
        if upstream is not None:
            self.upstream = upstream
        if listen is not None and (listen.host, listen.port) != (self.listen_host, self.listen_port):
            was_enabled = self.enabled
            await self._stop_listening()
            self.listen_host, self.listen_port = listen.host, listen.port
            if was_enabled:
                await self.start()

    async def reset(self) -> None:
        """Toxiproxy's reset: enabled again, without toxics."""
        for name in list(self.toxics):
            await self.remove_toxic(name)
        await self.start()

    async def close(self) -> None:
        await self._stop_listening()

    def turns(self, since: float, until: float) -> list[tuple[float, int]]:
        """(time, connection id) of the turns counted between two epoch times."""
        log = list(self.turn_log)  # in the order counted, so by time
        lo = bisect.bisect_left(log, (since, -1))
        hi = bisect.bisect_right(log, (until, sys.maxsize))
        return log[lo:hi]

    def describe(self) -> dict[str, Any]:
        """Toxiproxy's shape (name, listen, upstream, enabled, toxics) plus uxchaos's counters."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": str(self.upstream),
            "enabled": self.enabled,
            "toxics": [t.to_dict() for t in self.toxics.values()],
            "connections": len(self.connections),
            "total_connections": self.total_connections,
            "round_trips": self.round_trips,
            "http": dict(self.http_counts),
            "events": list(self.events)[-20:],
        }


class ToxicExists(ValueError):
    """A toxic name used twice on one proxy (Toxiproxy: 409)."""


class ToxicNotFound(KeyError):
    """No toxic by that name (Toxiproxy: 404)."""

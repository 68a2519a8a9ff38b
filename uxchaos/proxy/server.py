"""The asyncio TCP fault proxy: client ⇄ proxy ⇄ upstream service, with toxics applied per chunk.

Built on asyncio Protocols rather than streams: with no toxic a chunk is written to the peer inside
`data_received`, with no extra task hop, which keeps the added round trip near the socket cost.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from uxchaos.proxy.toxics import Bandwidth, Down, Latency, Reset, Timeout, Toxic

log = logging.getLogger("uxchaos.proxy")

HIGH_WATER = 1 << 20  # bytes queued in a delayed pipe before we stop reading the source
LOW_WATER = 1 << 18
BANDWIDTH_SLICE_S = 0.05  # a throttled stream is released in slices this long, like Toxiproxy's 100 ms


@dataclass(frozen=True)
class Address:
    """Where a proxy connects to: a TCP host:port or a Unix socket path."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @classmethod
    def parse(cls, text: str) -> Address:
        if text.startswith("unix:"):
            return cls(unix_path=text[5:])
        if text.startswith("/"):
            return cls(unix_path=text)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"upstream {text!r}: write HOST:PORT (e.g. 127.0.0.1:5432) or unix:/path/to.sock")
        return cls(host=host.strip("[]") or "127.0.0.1", port=int(port))

    def __str__(self) -> str:
        if self.unix_path:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class _Pipe:
    """One direction of one connection: applies toxics and keeps chunk order."""

    def __init__(self, conn: Connection, direction: str) -> None:
        self.conn = conn
        self.direction = direction
        self.loop = conn.loop
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued_bytes = 0
        self.last_at = 0.0
        self.bandwidth_free_at = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.eof_pending = False
        self.paused_source = False
        self.bytes = 0

    def _src(self) -> asyncio.Transport | None:
        return self.conn.client if self.direction == "upstream" else self.conn.upstream

    def _dst(self) -> asyncio.Transport | None:
        return self.conn.upstream if self.direction == "upstream" else self.conn.client

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        toxics = self.conn.toxics_for(self.direction)
        dst = self._dst()
        if not toxics and not self.queue:
            if dst is not None:
                dst.write(data)
            return
        now = self.loop.time()
        at = now
        bandwidth: Bandwidth | None = None
        for toxic in toxics:
            if isinstance(toxic, Timeout):
                self.conn.start_timeout(toxic)
                return  # swallowed
            if isinstance(toxic, Latency):
                at += toxic.sample_delay(self.conn.proxy.rng)
            elif isinstance(toxic, Bandwidth):
                bandwidth = toxic
        if bandwidth is None:
            self._enqueue(max(at, self.last_at), data)
        else:
            step = max(1, int(bandwidth.rate_bytes_per_s * BANDWIDTH_SLICE_S))
            for i in range(0, len(data), step):
                piece = data[i : i + step]
                start = max(at, self.bandwidth_free_at)
                self.bandwidth_free_at = start + len(piece) / bandwidth.rate_bytes_per_s
                self._enqueue(max(self.bandwidth_free_at, self.last_at), piece)
        self._schedule()

    def _enqueue(self, at: float, data: bytes) -> None:
        self.last_at = at
        self.queue.append((at, data))
        self.queued_bytes += len(data)
        src = self._src()
        if self.queued_bytes > HIGH_WATER and src is not None and not self.paused_source:
            self.paused_source = True
            src.pause_reading()

    def _schedule(self) -> None:
        if self.timer is None and self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        dst = self._dst()
        while self.queue and self.queue[0][0] <= now + 0.0002:
            _, data = self.queue.popleft()
            self.queued_bytes -= len(data)
            if dst is not None and not dst.is_closing():
                dst.write(data)
        src = self._src()
        if self.paused_source and self.queued_bytes < LOW_WATER and src is not None and not src.is_closing():
            self.paused_source = False
            src.resume_reading()
        if self.eof_pending and not self.queue:
            self._finish()
        self._schedule()

    def feed_eof(self) -> None:
        if self.queue:
            self.eof_pending = True
        else:
            self._finish()

    def _finish(self) -> None:
        dst = self._dst()
        if dst is not None and not dst.is_closing():
            # The source said goodbye: pass the half-close on, or close when the peer cannot half-close.
            try:
                if dst.can_write_eof():
                    dst.write_eof()
                else:
                    dst.close()
            except OSError:  # the peer is already gone
                dst.close()
        self.conn.half_closed(self.direction)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()


class Connection:
    """A client connection and its upstream twin."""

    def __init__(self, proxy: Proxy, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client: asyncio.Transport | None = client
        self.upstream: asyncio.Transport | None = None
        self.peer = client.get_extra_info("peername")
        self.applies: dict[str, bool] = {}  # toxicity, decided once per toxic
        self.pipes = {"upstream": _Pipe(self, "upstream"), "downstream": _Pipe(self, "downstream")}
        self.closed_directions: set[str] = set()
        self.timeouts: dict[str, asyncio.TimerHandle] = {}
        self.closed = False
        self.task: asyncio.Task[None] | None = None  # keeps the connect task referenced

    def toxic_applies(self, toxic: Toxic) -> bool:
        decided = self.applies.get(toxic.name)
        if decided is None:
            decided = toxic.toxicity >= 1.0 or self.proxy.rng.random() < toxic.toxicity
            self.applies[toxic.name] = decided
        return decided

    def toxics_for(self, direction: str) -> list[Toxic]:
        toxics = self.proxy.toxics
        if not toxics:
            return []
        return [t for t in toxics.values() if t.covers(direction) and self.toxic_applies(t)]

    def start_timeout(self, toxic: Timeout) -> None:
        if toxic.timeout_s > 0 and toxic.name not in self.timeouts:
            self.timeouts[toxic.name] = self.loop.call_later(toxic.timeout_s, self.close)

    def half_closed(self, direction: str) -> None:
        self.closed_directions.add(direction)
        if len(self.closed_directions) == 2:
            self.close()

    def reset(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0), the way a crashed peer looks."""
        for transport in (self.client, self.upstream):
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport.abort()
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for pipe in self.pipes.values():
            pipe.cancel()
        for handle in self.timeouts.values():
            handle.cancel()
        for transport in (self.client, self.upstream):
            if transport is not None and not transport.is_closing():
                transport.close()
        self.proxy.connections.discard(self)

    async def connect_upstream(self) -> None:
        up = self.proxy.upstream
        try:
            for toxic in self.toxics_for("downstream") + self.toxics_for("upstream"):
                if isinstance(toxic, Latency) and toxic.connect:
                    await asyncio.sleep(toxic.sample_delay(self.proxy.rng))
                    break
            if up.unix_path:
                transport, _ = await self.loop.create_unix_connection(lambda: _UpstreamSide(self), up.unix_path)
            else:
                transport, _ = await self.loop.create_connection(lambda: _UpstreamSide(self), up.host, up.port)
        except OSError as e:
            self.proxy.record_event("upstream_unreachable", f"{up}: {e.strerror or e}", peer=self.peer)
            self.close()
            return
        if self.closed:
            transport.close()
            return
        self.upstream = transport  # type: ignore[assignment]
        _set_nodelay(transport)
        if self.client is not None and not self.client.is_closing():
            self.client.resume_reading()


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.proxy.is_down:
            # Accepted by the kernel just before the listener closed: close it like the rest.
            transport.close()
            return
        transport.pause_reading()  # until the upstream side exists
        _set_nodelay(transport)
        conn = Connection(self.proxy, transport)
        self.conn = conn
        self.proxy.connections.add(conn)
        self.proxy.total_connections += 1
        for toxic in self.proxy.toxics.values():
            if isinstance(toxic, Reset) and conn.toxic_applies(toxic):
                self.proxy.loop.call_later(toxic.timeout_s, conn.reset)
        conn.task = self.proxy.loop.create_task(conn.connect_upstream())

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.pipes["upstream"].feed(data)

    def eof_received(self) -> bool:
        assert self.conn is not None
        self.conn.pipes["upstream"].feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.client = None
            self.conn.pipes["upstream"].feed_eof()
            if self.conn.upstream is None or not self.conn.pipes["upstream"].queue:
                self.conn.close()

    def pause_writing(self) -> None:
        if self.conn is not None and self.conn.upstream is not None:
            self.conn.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.conn is not None and self.conn.upstream is not None and not self.conn.upstream.is_closing():
            self.conn.upstream.resume_reading()


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn.pipes["downstream"].feed(data)

    def eof_received(self) -> bool:
        self.conn.pipes["downstream"].feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.upstream = None
        pipe = self.conn.pipes["downstream"]
        pipe.feed_eof()
        if not pipe.queue:
            self.conn.close()

    def pause_writing(self) -> None:
        if self.conn.client is not None:
            self.conn.client.pause_reading()

    def resume_writing(self) -> None:
        if self.conn.client is not None and not self.conn.client.is_closing():
            self.conn.client.resume_reading()


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
        self.connections: set[Connection] = set()
        self.total_connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)

    async def start(self) -> None:
        self.server = await self.loop.create_server(
            lambda: _ClientSide(self), self.listen_host, self.listen_port, reuse_address=True
        )
        self.listen_port = self.server.sockets[0].getsockname()[1]

    @property
    def is_down(self) -> bool:
        return any(isinstance(t, Down) for t in self.toxics.values())

    @property
    def listen(self) -> str:
        return str(Address(host=self.listen_host, port=self.listen_port))

    def record_event(self, kind: str, message: str, **extra: Any) -> None:
        event = {"time": time.time(), "proxy": self.name, "event": kind, "message": message, **extra}
        self.events.append(event)
        log.warning("proxy %s: %s: %s", self.name, kind, message)

    async def add_toxic(self, toxic: Toxic) -> None:
        if toxic.name in self.toxics:
            raise ValueError(f"proxy {self.name!r} already has a toxic named {toxic.name!r}")
        self.toxics[toxic.name] = toxic
        if isinstance(toxic, Down):
            await self._go_down()
        elif isinstance(toxic, Reset):
            for conn in list(self.connections):
                if conn.toxic_applies(toxic):
                    self.loop.call_later(toxic.timeout_s, conn.reset)

    async def remove_toxic(self, name: str) -> Toxic:
        try:
            toxic = self.toxics.pop(name)
        except KeyError:
            raise KeyError(f"proxy {self.name!r} has no toxic named {name!r}") from None
        for conn in self.connections:
            conn.applies.pop(name, None)
            handle = conn.timeouts.pop(name, None)
            if handle is not None:
                handle.cancel()
        if isinstance(toxic, Down) and not self.is_down:
            await self.start()
        return toxic

    async def _go_down(self) -> None:
        if self.server is not None:
            for listener in self.server.sockets:
                self.loop.remove_reader(listener.fileno())  # accept nothing more…
                _close_backlog(listener.fileno())  # …close what waits in the kernel's queue…
            for _ in range(3):  # …and let accepts already in flight reach connection_made (which closes them):
                await asyncio.sleep(0)  # asyncio drops, unclosed, a connection accepted after server.close()
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.close()

    async def reset(self) -> None:
        for name in list(self.toxics):
            await self.remove_toxic(name)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.close()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": str(self.upstream),
            "enabled": self.server is not None,
            "toxics": [t.to_dict() for t in self.toxics.values()],
            "connections": len(self.connections),
            "total_connections": self.total_connections,
            "events": list(self.events)[-20:],
        }

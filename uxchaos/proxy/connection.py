"""One client connection through the proxy and its upstream twin: two pipes (one per direction)
that pass each chunk through the toxics' hooks and keep chunk order, the turns counted, and the
asyncio protocols of both sides.

Built on asyncio Protocols rather than streams: with no toxic a chunk is written to the peer inside
`data_received`, with no extra task hop, which keeps the added round trip near the socket cost."""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from uxchaos.proxy.address import Address
from uxchaos.proxy.http import HttpTracker, ProxyCounters
from uxchaos.proxy.toxics import Chunk, Toxic

HIGH_WATER = 1 << 20  # bytes queued in a delayed pipe before we stop reading the source
LOW_WATER = 1 << 18
BANDWIDTH_SLICE_S = 0.05  # a throttled stream is released in slices this long, like Toxiproxy's 100 ms


class ProxySide(ProxyCounters, Protocol):
    """What a connection needs of its proxy (server.Proxy is one): where to connect, the toxics in
    force, the counters it adds to, and the set of open connections it belongs to."""

    loop: asyncio.AbstractEventLoop
    upstream: Address
    stream_toxics: list[Toxic]
    connections: set[Connection]
    total_connections: int
    connection_ids: int
    round_trips: int
    turn_log: collections.deque[tuple[float, int]]

    @property
    def enabled(self) -> bool: ...

    def record_event(self, kind: str, message: str, **extra: Any) -> None: ...


class Pipe:
    """One direction of one connection: passes each chunk through its toxics' hooks and keeps chunk
    order; to a toxic it is a `toxics.Stream`."""

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
        self.held_eof = False  # the source ended while a timeout toxic held this direction
        self.finishing: asyncio.TimerHandle | None = None  # a slow_close holding back the close
        self.close_when_flushed = False
        self.paused_source = False
        self.bytes = 0
        self.state: dict[str, Any] = {}  # what each toxic keeps about this direction, by its name

    def _src(self) -> asyncio.Transport | None:
        return self.conn.client if self.direction == "upstream" else self.conn.upstream

    def _dst(self) -> asyncio.Transport | None:
        return self.conn.upstream if self.direction == "upstream" else self.conn.client

    def feed(self, data: bytes) -> None:
        if self.direction == "upstream" and self.conn.upstream is None and not self.conn.closed:
            # The client spoke before the service's side was connected (reading is paused until then,
            # but Python 3.11.2's asyncio can undo a pause made in connection_made): kept, not lost.
            self.conn.early.append(data)
            return
        self.conn.count_turn(self.direction)
        http = self.conn.http
        if http is None:
            self.forward(data)
        else:
            http.feed(self.direction, data)

    def forward(self, data: bytes, extra_delay_s: float = 0.0) -> None:
        """Pass bytes on through this direction's toxics (`extra_delay_s`: an HTTP toxic's hold-back)."""
        self.bytes += len(data)
        toxics = self.conn.toxics_for(self.direction)
        if not toxics and not self.queue and not extra_delay_s and not self.close_when_flushed:
            dst = self._dst()
            if dst is not None:
                dst.write(data)
            return
        chunk = Chunk(data, self.loop.time() + extra_delay_s)
        for toxic in toxics:
            if not toxic.on_chunk(chunk, self):
                return  # swallowed
        data, at = chunk.data, chunk.at
        if chunk.cut is not None:
            offset = 0
            for i, size in enumerate(chunk.cut(len(data))):
                if i:
                    at += chunk.piece_gap_s
                self._timed(at, data[offset : offset + size], chunk.rate_bytes_per_s)
                offset += size
        elif data:
            self._timed(at, data, chunk.rate_bytes_per_s)
        if chunk.close_after:
            self.close_after_flush()
        self._schedule()

    # -- what a toxic sees of this direction (toxics.Stream) ---------------------------------------
    @property
    def rng(self) -> random.Random:
        return self.conn.proxy.rng

    def close_later(self, name: str, after_s: float) -> None:
        self.conn.later(name, after_s, self.conn.close)

    def reset_later(self, name: str, after_s: float) -> None:
        self.conn.later(name, after_s, self.conn.reset, even_now=True)

    def _timed(self, at: float, data: bytes, rate_bytes_per_s: float | None) -> None:
        if rate_bytes_per_s is None:
            self._enqueue(max(at, self.last_at), data)
            return
        step = max(1, int(rate_bytes_per_s * BANDWIDTH_SLICE_S))
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            start = max(at, self.bandwidth_free_at)
            self.bandwidth_free_at = start + len(piece) / rate_bytes_per_s
            self._enqueue(max(self.bandwidth_free_at, self.last_at), piece)

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
        elif not self.queue and self.close_when_flushed:
            self.conn.cut()

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

    def close_after_flush(self) -> None:
        """End the connection once what is queued here is written (limit_data, a cut HTTP body)."""
        self.close_when_flushed = True
        self._schedule()

    def feed_eof(self) -> bool:
        """The source ended. True when this direction is finished right away."""
        if self.queue:
            self.eof_pending = True
            return False
        toxics = self.conn.toxics_for(self.direction)
        if not self.conn.closed and any(toxic.hold_eof(self) for toxic in toxics):
            self.held_eof = True  # until the toxic is removed (Proxy.remove_toxic) or closes the connection
            return False
        slow = [delay for delay in (toxic.close_delay_s() for toxic in toxics) if delay > 0]
        if slow and self.finishing is None and not self.conn.closed:
            self.finishing = self.loop.call_later(max(slow), self._finish)
            return False
        if self.finishing is None:
            self._finish()
        return self.finishing is None

    def _finish(self) -> None:
        self.finishing = None
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
        for handle in (self.timer, self.finishing):
            if handle is not None:
                handle.cancel()
        self.timer = self.finishing = None
        self.queue.clear()
        self.queued_bytes = 0


class Connection:
    """A client connection and its upstream twin."""

    def __init__(self, proxy: ProxySide, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client: asyncio.Transport | None = client
        self.upstream: asyncio.Transport | None = None
        self.peer = client.get_extra_info("peername")
        self.applies: dict[str, bool] = {}  # toxicity, decided once per toxic
        self.pipes = {"upstream": Pipe(self, "upstream"), "downstream": Pipe(self, "downstream")}
        self.http: HttpTracker | None = HttpTracker(self)  # None once the traffic is known not to be HTTP/1.x
        self.closed_directions: set[str] = set()
        self.timeouts: dict[str, asyncio.TimerHandle] = {}
        self.closed = False
        self.task: asyncio.Task[None] | None = None  # keeps the connect task referenced
        self.last_direction = ""
        self.early: list[bytes] = []  # client bytes that came before the upstream connection
        self.early_eof = False
        proxy.connection_ids += 1
        self.id = proxy.connection_ids  # names the connection in the turn log

    def count_turn(self, direction: str) -> None:
        """A round trip is the service answering after the client spoke: counted when data arrives
        downstream after upstream data (by arrival at the proxy, so toxics do not change it). A
        server's greeting on a new connection (MySQL, SMTP) answers the connect: a turn too, since
        the client waits for it and a delay holds it back."""
        if direction == "downstream" and self.last_direction != "downstream":
            self.proxy.round_trips += 1
            self.proxy.turn_log.append((time.time(), self.id))
        self.last_direction = direction

    def toxic_applies(self, toxic: Toxic) -> bool:
        decided = self.applies.get(toxic.name)
        if decided is None:
            decided = toxic.toxicity >= 1.0 or self.proxy.rng.random() < toxic.toxicity
            self.applies[toxic.name] = decided
        return decided

    def toxics_for(self, direction: str) -> list[Toxic]:
        toxics = self.proxy.stream_toxics
        if not toxics:
            return []
        return [t for t in toxics if t.covers(direction) and self.toxic_applies(t)]

    def later(self, name: str, after_s: float, action: Callable[[], None], even_now: bool = False) -> None:
        """A toxic's timer on this connection, started once per toxic name; an `after_s` of 0 starts
        none unless `even_now`."""
        if (after_s > 0 or even_now) and name not in self.timeouts:
            self.timeouts[name] = self.loop.call_later(after_s, action)

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

    def cut(self) -> None:
        """End the connection now: the client gets what was written so far, then the end of the stream."""
        if self.upstream is not None:
            self.upstream.abort()
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.http = None
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
                delay = toxic.connect_delay_s(self.proxy.rng)
                if delay is not None:
                    await asyncio.sleep(delay)
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
        self.upstream = transport
        set_nodelay(transport)
        early, self.early = self.early, []
        for data in early:
            self.pipes["upstream"].feed(data)
        if self.early_eof and self.pipes["upstream"].feed_eof():
            self.close()
            return
        if self.client is not None and not self.client.is_closing():
            self.client.resume_reading()


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


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
        self.conn.pipes["upstream"].cancel()
        self.conn.half_closed("upstream")
        if self.conn.pipes["downstream"].feed_eof():
            self.conn.close()

    def pause_writing(self) -> None:
        if self.conn.client is not None:
            self.conn.client.pause_reading()

    def resume_writing(self) -> None:
        if self.conn.client is not None and not self.conn.client.is_closing():
            self.conn.client.resume_reading()

"""The asyncio TCP fault proxy: client ⇄ proxy ⇄ upstream service, with toxics applied per chunk.

Built on asyncio Protocols rather than streams: with no toxic a chunk is written to the peer inside
`data_received`, with no extra task hop, which keeps the added round trip near the socket cost.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import os
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uxchaos.proxy.http import HttpTracker
from uxchaos.proxy.toxics import Chunk, HttpToxic, Toxic, ToxicError

log = logging.getLogger("uxchaos.proxy")

HIGH_WATER = 1 << 20  # bytes queued in a delayed pipe before we stop reading the source
LOW_WATER = 1 << 18
BANDWIDTH_SLICE_S = 0.05  # a throttled stream is released in slices this long, like Toxiproxy's 100 ms
TURN_HISTORY = 100_000  # the times of the latest turns kept, for the turns counted during each action


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

    def __init__(self, proxy: Proxy, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client: asyncio.Transport | None = client
        self.upstream: asyncio.Transport | None = None
        self.peer = client.get_extra_info("peername")
        self.applies: dict[str, bool] = {}  # toxicity, decided once per toxic
        self.pipes = {"upstream": _Pipe(self, "upstream"), "downstream": _Pipe(self, "downstream")}
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
        _set_nodelay(transport)
        early, self.early = self.early, []
        for data in early:
            self.pipes["upstream"].feed(data)
        if self.early_eof and self.pipes["upstream"].feed_eof():
            self.close()
            return
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
        if not self.proxy.enabled:
            # Accepted by the kernel just before the listener closed: close it like the rest.
            transport.close()
            return
        transport.pause_reading()  # until the upstream side exists
        _set_nodelay(transport)
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
            lambda: _ClientSide(self), self.listen_host, self.listen_port, reuse_address=True, backlog=4096
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

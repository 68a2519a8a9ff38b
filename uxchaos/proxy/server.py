"""The asyncio TCP fault proxy: client ⇄ proxy ⇄ upstream service, with toxics applied per chunk.

Sockets are driven straight from the event loop (`sockets.Side`): a direction with no toxic and no
HTTP to follow is spliced kernel-side; otherwise every chunk read goes through the toxics here and
is written inside the read callback when nothing delays it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import socket
import time
from dataclasses import dataclass
from typing import Any

from uxchaos.proxy.http import HttpTracker
from uxchaos.proxy.sockets import HIGH_WATER, LOW_WATER, KernelPipes, Side
from uxchaos.proxy.toxics import (
    Bandwidth,
    HttpToxic,
    Latency,
    LimitData,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
    Toxic,
    ToxicError,
)

log = logging.getLogger("uxchaos.proxy")

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
        self.finishing: asyncio.TimerHandle | None = None  # a slow_close holding back the close
        self.close_when_flushed = False
        self.paused_source = False
        self.bytes = 0
        self.passed: dict[str, int] = {}  # limit_data: bytes passed per toxic

    def _src(self) -> Side | None:
        return self.conn.client if self.direction == "upstream" else self.conn.upstream

    def _dst(self) -> Side | None:
        return self.conn.upstream if self.direction == "upstream" else self.conn.client

    def _write(self, dst: Side, data: bytes) -> None:
        dst.write(data)
        if dst.needs_backpressure():
            src = self._src()
            if src is not None:
                dst.block(src)

    def feed(self, data: bytes) -> None:
        http = self.conn.http
        if http is None:
            self.forward(data)
        elif self.direction == "upstream":
            http.upstream(data)
        else:
            http.downstream(data)

    def forward(self, data: bytes, extra_delay_s: float = 0.0) -> None:
        """Pass bytes on through this direction's toxics (`extra_delay_s`: an HTTP toxic's hold-back)."""
        self.bytes += len(data)
        toxics = self.conn.toxics_for(self.direction)
        if not toxics and not self.queue and not extra_delay_s and not self.close_when_flushed:
            dst = self._dst()
            if dst is not None:
                self._write(dst, data)
            return
        at = self.loop.time() + extra_delay_s
        bandwidth: Bandwidth | None = None
        slicer: Slicer | None = None
        limited = False
        for toxic in toxics:
            if isinstance(toxic, Timeout):
                self.conn.start_timeout(toxic)
                return  # swallowed
            if isinstance(toxic, ResetPeer):
                self.conn.start_reset(toxic)
                return  # dropped, the connection is about to be reset
            if isinstance(toxic, Latency):
                at += toxic.sample_delay(self.conn.proxy.rng)
            elif isinstance(toxic, Bandwidth):
                bandwidth = toxic
            elif isinstance(toxic, Slicer):
                slicer = toxic
            elif isinstance(toxic, LimitData):
                passed = self.passed.get(toxic.name, 0)
                if passed + len(data) >= toxic.limit_bytes:
                    data = data[: max(0, toxic.limit_bytes - passed)]
                    limited = True
                self.passed[toxic.name] = passed + len(data)
        pieces = [data]
        if slicer is not None:
            pieces, offset = [], 0
            for i, size in enumerate(slicer.cut(len(data), self.conn.proxy.rng)):
                pieces.append(data[offset : offset + size])
                offset += size
                if i:
                    at += slicer.delay_us / 1e6
                self._timed(at, pieces[-1], bandwidth)
        elif data:
            self._timed(at, data, bandwidth)
        if limited:
            self.close_after_flush()
        self._schedule()

    def _timed(self, at: float, data: bytes, bandwidth: Bandwidth | None) -> None:
        if bandwidth is None:
            self._enqueue(max(at, self.last_at), data)
            return
        step = max(1, int(bandwidth.rate_bytes_per_s * BANDWIDTH_SLICE_S))
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            start = max(at, self.bandwidth_free_at)
            self.bandwidth_free_at = start + len(piece) / bandwidth.rate_bytes_per_s
            self._enqueue(max(self.bandwidth_free_at, self.last_at), piece)

    def _enqueue(self, at: float, data: bytes) -> None:
        self.last_at = at
        self.queue.append((at, data))
        self.queued_bytes += len(data)
        src = self._src()
        if self.queued_bytes > HIGH_WATER and src is not None and not self.paused_source:
            self.paused_source = True
            src.pause_reading("queue")

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
                self._write(dst, data)
        src = self._src()
        if self.paused_source and self.queued_bytes < LOW_WATER and src is not None and not src.is_closing():
            self.paused_source = False
            src.resume_reading("queue")
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
        slow = [t.timeout_s for t in self.conn.toxics_for(self.direction) if isinstance(t, SlowClose)]
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
            # The source said goodbye: pass the half-close on.
            dst.write_eof()
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

    def __init__(self, proxy: Proxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.peer = _peer(client)
        self.client: Side | None = self._side(client, "upstream")
        self.client.pause_reading("connecting")  # until the upstream side exists
        self.client.start()
        self.upstream: Side | None = None
        self.applies: dict[str, bool] = {}  # toxicity, decided once per toxic
        self.pipes = {"upstream": _Pipe(self, "upstream"), "downstream": _Pipe(self, "downstream")}
        self.http: HttpTracker | None = HttpTracker(self)  # None once the traffic is known not to be HTTP/1.x
        self.closed_directions: set[str] = set()
        self.timeouts: dict[str, asyncio.TimerHandle] = {}
        self.closed = False
        self.task: asyncio.Task[None] | None = None  # keeps the connect task referenced

    def _side(self, sock: socket.socket, feeds: str) -> Side:
        """A socket whose bytes feed the pipe of direction `feeds`."""
        pipe = lambda: self.pipes[feeds]  # noqa: E731 - the pipes exist once the side reads
        return Side(self.loop, sock, self.proxy.kernel_pipes, on_data=lambda data: pipe().feed(data),
                    on_eof=lambda: self._source_ended(feeds), can_splice_to=lambda: self._splice_target(feeds),
                    on_lost=self.close)

    def _splice_target(self, direction: str) -> Side | None:
        """Where this direction's bytes may go kernel-side: nothing to apply, nothing queued."""
        pipe = self.pipes[direction]
        dst = pipe._dst()
        if (self.http is not None or dst is None or dst.out or pipe.queue or pipe.close_when_flushed
                or dst.is_closing() or self.toxics_for(direction)):
            return None
        return dst

    def _source_ended(self, direction: str) -> None:
        if self.pipes[direction].feed_eof() and self.closed_directions >= {"upstream", "downstream"}:
            self.close()

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

    def start_timeout(self, toxic: Timeout) -> None:
        if toxic.timeout_s > 0 and toxic.name not in self.timeouts:
            self.timeouts[toxic.name] = self.loop.call_later(toxic.timeout_s, self.close)

    def start_reset(self, toxic: ResetPeer) -> None:
        if toxic.name not in self.timeouts:
            self.timeouts[toxic.name] = self.loop.call_later(toxic.timeout_s, self.reset)

    def half_closed(self, direction: str) -> None:
        self.closed_directions.add(direction)
        if len(self.closed_directions) == 2:
            self.close()

    def reset(self) -> None:
        """Close both sides with a TCP RST, the way a crashed peer looks."""
        for side in (self.client, self.upstream):
            if side is not None:
                side.reset()
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
        for side in (self.client, self.upstream):
            if side is not None:
                side.close()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.proxy.connections.discard(self)

    async def connect_upstream(self) -> None:
        up = self.proxy.upstream
        try:
            for toxic in self.toxics_for("downstream") + self.toxics_for("upstream"):
                if isinstance(toxic, Latency) and toxic.connect:
                    await asyncio.sleep(toxic.sample_delay(self.proxy.rng))
                    break
            sock = await _connect(self.loop, up)
        except OSError as e:
            self.proxy.record_event("upstream_unreachable", f"{up}: {e.strerror or e}", peer=self.peer)
            self.close()
            return
        if self.closed:
            sock.close()
            return
        self.upstream = self._side(sock, "downstream")
        self.upstream.start()
        if self.client is not None:
            self.client.resume_reading("connecting")


def _peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _connect(loop: asyncio.AbstractEventLoop, up: Address) -> socket.socket:
    """A connected non-blocking socket to the upstream (TCP host:port or a Unix socket)."""
    if up.unix_path:
        candidates = [(socket.AF_UNIX, up.unix_path)]
    else:
        try:
            candidates = [(socket.AF_INET6 if ":" in up.host else socket.AF_INET,
                           (socket.inet_ntop(socket.AF_INET6 if ":" in up.host else socket.AF_INET,
                                             socket.inet_pton(socket.AF_INET6 if ":" in up.host else socket.AF_INET,
                                                              up.host)), up.port))]
        except OSError:  # a host name
            infos = await loop.getaddrinfo(up.host, up.port, type=socket.SOCK_STREAM)
            candidates = [(family, addr) for family, _, _, _, addr in infos]
    error: OSError = OSError(f"no address for {up}")
    for family, addr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
        except OSError as e:
            sock.close()
            error = e
            continue
        except BaseException:
            sock.close()
            raise
        _set_nodelay(sock)
        return sock
    raise error


def _close_backlog(listener: socket.socket) -> None:
    """Accept and close connections still waiting in a listener's queue: closing the listener
    alone would leave those clients hanging instead of seeing the connection end."""
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
        self.listener: socket.socket | None = None
        self.kernel_pipes = KernelPipes()
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)
        self.http_counts: dict[str, int] = {"answered": 0, "dropped_bodies": 0}
        self.other_traffic: bytes | None = None  # first bytes of the last connection that was not HTTP/1.x
        self._warned_not_http = False

    @property
    def enabled(self) -> bool:
        return self.listener is not None

    async def start(self) -> None:
        if self.listener is not None:
            return
        family = socket.AF_INET6 if ":" in self.listen_host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.listen_host, self.listen_port))
            listener.listen(4096)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self.listen_port = listener.getsockname()[1]
        self.listener = listener
        self.loop.add_reader(listener.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(256):  # then let the connections already accepted run
            if self.listener is None:
                return
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. out of file descriptors: the client waits in the backlog
                self.record_event("accept_failed", str(e))
                return
            sock.setblocking(False)
            _set_nodelay(sock)
            conn = Connection(self, sock)
            self.connections.add(conn)
            self.total_connections += 1
            conn.task = self.loop.create_task(conn.connect_upstream())

    @property
    def listen(self) -> str:
        return str(Address(host=self.listen_host, port=self.listen_port))

    def record_event(self, kind: str, message: str, **extra: Any) -> None:
        event = {"time": time.time(), "proxy": self.name, "event": kind, "message": message, **extra}
        self.events.append(event)
        log.warning("proxy %s: %s: %s", self.name, kind, message)

    def http_toxics(self) -> list[HttpToxic]:
        return [t for t in self.toxics.values() if isinstance(t, HttpToxic)]

    def count_http(self, what: str) -> None:
        self.http_counts[what] += 1

    def not_http(self, first_bytes: bytes, peer: Any) -> None:
        """A connection that is not HTTP/1.x passes untouched; say so when HTTP toxics wait for HTTP."""
        self.other_traffic = first_bytes[:16]
        if self.http_toxics() and not self._warned_not_http:
            self._warned_not_http = True
            names = ", ".join(t.name for t in self.http_toxics())
            self.record_event("not_http", f"traffic is not HTTP/1.x (starts {first_bytes[:16]!r}); it passes "
                              f"untouched by {names}", peer=peer)

    def _refresh(self) -> None:
        self.stream_toxics = [t for t in self.toxics.values() if not t.http]

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
        for conn in self.connections:
            conn.applies.pop(name, None)
            handle = conn.timeouts.pop(name, None)
            if handle is not None:
                handle.cancel()
        return toxic

    async def set_enabled(self, enabled: bool) -> None:
        """Toxiproxy's `enabled`: a disabled proxy listens no more and has closed every connection."""
        if enabled:
            await self.start()
        else:
            await self._stop_listening()

    async def _stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            self.loop.remove_reader(listener.fileno())  # accept nothing more,
            _close_backlog(listener)  # close what waits in the kernel's queue (or those clients would hang)
            listener.close()
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
        self.kernel_pipes.close()

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
            "http": dict(self.http_counts),
            "events": list(self.events)[-20:],
        }


class ToxicExists(ValueError):
    """A toxic name used twice on one proxy (Toxiproxy: 409)."""


class ToxicNotFound(KeyError):
    """No toxic by that name (Toxiproxy: 404)."""

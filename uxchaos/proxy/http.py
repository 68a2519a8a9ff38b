"""HTTP/1.x awareness for the proxy: follow requests and responses on a connection (keep-alive and
pipelining included) so the HTTP toxics can answer a status, hold back response headers or cut a
body — each request decided on its own. Anything that is not HTTP/1.x passes through untouched.

Reading HTTP never holds bytes back unless an HTTP toxic needs them: while the proxy has no HTTP
toxic (and no exchange still owes one an effect), every chunk is forwarded as it arrives and the
parser only follows along behind it. A connection is given up as "not HTTP" on its first bytes that
cannot begin an HTTP/1.x message, or as soon as the server speaks before any request — the
protocols where the server greets first (MySQL, SMTP, FTP, SSH…) must never wait for a parser.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from uxchaos.proxy.framing import (
    REQUEST_LINE,
    REQUEST_START,
    STATUS_LINE,
    STATUS_START,
    Event,
    Framer,
    Head,
)
from uxchaos.proxy.toxics import HttpEffects, HttpToxic


class Forwarder(Protocol):
    """One direction of the connection (connection.Pipe is one)."""

    def forward(self, data: bytes, extra_delay_s: float = 0.0) -> None: ...

    def close_after_flush(self) -> None: ...


class ProxyCounters(Protocol):
    """What the tracker asks of the proxy: its HTTP toxics, its random source, and two counters."""

    @property
    def rng(self) -> random.Random: ...

    @property
    def http_toxic_list(self) -> Sequence[HttpToxic]: ...

    def count_http(self, what: str) -> None: ...

    def not_http(self, reason: bytes, peer: Any, first_bytes: bool = True) -> None: ...


class FollowedConnection(Protocol):
    """What the tracker needs of the connection it follows (connection.Connection is one): the two
    pipes it forwards into, its peer, its proxy, and its `http` slot, emptied when HTTP ends."""

    http: HttpTracker | None

    @property
    def peer(self) -> Any: ...

    @property
    def pipes(self) -> Mapping[str, Forwarder]: ...

    @property
    def proxy(self) -> ProxyCounters: ...

@dataclass
class Exchange:
    method: str
    target: str
    keep_alive: bool
    effects: HttpEffects = field(default_factory=HttpEffects)  # what the HTTP toxics chosen for it do
    cut_left: int = -1  # body bytes still to pass before a drop; -1 = not decided yet
    done: bool = False  # the request is complete (for an answered one: ready to answer)
    toxics: list[str] = field(default_factory=list)

    @property
    def owes_effect(self) -> bool:
        return self.effects.any

    @property
    def answered(self) -> bool:
        return self.effects.answer is not None


class HttpTracker:
    """Follows one connection's HTTP/1.x exchanges and applies the proxy's HTTP toxics.

    Each direction's bytes are either held by the parser (an HTTP toxic is about: a request head
    must be whole before its toxics can be chosen) or forwarded on arrival with the parser behind
    them. `ahead[d]` counts bytes already forwarded that the parser has not given out yet, so that
    what it gives out later is not sent twice."""

    def __init__(self, conn: FollowedConnection) -> None:
        self.conn = conn
        self.framers = {"upstream": Framer(REQUEST_LINE, REQUEST_START, self._request_body),
                        "downstream": Framer(STATUS_LINE, STATUS_START, self._response_body)}
        self.ahead = {"upstream": 0, "downstream": 0}
        self.pending: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None  # the request being read
        self.answering: Exchange | None = None  # the exchange whose response is being read
        self.exchanges = 0  # requests seen on this connection

    # -- framing rules ---------------------------------------------------------------------------
    @staticmethod
    def _request_body(head: Head) -> tuple[str, int]:
        mode, n = head.framing()
        return ("none", 0) if mode == "close" else (mode, n)  # a request without length has no body

    def _response_body(self, head: Head) -> tuple[str, int]:
        status = int(head.first.group(1))
        if status == 101:
            return "close", 0
        if 100 <= status < 200 or status in (204, 304):
            return "none", 0
        front = self._front_real()
        if front is not None and front.method == "HEAD":
            return "none", 0
        return head.framing()

    def _front_real(self) -> Exchange | None:
        return next((ex for ex in self.pending if not ex.answered), None)

    # -- forwarding ------------------------------------------------------------------------------
    def feed(self, direction: str, data: bytes) -> None:
        if direction == "downstream" and not self.pending and self.answering is None and \
                not self.framers["downstream"].buf:
            # The server spoke with no request outstanding: a server-first protocol (or a server
            # talking out of turn). Nothing of it is held.
            self._stop(direction, data, b"the server spoke first: " + data[:24] if not self.exchanges else None)
            return
        if not self._holding():
            self._catch_up(direction)
            self.conn.pipes[direction].forward(data)
            self.ahead[direction] += len(data)
        events = self.framers[direction].feed(data)
        if direction == "upstream":
            self._requests(events)
        else:
            self._responses(events)

    def _holding(self) -> bool:
        """Whether bytes wait for the parser: only while an HTTP toxic may act on them."""
        return bool(self.conn.proxy.http_toxic_list) or any(ex.owes_effect for ex in self.pending)

    def _catch_up(self, direction: str) -> None:
        """Forward what the parser holds in this direction (beyond what was forwarded already)."""
        buf = self.framers[direction].buf
        held = len(buf) - self.ahead[direction]
        if held > 0:
            self.conn.pipes[direction].forward(bytes(buf[-held:]))
            self.ahead[direction] = len(buf)

    def _pass(self, direction: str, data: bytes, delay_s: float = 0.0) -> None:
        """The parser gives out `data`: forward what of it was not forwarded on arrival."""
        skip = min(self.ahead[direction], len(data))
        self.ahead[direction] -= skip
        if skip < len(data):
            self.conn.pipes[direction].forward(data[skip:] if skip else data, delay_s)

    def _drop(self, direction: str, n: int) -> None:
        """The parser gives out `n` bytes that are not to be forwarded (an answered request's)."""
        self.ahead[direction] -= min(self.ahead[direction], n)

    def _stop(self, direction: str, rest: bytes, not_http: bytes | None) -> None:
        """Stop following HTTP: forward everything still held, both ways, then `rest` (bytes of
        `direction` that came after them). `not_http` is the reason to report, if any."""
        self.conn.http = None
        other = "downstream" if direction == "upstream" else "upstream"
        self._catch_up(other)
        if rest:  # given out by the parser before what it still holds
            self._pass(direction, rest)
        self._catch_up(direction)
        if not_http is not None:
            self.conn.proxy.not_http(not_http, self.conn.peer, first_bytes=not self.exchanges)

    # -- the two directions ----------------------------------------------------------------------
    def _requests(self, events: list[Event]) -> None:
        for kind, value in events:
            if kind == "head":
                assert isinstance(value, Head)
                self.exchanges += 1
                self.current = self._decide(value, partly_sent=self.ahead["upstream"] > 0)
                self.pending.append(self.current)
                if not self.current.answered:
                    self._pass("upstream", value.raw)
                else:
                    self._drop("upstream", len(value.raw))
            elif kind == "body":
                assert isinstance(value, bytes) and self.current is not None
                if not self.current.answered:
                    self._pass("upstream", value)
                else:
                    self._drop("upstream", len(value))
            elif kind == "end":
                if self.current is not None:
                    self.current.done = True
                    self._answer_ready()
            else:
                assert isinstance(value, bytes)
                self._stop("upstream", b"", value)
                return

    def _responses(self, events: list[Event]) -> None:
        for i, (kind, value) in enumerate(events):
            ex = self.answering
            if kind == "head":
                assert isinstance(value, Head)
                ex = self.answering = self._front_real()
                if ex is None:
                    self._stop("downstream", _joined(value.raw, events[i + 1:]), b"a response nobody asked for")
                    return
                status = int(value.first.group(1))
                if status == 101:  # Switching Protocols: what follows is another protocol
                    self._stop("downstream", _joined(value.raw, events[i + 1:]), None)
                    return
                if 100 <= status < 200:  # interim response; the final one follows
                    self._pass("downstream", value.raw)
                    continue
                self._pass("downstream", value.raw, ex.effects.header_delay_s)
                if ex.effects.drop_fraction is not None:
                    mode, n = value.framing()
                    ex.cut_left = int(n * ex.effects.drop_fraction) if mode == "length" else 0
                    if ex.cut_left == 0 and mode != "length":
                        ex.cut_left = -2  # cut after the first piece of body
            elif kind == "body":
                assert isinstance(value, bytes)
                if ex is not None and ex.effects.drop_fraction is not None:
                    self._cut(ex, value)
                    if self.conn.http is None:
                        return
                else:
                    self._pass("downstream", value)
            elif kind == "end":
                if ex is None:
                    continue
                if ex.effects.drop_fraction is not None and ex.cut_left >= 0:
                    self._cut(ex, b"")
                    return
                self.answering = None
                if self.pending and self.pending[0] is ex:
                    self.pending.popleft()
                else:
                    self.pending.remove(ex)
                self._answer_ready()
            else:
                assert isinstance(value, bytes)
                self._stop("downstream", b"", value)
                return

    def _cut(self, ex: Exchange, body: bytes) -> None:
        if ex.cut_left == -2:
            self._pass("downstream", body)
        else:
            if ex.cut_left > 0:
                self._pass("downstream", body[: ex.cut_left])
            if len(body) < ex.cut_left:
                ex.cut_left -= len(body)
                return
        self.conn.http = None
        self.conn.proxy.count_http("dropped_bodies")
        self.conn.pipes["downstream"].close_after_flush()

    # -- decisions and answers -------------------------------------------------------------------
    def _decide(self, head: Head, partly_sent: bool) -> Exchange:
        """Choose the HTTP toxics for one request. A request whose first bytes already went to the
        service (they came while no HTTP toxic was about) cannot be answered by the proxy any more."""
        method = head.first.group(1).decode("latin-1")
        target = head.first.group(2).decode("latin-1")
        connection = head.headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (head.first.group(3) == b"1" or "keep-alive" in connection)
        ex = Exchange(method, target, keep_alive)
        rng = self.conn.proxy.rng
        for toxic in self.conn.proxy.http_toxic_list:
            if not toxic.matches(method, target) or (toxic.toxicity < 1 and rng.random() >= toxic.toxicity):
                continue
            if toxic.decide(ex.effects, partly_sent):
                ex.toxics.append(toxic.name)
        return ex

    def _answer_ready(self) -> None:
        """Send the answers of requests whose turn has come (all earlier responses complete)."""
        while self.pending and self.pending[0].answered and self.pending[0].done:
            ex = self.pending.popleft()
            assert ex.effects.answer is not None
            self.conn.proxy.count_http("answered")
            pipe = self.conn.pipes["downstream"]
            pipe.forward(ex.effects.answer(ex.keep_alive, ex.method), ex.effects.header_delay_s)
            if not ex.keep_alive:
                self.conn.http = None
                pipe.close_after_flush()
                return


def _joined(first: bytes, events: list[Event]) -> bytes:
    """`first` and the body bytes of the events after it, as one piece."""
    return first + b"".join(v for k, v in events if k == "body" and isinstance(v, bytes))

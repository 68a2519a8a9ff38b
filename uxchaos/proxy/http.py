"""HTTP/1.x awareness for the proxy: follow requests and responses on a connection (keep-alive and
pipelining included) so the HTTP toxics can answer a status, hold back response headers or cut a
body — each request decided on its own. Anything that is not HTTP/1.x passes through untouched.

Bytes are forwarded exactly as they came; parsing only finds where messages start and end.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING

from uxchaos.proxy.toxics import HttpDropBody, HttpSlowHeaders, HttpStatus

if TYPE_CHECKING:
    from uxchaos.proxy.server import Connection

MAX_HEAD = 64 * 1024
_REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.([01])\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")
_METHOD_PREFIX = re.compile(rb"[A-Z]{1,16}( |$)")


class NotHttp(Exception):
    """The bytes are not HTTP/1.x: the connection passes through untouched from here on."""


@dataclass
class Head:
    raw: bytes
    first: re.Match[bytes]
    headers: dict[str, str]

    @classmethod
    def parse(cls, raw: bytes, line: re.Pattern[bytes]) -> Head:
        first = line.match(raw)
        if first is None:
            raise NotHttp(raw[:40])
        headers: dict[str, str] = {}
        for text in raw.decode("latin-1").split("\n")[1:]:
            key, sep, value = text.partition(":")
            if sep:
                key = key.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return cls(raw, first, headers)

    def framing(self) -> tuple[str, int]:
        """('chunked', 0), ('length', N) or ('close', 0) for a message with a body."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return "chunked", 0
        length = self.headers.get("content-length")
        if length is not None:
            try:
                return "length", int(length.split(",")[0])
            except ValueError:
                raise NotHttp(b"bad Content-Length") from None
        return "close", 0


class Framer:
    """Splits one direction's bytes into (kind, data) events: ('head', Head), ('body', bytes) and
    ('end', b''). `body_of(head)` says how the body after a head is framed."""

    def __init__(self, line: re.Pattern[bytes], body_of: Callable[[Head], tuple[str, int]]) -> None:
        self.line = line
        self.body_of = body_of
        self.buf = bytearray()
        self.state = "head"  # head | length | chunk-size | chunk-data | trailer | close
        self.remaining = 0

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        events: list[tuple[str, object]] = []
        view = memoryview(data)
        while view:
            if self.state == "length" and not self.buf:
                n = min(self.remaining, len(view))
                events.append(("body", data if n == len(data) else bytes(view[:n])))
                self.remaining -= n
                view = view[n:]
                if self.remaining == 0:
                    self.state = "head"
                    events.append(("end", b""))
                continue
            if self.state == "close":
                events.append(("body", bytes(view)))
                break
            if self.state == "chunk-data":
                n = min(self.remaining, len(view))
                events.append(("body", bytes(view[:n])))
                self.remaining -= n
                view = view[n:]
                if self.remaining == 0:
                    self.state = "chunk-size"
                continue
            # line-oriented states: head, chunk-size, trailer
            self.buf += view
            view = memoryview(b"")
            events += self._lines()
        return events

    def _lines(self) -> list[tuple[str, object]]:
        events: list[tuple[str, object]] = []
        while self.buf and self.state in ("head", "chunk-size", "trailer"):
            if self.state == "head":
                if self.line is _REQUEST_LINE and not _METHOD_PREFIX.match(bytes(self.buf[:17])):
                    raise NotHttp(bytes(self.buf[:40]))
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        raise NotHttp(b"head larger than 64 KiB")
                    return events
                head = Head.parse(bytes(self.buf[: end + 4]), self.line)  # raises NotHttp with the bytes kept
                del self.buf[: end + 4]
                events.append(("head", head))
                mode, n = self.body_of(head)
                if mode == "none" or (mode == "length" and n == 0):
                    events.append(("end", b""))
                elif mode == "length":
                    self.state, self.remaining = "length", n
                    return events + self._drain_buffer()
                elif mode == "chunked":
                    self.state = "chunk-size"
                else:  # "close" (also after 101 Switching Protocols): everything that follows is body
                    self.state = "close"
                    return events + self._drain_buffer()
            else:
                nl = self.buf.find(b"\n")
                if nl < 0:
                    return events
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                events.append(("body", line))
                if self.state == "chunk-size":
                    try:
                        size = int(line.split(b";")[0].strip(), 16)
                    except ValueError:
                        raise NotHttp(b"bad chunk size") from None
                    if size == 0:
                        self.state = "trailer"
                    else:
                        self.state, self.remaining = "chunk-data", size + 2  # data and its CRLF
                        return events + self._drain_buffer()
                elif line.strip() == b"":  # the empty line that ends the trailer
                    self.state = "head"
                    events.append(("end", b""))
        return events

    def _drain_buffer(self) -> list[tuple[str, object]]:
        rest = bytes(self.buf)
        self.buf.clear()
        return self.feed(rest) if rest else []


@dataclass
class Exchange:
    method: str
    target: str
    keep_alive: bool
    answer: HttpStatus | None = None
    header_delay_s: float = 0.0
    drop: HttpDropBody | None = None
    cut_left: int = -1  # body bytes still to pass before a drop; -1 = not decided yet
    done: bool = False  # the request is complete (for an answered one: ready to answer)
    toxics: list[str] = field(default_factory=list)


class HttpTracker:
    """Follows one connection's HTTP/1.x exchanges and applies the proxy's HTTP toxics."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.requests = Framer(_REQUEST_LINE, self._request_body)
        self.responses = Framer(_STATUS_LINE, self._response_body)
        self.pending: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None  # the request being read
        self.answering: Exchange | None = None  # the exchange whose response is being read

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
        return next((ex for ex in self.pending if ex.answer is None), None)

    # -- the two directions ----------------------------------------------------------------------
    def upstream(self, data: bytes) -> None:
        pipe = self.conn.pipes["upstream"]
        try:
            events = self.requests.feed(data)
        except NotHttp as e:
            self._give_up(e, bytes(self.requests.buf) or data, "upstream")
            return
        for kind, value in events:
            if kind == "head":
                assert isinstance(value, Head)
                self.current = self._decide(value)
                self.pending.append(self.current)
                if self.current.answer is None:
                    pipe.forward(value.raw)
            elif kind == "body":
                assert isinstance(value, bytes) and self.current is not None
                if self.current.answer is None:
                    pipe.forward(value)
            elif self.current is not None:
                self.current.done = True
                self._answer_ready()

    def downstream(self, data: bytes) -> None:
        pipe = self.conn.pipes["downstream"]
        try:
            events = self.responses.feed(data)
        except NotHttp as e:
            self._give_up(e, bytes(self.responses.buf) or data, "downstream")
            return
        for kind, value in events:
            ex = self.answering
            if kind == "head":
                assert isinstance(value, Head)
                ex = self.answering = self._front_real()
                if ex is None:
                    self._give_up(NotHttp(b"a response nobody asked for"), value.raw, "downstream")
                    return
                status = int(value.first.group(1))
                if status == 101:  # Switching Protocols: what follows is another protocol
                    self.conn.http = None
                    pipe.forward(value.raw)
                    for _, rest in events[events.index((kind, value)) + 1:]:
                        pipe.forward(rest)  # type: ignore[arg-type]
                    return
                if 100 <= status < 200:  # interim response; the final one follows
                    pipe.forward(value.raw)
                    continue
                pipe.forward(value.raw, ex.header_delay_s)
                if ex.drop is not None:
                    mode, n = value.framing()
                    ex.cut_left = int(n * ex.drop.body_fraction) if mode == "length" else 0
                    if ex.cut_left == 0 and mode != "length":
                        ex.cut_left = -2  # cut after the first piece of body
            elif kind == "body":
                assert isinstance(value, bytes)
                if ex is not None and ex.drop is not None:
                    self._cut(ex, value)
                    if self.conn.http is None:
                        return
                else:
                    pipe.forward(value)
            elif ex is not None:
                if ex.drop is not None and ex.cut_left >= 0:
                    self._cut(ex, b"")
                    return
                self.answering = None
                if self.pending and self.pending[0] is ex:
                    self.pending.popleft()
                else:
                    self.pending.remove(ex)
                self._answer_ready()

    def _cut(self, ex: Exchange, body: bytes) -> None:
        pipe = self.conn.pipes["downstream"]
        if ex.cut_left == -2:
            pipe.forward(body)
        else:
            if ex.cut_left > 0:
                pipe.forward(body[: ex.cut_left])
            if len(body) < ex.cut_left:
                ex.cut_left -= len(body)
                return
        self.conn.http = None
        self.conn.proxy.count_http("dropped_bodies")
        pipe.close_after_flush()

    # -- decisions and answers -------------------------------------------------------------------
    def _decide(self, head: Head) -> Exchange:
        method = head.first.group(1).decode("latin-1")
        target = head.first.group(2).decode("latin-1")
        connection = head.headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (head.first.group(3) == b"1" or "keep-alive" in connection)
        ex = Exchange(method, target, keep_alive)
        rng = self.conn.proxy.rng
        for toxic in self.conn.proxy.http_toxics():
            if not toxic.matches(method, target) or (toxic.toxicity < 1 and rng.random() >= toxic.toxicity):
                continue
            if isinstance(toxic, HttpStatus) and ex.answer is None:
                ex.answer = toxic
            elif isinstance(toxic, HttpSlowHeaders):
                ex.header_delay_s += toxic.delay_s
            elif isinstance(toxic, HttpDropBody) and ex.drop is None:
                ex.drop = toxic
            else:
                continue
            ex.toxics.append(toxic.name)
        return ex

    def _answer_ready(self) -> None:
        """Send the answers of requests whose turn has come (all earlier responses complete)."""
        while self.pending and self.pending[0].answer is not None and self.pending[0].done:
            ex = self.pending.popleft()
            assert ex.answer is not None
            self.conn.proxy.count_http("answered")
            pipe = self.conn.pipes["downstream"]
            pipe.forward(_response(ex.answer, ex.keep_alive, ex.method), ex.header_delay_s)
            if not ex.keep_alive:
                self.conn.http = None
                pipe.close_after_flush()
                return

    def _give_up(self, reason: NotHttp, pending: bytes, direction: str) -> None:
        """Not HTTP/1.x (or not any more): forward what was held back and stop looking."""
        self.conn.http = None
        self.conn.proxy.not_http(reason.args[0] if reason.args else b"", self.conn.peer)
        self.conn.pipes[direction].forward(pending)


def _response(toxic: HttpStatus, keep_alive: bool, method: str) -> bytes:
    body = toxic.body.encode()
    try:
        reason = HTTPStatus(toxic.status_code).phrase
    except ValueError:
        reason = "Injected"
    head = (f"HTTP/1.1 {toxic.status_code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n"
            f"X-Uxchaos-Toxic: {toxic.name}\r\n\r\n")
    return head.encode("latin-1") + (b"" if method == "HEAD" else body)

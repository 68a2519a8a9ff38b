"""HTTP/1.x framing, followed byte by byte: a message's head, then its body by Content-Length,
chunked encoding or until the close; any first bytes that cannot begin an HTTP/1.x message are
another protocol, known at once."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.([01])\r?\n")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")
# What the first bytes of a message may be while its first line is still incomplete: a prefix of
# `METHOD target HTTP/1.x` (or of `HTTP/1.x NNN`). Anything else is another protocol, known at once.
REQUEST_START = re.compile(rb"[A-Z]{1,16}(?: \S*(?: (?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[01]\r?)?)?)?)?)?)?)?)?)?)?")
STATUS_START = re.compile(rb"H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[01](?: (?:\d(?:\d\d?)?)?)?)?)?)?)?)?)?)?")
_BODY_STATES = ("length", "chunk-data", "close")

Event = tuple[str, object]  # ('head', Head) | ('body', bytes) | ('end', b'') | ('not-http', reason)


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
    """Splits one direction's bytes into events: ('head', Head), ('body', bytes), ('end', b'') and,
    once the bytes cannot be HTTP/1.x, a last ('not-http', reason) — the bytes not yet given out
    as events then stay in `buf`. `body_of(head)` says how the body after a head is framed."""

    def __init__(self, line: re.Pattern[bytes], start: re.Pattern[bytes],
                 body_of: Callable[[Head], tuple[str, int]]) -> None:
        self.line = line
        self.start = start
        self.body_of = body_of
        self.buf = bytearray()  # bytes received but not yet given out as events
        self.state = "head"  # head | length | chunk-size | chunk-data | trailer | close
        self.remaining = 0
        self.failed = False

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if self.failed:
            self.buf += data
            return events
        try:
            self._feed(data, events)
        except NotHttp as e:
            self.failed = True
            events.append(("not-http", e.args[0] if e.args else b""))
        return events

    def _feed(self, data: bytes, events: list[Event]) -> None:
        view = memoryview(data)
        while view:
            if self.state in _BODY_STATES and not self.buf:
                n = len(view) if self.state == "close" else min(self.remaining, len(view))
                events.append(("body", data if n == len(data) else bytes(view[:n])))
                view = view[n:]
                if self.state != "close":
                    self.remaining -= n
                    if self.remaining == 0:
                        self._body_done(events)
                continue
            # line-oriented states (head, chunk-size, trailer) read from the buffer
            self.buf += view
            data = self._lines(events)
            view = memoryview(data)

    def _body_done(self, events: list[Event]) -> None:
        if self.state == "length":
            self.state = "head"
            events.append(("end", b""))
        else:  # chunk-data
            self.state = "chunk-size"

    def _lines(self, events: list[Event]) -> bytes:
        """Read lines from the buffer until it runs dry or a body starts; returns the bytes after
        the start of a body (taken out of the buffer) for the caller to go on with."""
        while self.buf and self.state not in _BODY_STATES:
            if self.state == "head":
                self._check_start()
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        raise NotHttp(b"head larger than 64 KiB")
                    return b""
                head = Head.parse(bytes(self.buf[: end + 4]), self.line)  # raises NotHttp with the bytes kept
                del self.buf[: end + 4]
                events.append(("head", head))
                mode, n = self.body_of(head)
                if mode == "none" or (mode == "length" and n == 0):
                    events.append(("end", b""))
                elif mode == "length":
                    self.state, self.remaining = "length", n
                elif mode == "chunked":
                    self.state = "chunk-size"
                else:  # "close" (also after 101 Switching Protocols): everything that follows is body
                    self.state = "close"
            else:
                nl = self.buf.find(b"\n")
                if nl < 0:
                    return b""
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
                elif line.strip() == b"":  # the empty line that ends the trailer
                    self.state = "head"
                    events.append(("end", b""))
        rest = bytes(self.buf)
        self.buf.clear()
        return rest

    def _check_start(self) -> None:
        """The first line so far must be able to start an HTTP/1.x message (bytes are not held for
        another protocol). A complete first line is checked by the full pattern in Head.parse."""
        nl = self.buf.find(b"\n", 0, MAX_HEAD)
        first = bytes(self.buf[: nl + 1]) if nl >= 0 else bytes(self.buf[:MAX_HEAD])
        ok = self.line.match(first) if nl >= 0 else self.start.fullmatch(first)
        if ok is None:
            raise NotHttp(first[:40])

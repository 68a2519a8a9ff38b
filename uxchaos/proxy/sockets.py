"""The proxy's socket layer: non-blocking sockets driven straight from the event loop (no asyncio
transports), so that a direction nobody needs to look at — no toxic, not HTTP — moves its bytes
with splice(2) through a kernel pipe, without copying them into Python. Everything else reads
into bytes, goes through the toxics, and is written out through a small buffer.

Order is kept: bytes written while spliced bytes still wait in the kernel pipe queue behind them,
and splicing only starts again once the write buffer is empty.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import struct
from collections.abc import Callable

READ_SIZE = 256 * 1024
BURST = int(os.environ.get("UXCHAOS_PROXY_BURST", "8"))  # reads in a row from one socket before the others
PIPE_SIZE = 1 << 20  # the kernel pipe used for splice; /proc/sys/fs/pipe-max-size allows 1 MiB by default
HIGH_WATER = 1 << 20  # bytes held (delayed, or for a slow peer) before the source stops reading
LOW_WATER = 1 << 18
SEND_HIGH_WATER = 64 * 1024  # bytes waiting for a peer's socket before its source stops reading
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
# The fast path: "copy" reads into one shared buffer and sends from it (no bytes object per read);
# "splice" moves bytes through a kernel pipe; "off" reads bytes like every other chunk. Measured in
# benchmarks/proxy_bench.py; UXCHAOS_PROXY_FAST_PATH picks one for comparisons.
FAST_PATH = os.environ.get("UXCHAOS_PROXY_FAST_PATH", "splice" if hasattr(os, "splice") else "copy")
CAN_SPLICE = hasattr(os, "splice") and FAST_PATH == "splice"


class KernelPipes:
    """A small pool of kernel pipes (a side holds one only while spliced bytes wait in it), and the
    read buffer shared by every side of a loop (bytes read into it are written out, or copied,
    before the next read)."""

    def __init__(self, keep: int = 32) -> None:
        self.free: list[tuple[int, int]] = []
        self.keep = keep
        self.buffer = memoryview(bytearray(READ_SIZE))

    def get(self) -> tuple[int, int]:
        if self.free:
            return self.free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # a lower pipe-max-size: the default 64 KiB still works
            pass
        return r, w

    def put(self, pipe: tuple[int, int]) -> None:
        if len(self.free) < self.keep:
            self.free.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])

    def close(self) -> None:
        for r, w in self.free:
            os.close(r)
            os.close(w)
        self.free.clear()


class Side:
    """One socket of a proxied connection, with just enough of a transport's interface for the
    pipes: write, write_eof, pause/resume reading, close (after flushing) and abort."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, pipes: KernelPipes,
                 on_data: Callable[[bytes], None], on_eof: Callable[[], None],
                 can_splice_to: Callable[[], Side | None], on_lost: Callable[[], None]) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.pipes = pipes
        self.on_data = on_data  # bytes read from this socket
        self.on_eof = on_eof  # this socket's peer finished sending (or the socket failed)
        self.can_splice_to = can_splice_to  # the side to splice into, when nothing has to see the bytes
        self.on_lost = on_lost  # writing to this socket failed: its peer is gone
        self.out = bytearray()
        self.spliced = 0  # bytes waiting in `kpipe` to be written to this socket
        self.kpipe: tuple[int, int] | None = None
        self.pauses: set[str] = set()
        self.reading = False
        self.writing = False
        self.eof_wanted = False  # send FIN once everything is written
        self.closing = False  # close once everything is written
        self.closed = False
        self.read_done = False
        self.blocked: set[Side] = set()  # sources paused until this side drains

    # -- reading -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._update_reader()

    def pause_reading(self, reason: str = "") -> None:
        self.pauses.add(reason)
        self._update_reader()

    def resume_reading(self, reason: str = "") -> None:
        self.pauses.discard(reason)
        self._update_reader()

    def _update_reader(self) -> None:
        want = not (self.pauses or self.closed or self.closing or self.read_done)
        if want and not self.reading:
            self.loop.add_reader(self.fd, self._readable)
        elif not want and self.reading:
            self.loop.remove_reader(self.fd)
        self.reading = want

    def _readable(self) -> None:
        target = self.can_splice_to() if FAST_PATH != "off" else None
        if target is not None:
            if CAN_SPLICE:
                self._splice_into(target)
            else:
                self._copy_into(target)
            return
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset by the peer: the same as its end, for the direction it fed
        if data:
            self.on_data(data)
        else:
            self._end_of_input()

    def _copy_into(self, target: Side) -> None:
        buffer = self.pipes.buffer
        for _ in range(BURST):
            try:
                n = self.sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                n = 0
            if n == 0:
                self._end_of_input()
                return
            target.write(buffer[:n])  # sent now, or the rest copied into its buffer
            if target.out:  # the peer is slower: read again once it has taken this
                target.block(self)
                return

    def _splice_into(self, target: Side) -> None:
        """Move what the socket holds (a few rounds, then the other connections get their turn)."""
        for _ in range(BURST):
            if target.kpipe is None:
                target.kpipe = self.pipes.get()
            try:
                n = os.splice(self.fd, target.kpipe[1], PIPE_SIZE, flags=SPLICE_FLAGS)
            except (BlockingIOError, InterruptedError):
                target._release_pipe()
                return
            except OSError:
                n = 0
            if n == 0:
                target._release_pipe()
                self._end_of_input()
                return
            target.spliced += n
            if not target._drain_spliced():
                self.pause_reading(f"full:{id(target)}")
                target.blocked.add(self)
                return

    def _end_of_input(self) -> None:
        self.read_done = True
        self._update_reader()
        self.on_eof()

    # -- writing -----------------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self.closing or self.closed

    def can_write_eof(self) -> bool:
        return True

    def write(self, data: bytes | memoryview) -> None:
        if self.closed or self.closing:
            return
        if not self.out and not self.spliced:
            try:
                n = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._lost()
                return
            if n == len(data):
                return
            data = data[n:]
        self.out += data
        self._want_write()

    def write_eof(self) -> None:
        self.eof_wanted = True
        if not self.out and not self.spliced and not self.closed:
            self._shutdown()

    def needs_backpressure(self) -> bool:
        return len(self.out) > SEND_HIGH_WATER

    def block(self, source: Side) -> None:
        """Pause `source` until this side has written out what it holds."""
        source.pause_reading(f"full:{id(self)}")
        self.blocked.add(source)
        self._want_write()

    def _want_write(self) -> None:
        if not self.writing and not self.closed:
            self.loop.add_writer(self.fd, self._writable)
            self.writing = True

    def _drain_spliced(self) -> bool:
        """Move spliced bytes on to the socket. True when the kernel pipe is empty."""
        assert self.kpipe is not None
        while self.spliced:
            try:
                n = os.splice(self.kpipe[0], self.fd, self.spliced, flags=SPLICE_FLAGS)
            except (BlockingIOError, InterruptedError):
                self._want_write()
                return False
            except OSError:
                self._lost()
                return True
            self.spliced -= n
        self._release_pipe()
        return True

    def _release_pipe(self) -> None:
        if self.kpipe is not None and not self.spliced:
            self.pipes.put(self.kpipe)
            self.kpipe = None

    def _writable(self) -> None:
        if self.spliced and not self._drain_spliced():
            return
        if self.out:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._lost()
                return
            del self.out[:n]
            if self.out:
                return
            self._unblock()
            if self.out:
                return
        self._unblock()
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        if self.closing:
            self._close_now()
        elif self.eof_wanted:
            self._shutdown()

    def _unblock(self) -> None:
        for source in self.blocked:
            source.resume_reading(f"full:{id(self)}")
        self.blocked.clear()

    def _shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the peer is already gone
            pass

    # -- closing -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close after what is buffered is written (like a transport's close)."""
        if self.closed:
            return
        self.closing = True
        self._update_reader()
        if not self.out and not self.spliced:
            self._close_now()
        else:
            self._want_write()

    def abort(self) -> None:
        self._close_now()

    def _lost(self) -> None:
        self._close_now()
        self.on_lost()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), the way a crashed peer looks."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6) and not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._close_now()

    def _close_now(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False
        if self.writing:
            self.loop.remove_writer(self.fd)
            self.writing = False
        self._unblock()
        if self.kpipe is not None:  # bytes still in it are lost with the socket
            os.close(self.kpipe[0])
            os.close(self.kpipe[1])
            self.kpipe = None
            self.spliced = 0
        self.out.clear()
        self.sock.close()

"""Signals become interrupts: Ctrl-C, SIGTERM and the run's deadline stop a run the same way, and
while a fault is being reverted they wait for the revert to finish.

Raised at once, a signal's exception lands wherever the main thread happens to be. Inside a
Playwright call that is the event loop of Playwright's dispatcher greenlet, possibly in the middle
of handling a message from the driver, whose answer is then lost (seen as "Cannot find command to
respond" in 3 of 5 runs of 60 login attempts interrupted at random points; a call whose answer is
lost waits forever). So in Playwright's dispatcher the exception is thrown into the sync call
waiting in the thread's main greenlet, and the dispatcher stays suspended where it was until the next
Playwright call switches back to it; in a greenlet below the dispatcher (an event handler), it is
raised from a callback of its own on the loop, between two callbacks. What an interrupted attempt must
not do afterwards: journey/closing.py."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import greenlet


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: stop measuring, revert, keep what was measured."""


class DeadlineReached(Interrupted):
    """The run's overall deadline passed: stop, revert, keep what was measured."""


def raise_safely(exc: BaseException) -> None:
    """Raise `exc` from a signal handler without breaking a Playwright call it interrupts."""
    loop = asyncio._get_running_loop()
    current = greenlet.getcurrent()
    if loop is not None and current.parent is not None and current.parent.parent is None:
        # In Playwright's dispatcher itself, which the sync call waiting in the thread's main greenlet
        # switched to: raise in that call, leaving the dispatcher suspended here, mid-message. The next
        # Playwright call switches back to it and it goes on where it was, so no answer is lost. (Raised
        # from a callback on the loop instead, the exception could land in a later call when this one
        # finished first — seen as a Ctrl-C in the session's close, long after the attempt.)
        current.parent.throw(exc)
        return
    if loop is not None and current.parent is not None:
        # In a greenlet below Playwright's dispatcher (an event handler it runs): the exception must not
        # land inside the current task step.
        def raise_in_loop() -> None:
            raise exc

        loop.call_soon_threadsafe(raise_in_loop)
        return
    raise exc


@contextlib.contextmanager
def signals_as_interrupts(deadline_s: float | None) -> Iterator[None]:
    """Ctrl-C, SIGTERM and the run's deadline (SIGALRM) stop the run by raising an interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_int(signum: int, frame: Any) -> None:
        raise_safely(KeyboardInterrupt())

    def on_term(signum: int, frame: Any) -> None:
        raise_safely(Interrupted(f"signal {signal.Signals(signum).name}"))

    def on_alarm(signum: int, frame: Any) -> None:
        raise_safely(DeadlineReached(f"the run's deadline of {deadline_s:g}s passed"))

    handlers = {signal.SIGINT: on_int, signal.SIGTERM: on_term, signal.SIGALRM: on_alarm}
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        del handlers[signal.SIGINT]  # started with Ctrl-C ignored (a background job): keep it so
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    if deadline_s:
        signal.setitimer(signal.ITIMER_REAL, deadline_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def interrupts_deferred(notify: Callable[[str], Any]) -> Iterator[None]:
    """While reverting, a Ctrl-C, SIGTERM or the deadline must not cut the revert short — and must
    not be forgotten either: once the revert is done, the first of them stops the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        pending.append(signum)
        notify("still reverting the fault; uxchaos stops as soon as it is reverted")

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
    if pending:  # only reached when the revert itself finished: an exception already stops the run
        sig = signal.Signals(pending[0])
        if sig == signal.SIGALRM:
            raise DeadlineReached("the run's deadline passed while the fault was being reverted")
        if sig == signal.SIGTERM:
            raise Interrupted("signal SIGTERM")
        raise KeyboardInterrupt

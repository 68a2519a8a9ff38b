"""An attempt's browser context is closed when the attempt ends — unless an interrupt ended it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from playwright.sync_api import BrowserContext
from playwright.sync_api import Error as PlaywrightError

log = logging.getLogger("uxchaos.journey")


@contextlib.contextmanager
def closed_unless_interrupted(context: BrowserContext) -> Iterator[BrowserContext]:
    """An attempt's context is closed when the attempt ends — unless a Ctrl-C, SIGTERM or the
    deadline ended it: Playwright then aborts the call it interrupted, and a context closed after an
    aborted `goto` was seen never to be answered by the driver (every run of 60 attempts interrupted
    at random points hung, after 1 to 34 of them), which would keep the fault from being reverted.
    Left open, it ends with the browser, which an interrupted run abandons (BrowserSession.close)."""
    try:
        yield context
    except KeyboardInterrupt:
        raise
    except BaseException:
        _close_quietly(context)
        raise
    _close_quietly(context)


def _close_quietly(context: BrowserContext) -> None:
    try:
        context.close()
    except PlaywrightError as e:  # the browser may be gone (crashed): nothing left to close
        log.debug("closing a browser context: %s", str(e).strip().splitlines()[0] if str(e).strip() else e)

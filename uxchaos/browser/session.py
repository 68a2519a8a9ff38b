"""One Playwright and one browser for a whole run (or one virtual user): launched here, reached at a
remote endpoint, or borrowed from the caller; attempts open their fresh contexts in it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from uxchaos.browser.endpoints import Endpoint, open_browser
from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.errors import EnvironmentProblem

log = logging.getLogger("uxchaos.journey")


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return re.sub(r"\s+", " ", text[0]) if text else type(error).__name__


class BrowserSession:
    """One Playwright and one browser for the whole run. A browser launched by someone else (the
    pytest plugin passes pytest-playwright's) is used as given and left open; `new_context` then
    creates the contexts of Python journeys (so its tracing and artifacts apply)."""

    def __init__(self, headed: bool = False, browser: Browser | None = None,
                 new_context: Callable[..., BrowserContext] | None = None, endpoint: Endpoint | None = None) -> None:
        self.headed = headed
        self.endpoint = endpoint  # a remote browser (browser/endpoints.py); None or local: launch one here
        self._pw_manager: Any = None
        self.playwright: Playwright | None = None
        self.browser: Browser | None = browser
        self._borrowed = browser is not None
        self._new_context = new_context
        self.executable = ""
        self.version = ""

    def new_context(self, **options: Any) -> BrowserContext:
        if self._new_context is not None:
            return self._new_context(**options)
        assert self.browser is not None
        return self.browser.new_context(**options)

    def __enter__(self) -> BrowserSession:
        if self._borrowed:
            assert self.browser is not None
            self.executable, self.version = "(given by the caller)", self.browser.version
            return self
        self._pw_manager = sync_playwright()
        self.playwright = self._pw_manager.start()
        if self.endpoint is not None and not self.endpoint.is_local:
            try:
                self.browser = open_browser(self.playwright, self.endpoint)
            except BaseException:
                self.close()
                raise
            self.executable, self.version = self.endpoint.url, self.browser.version
            return self
        try:
            self.executable = find_browser(self.playwright, headless=not self.headed)
        except BaseException:  # no Chromium: Playwright's driver must not outlive the session either
            self.close()
            raise
        try:
            self.browser = self.playwright.chromium.launch(
                executable_path=self.executable, headless=not self.headed, args=launch_args()
            )
        except PlaywrightError as e:
            self.close()
            raise EnvironmentProblem(f"could not start Chromium at {self.executable}: {first_line(e)}") from None
        self.version = self.browser.version
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(abandon=exc_type is not None and issubclass(exc_type, KeyboardInterrupt))

    def close(self, abandon: bool = False) -> None:
        """`abandon`: after an interrupt, the browser is not asked to close (see journey/closing.py);
        stopping Playwright ends its driver, which ends the browsers it launched."""
        if self._borrowed:
            return
        try:
            if self.browser is not None and not abandon:
                self.browser.close()
        except PlaywrightError as e:  # the browser may already be gone (crash, Ctrl-C)
            log.debug("closing the browser: %s", e)
        finally:
            self.browser = None
            if self.playwright is not None:
                try:
                    self.playwright.stop()
                except (PlaywrightError, OSError) as e:  # its driver process may be gone already
                    log.warning("stopping playwright: %s", e)
                self.playwright = None

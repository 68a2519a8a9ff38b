"""Browser endpoints: where a virtual user's browser lives.

`local` launches the Chromium uxchaos finds; `ws://…` / `wss://…` is a Playwright browser server
(`uxchaos browser serve`, `playwright run-server`, Playwright's server images, browser grids),
reached with `chromium.connect`; `cdp+http://…` (or `http(s)://…`) is a Chrome DevTools endpoint,
reached with `chromium.connect_over_cdp`. The engine never looks behind this seam: a session asks
`open_browser` for a browser and measures the endpoint's protocol round trip with `round_trip_ms`."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

from uxchaos.errors import BadInput, EnvironmentProblem

LOCAL = "local"
CONNECT_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Endpoint:
    url: str  # as given: "local", ws://HOST:PORT/PATH, cdp+http://HOST:PORT
    protocol: str  # local | playwright | cdp

    @property
    def is_local(self) -> bool:
        return self.protocol == "local"

    @property
    def address(self) -> str:
        """What Playwright is given (the cdp+ prefix removed)."""
        return self.url.removeprefix("cdp+")


def parse_endpoint(url: str) -> Endpoint:
    text = url.strip()
    if text == LOCAL:
        return Endpoint(LOCAL, "local")
    if text.startswith(("ws://", "wss://")):
        return Endpoint(text, "playwright")
    if text.startswith(("cdp+http://", "cdp+https://", "http://", "https://")):
        return Endpoint(text, "cdp")
    raise BadInput(f"browser endpoint {url!r}: use 'local', ws://HOST:PORT/PATH (a Playwright browser server, "
                   "e.g. `uxchaos browser serve`) or cdp+http://HOST:PORT (a Chrome DevTools endpoint)")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else type(error).__name__


def open_browser(playwright: Any, endpoint: Endpoint) -> Any:
    """A connected Browser, or an EnvironmentProblem naming the endpoint (unreachable, not a browser
    server, or speaking another Playwright version — exit 3, before any fault)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        if endpoint.protocol == "playwright":
            return playwright.chromium.connect(endpoint.address, timeout=CONNECT_TIMEOUT_MS)
        return playwright.chromium.connect_over_cdp(endpoint.address, timeout=CONNECT_TIMEOUT_MS)
    except PlaywrightError as e:
        raise EnvironmentProblem(f"browser endpoint {endpoint.url} cannot be used: {explain_connect_error(str(e))}"
                                 ) from None


def explain_connect_error(text: str) -> str:
    """Playwright's connect error, first line and what it means. A Playwright server of another version
    refuses the WebSocket upgrade with `428 Precondition Required` and a box naming both versions
    (playwright-core's playwrightServer.ts); a full `uxchaos browser serve` answers 503; anything
    else that answers HTTP is not a Playwright browser server."""
    first = _first_line(Exception(text))
    status = re.search(r" (\d{3}) [A-Z][A-Za-z ]*$", first)
    if "version mismatch" in text.lower() or (status and status.group(1) == "428"):
        server = re.search(r"server version: v?([\d.]+)", text)
        client = re.search(r"client version: v?([\d.]+)", text)
        versions = (f"it speaks Playwright {server.group(1)}, this uxchaos Playwright {client.group(1)}"
                    if server and client else "it speaks another Playwright version")
        return (f"{first} — {versions}; run the same Playwright version on both sides (`uxchaos browser serve` "
                "uses the one uxchaos has)")
    if status and status.group(1) == "503":
        return f"{first} — the browser server is full (its --max-users): add servers, or start it with more users"
    if status:
        return (f"{first} — it answers HTTP but is not a Playwright browser server (a wrong port or path? "
                "`uxchaos browser serve` prints its ws:// URL)")
    return first


def round_trip_ms(page: Any, times: int = 5) -> float:
    """The median time of a no-op evaluated in the page: one protocol round trip from this process
    through the endpoint to the renderer and back. Step times are taken here, on the coordinator,
    so this is what a remote endpoint adds to every browser operation."""
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        page.evaluate("0")
        samples.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(samples), 3)

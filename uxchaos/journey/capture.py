"""What the page fetched during each action: one record per request, with Playwright's own timing.

`RequestCapture` subscribes to two context events only (`requestfinished`, `requestfailed`: every
subscription costs time on each request) and its handlers just keep the request object. Reading
status and timing, masking URLs and assigning requests to actions happens in `records()`, after the
attempt, outside every clock: the harness's cost never lands in a step timing.

A request belongs to the action whose time window contains its start (the browser's own wall-clock
`startTime`); one that starts between windows goes to `fallback` (a Python journey's
"(outside steps)") or, without one, to the action before it. Requests still in flight when the
reads after the attempt end (long polling, websockets) are not recorded, nor requests that started
after the attempt. At most `MAX_PER_ACTION` records are kept
per action; the number left out is returned so the sample can say so."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import BrowserContext, Request

from uxchaos.results.records import MAX_REQUESTS_PER_ACTION
from uxchaos.util.masking import mask_url

MAX_PER_ACTION = MAX_REQUESTS_PER_ACTION
__all__ = ["RequestCapture", "Window", "mask_url", "request_record", "window_of"]
# The browser's startTime (and a page's timeOrigin) and our time.time() are the same clock, rounded
# differently: within ~1 ms of each other here. 50 ms, as before, took a fast goto just before a Python
# journey's block (20-40 ms in the headless shell) for the block's.
_TOLERANCE_S = 0.005


@dataclass
class Window:
    """One action's span in wall-clock seconds (time.time())."""

    action: str
    start: float
    end: float


def _ms(value: float) -> float:
    return round(max(0.0, value), 3)


def request_record(request: Request, failure: str | None, window_start: float) -> dict[str, Any]:
    """One request as stored in results.jsonl (times in ms; -1 from Playwright means "not known")."""
    t: dict[str, float] = dict(request.timing)  # type: ignore[arg-type]
    response = request.existing_response
    start = float(t.get("startTime", 0) or 0) / 1000

    def span(a: str, b: str) -> float:
        ta, tb = float(t.get(a, -1)), float(t.get(b, -1))
        return _ms(tb - ta) if ta >= 0 and tb >= 0 else 0.0

    connect_from = "domainLookupStart" if float(t.get("domainLookupStart", -1)) >= 0 else "connectStart"
    end = float(t.get("responseEnd", -1))
    return {
        "method": request.method,
        "url": mask_url(request.url),
        "type": request.resource_type,
        "status": response.status if response is not None else None,
        "start_ms": round((start - window_start) * 1000, 3) if start > 0 else None,
        "connect_ms": span(connect_from, "connectEnd"),
        "wait_ms": span("requestStart", "responseStart"),
        "download_ms": span("responseStart", "responseEnd"),
        "duration_ms": _ms(end) if end >= 0 else None,
        "failure": failure,
    }


class RequestCapture:
    """The requests of one browser context (every page of it)."""

    def __init__(self, context: BrowserContext) -> None:
        self._seen: list[tuple[Request, bool]] = []
        context.on("requestfinished", self._finished)
        context.on("requestfailed", self._failed)

    def _finished(self, request: Request) -> None:
        self._seen.append((request, False))

    def _failed(self, request: Request) -> None:
        self._seen.append((request, True))

    def records(self, windows: Iterable[Window], fallback: str | None = None, since: float | None = None,
                cap: int = MAX_PER_ACTION, until: float | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """(records in start order, each with its "action"; per action, how many were left out).
        Requests that started before `since` (default: the first window) or after `until` (the
        attempt's end; the reads after it take a moment) are not the journey's."""
        spans = sorted(windows, key=lambda w: w.start)
        if not spans:
            return [], {}
        origin = spans[0].start if since is None else min(since, spans[0].start)
        placed: list[tuple[float, dict[str, Any]]] = []
        for request, failed in self._seen:
            if request.url.startswith(("data:", "about:", "blob:")):
                continue
            start = float(request.timing.get("startTime", 0) or 0) / 1000
            if until is not None and start > until + _TOLERANCE_S:
                continue
            window = window_of(spans, start, fallback, origin)
            if window is None:
                continue
            failure = (request.failure or "failed") if failed else None
            record = {"action": window.action, **request_record(request, failure, window.start)}
            placed.append((start if start > 0 else float("inf"), record))  # no timing: last
        placed.sort(key=lambda p: p[0])
        out: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for _, record in placed:
            action = record["action"]
            counts[action] = counts.get(action, 0) + 1
            if counts[action] > cap:
                dropped[action] = dropped.get(action, 0) + 1
            else:
                out.append(record)
        return out, dropped


def window_of(spans: list[Window], start: float, fallback: str | None, origin: float) -> Window | None:
    if start <= 0:  # no timing at all (e.g. failed before it started): the last action
        return spans[-1]
    for tolerance in (0.0, _TOLERANCE_S):
        for w in spans:
            if w.start - tolerance <= start <= w.end + tolerance:
                return w
    if start < origin - _TOLERANCE_S:
        return None  # before the journey began (e.g. a page opened before the attempt)
    if fallback is not None:
        return Window(fallback, origin, spans[-1].end)
    before = [w for w in spans if w.start <= start]
    return before[-1] if before else spans[0]

"""When an attempt waited for a document at the server: the spans in which a document request (a
navigation, a form's submission, a redirect's next hop) was between its request start (first byte sent)
and its answer's first byte, and no other request of the page was in flight.

A step that waits for that navigation cannot end before the answer, and nothing of the generator can
make the answer come later but the network service that must read it: the starvation bound
(users/starvation.py) counts only that service's run-queue wait there, and spares only steps that
waited for a navigation. With another request of the page in flight, the page may have work of its own
beside the server's; such time counts in full, as does every span of an attempt whose requests are not
all known (capped, or one without timing). Requests still in flight when the records are read (a long
poll, a websocket) are not recorded at all: a page that keeps one open beside a navigation is a case
this cannot see.

From the request records of the attempt (journey/capture.py): `start_ms` after its action's start,
and Playwright's timing — `wait_ms` from request start to response start, `download_ms` from response
start to end, `duration_ms` from the request's start to its end."""

from __future__ import annotations

from collections.abc import Iterable

from uxchaos.results.records import Sample

Span = tuple[float, float]


def server_spans(sample: Sample) -> list[Span]:
    """The attempt's spans with a document at the server and nothing else in flight (epoch s, sorted,
    disjoint)."""
    captured = sample.captured
    if not captured.requests or captured.requests_capped:
        return []
    starts = {a.name: a.started_at for a in sample.actions if a.started_at is not None}
    flights: list[Span] = []
    waits: list[Span | None] = []
    for r in captured.requests:
        began = starts.get(r.get("action", ""))
        if began is None or r.get("start_ms") is None:
            return []  # a request whose time is not known: it may have been in flight at any moment
        start = began + r["start_ms"] / 1000
        duration, wait, download = r.get("duration_ms"), r.get("wait_ms"), r.get("download_ms")
        if duration is None:  # never answered: in flight until the attempt ended
            flights.append((start, max(start, sample.ended_at)))
            waits.append(None)
            continue
        flights.append((start, start + duration / 1000))
        answered = start + max(0.0, duration - (download or 0.0)) / 1000
        document = r.get("type") == "document"
        waits.append((answered - (wait or 0.0) / 1000, answered) if wait and document else None)
    alone: list[Span] = []
    for i, span in enumerate(waits):
        if span is not None:
            alone += _minus([span], (f for j, f in enumerate(flights) if j != i))
    return sorted(alone)  # disjoint: each piece has its own request alone in flight


def covered_s(spans: list[Span], t0: float, t1: float) -> float:
    """How much of [t0, t1] the spans (sorted, disjoint) cover, in seconds."""
    return sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in spans if a < t1 and b > t0)


def _minus(spans: list[Span], holes: Iterable[Span]) -> list[Span]:
    """The parts of `spans` outside every hole."""
    for h0, h1 in holes:
        out: list[Span] = []
        for a, b in spans:
            if h1 <= a or h0 >= b:
                out.append((a, b))
                continue
            if a < h0:
                out.append((a, h0))
            if h1 < b:
                out.append((h1, b))
        spans = out
    return spans

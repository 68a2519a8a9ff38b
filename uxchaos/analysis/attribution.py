"""Why an action got slower: its median slowdown split over the requests behind it, in parts that add up.

Per attempt, each request of the action holds the interval from its start to its last byte, clipped
to the action's own span. Requests that overlap *share* the time they overlap: every instant of the
action where k requests are in flight gives 1/k of itself to each. So an attempt's shares add up to
the union of its request intervals, never to more than the action took, and the time no request
covers is *browser-side* (rendering, scripts, the harness's waits) — never negative in one attempt.

Why shared union time rather than the critical chain (walk back from the action's end, always to
the request that finished last): with parallel calls of about the same length, which one finishes
last flips from attempt to attempt, and a per-request median over attempts then gives each of them
nothing — the slowdown would fall into "browser-side". Shared time is stable under such ties and
adds up by construction; a call on the critical path still gets most of its time (the instants it
runs alone are all its own), and the waterfall of report.html shows the chain itself.

Requests are grouped by a key — method + URL path with numeric and hex ids collapsed
(`GET /orders/{id}`). A key called several times in one attempt (`GET /users/me` ×3) is summed
over its calls: matching calls one by one by position breaks as soon as one attempt makes an extra
call, or parallel calls start in another order; the number of calls per phase is kept and shown
when it differs (a retry under the fault). Per phase, the medians over all usable attempts — an
attempt without the key counts as 0 — give each key's change in share, in *server wait* (request
sent → first byte) and in *transfer* (connecting + downloading). A key only some attempts make (a
call that starts just after the action's last wait in some of them) is so weighed by how often it
is made, never "only before" by accident; "only before/during" means no attempt of the other phase
made it. The action's median Δ minus the keys' share changes is browser-side: medians of sums are
not sums of medians, so it also holds the noise between them.

Pure functions over the records in results.jsonl: no Playwright."""

from __future__ import annotations

import itertools
import re
import statistics
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from uxchaos.results.records import Sample

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_HEX = re.compile(r"^(?=.*\d)[0-9a-f]{8,}$", re.IGNORECASE)
MIN_SHOWN_S = 0.05  # requests that moved less than this (and < 5% of Δ) stay out of the sentence


def collapse_path(url: str) -> str:
    """The URL's path with ids collapsed: /users/42/avatar → /users/{id}/avatar."""
    path = urllib.parse.urlsplit(url).path or "/"
    segments = ["{id}" if s.isdigit() or _HEX.match(s) or _UUID.match(s) else s for s in path.split("/")]
    return "/".join(segments)


def request_key(record: dict[str, Any]) -> str:
    return f"{record.get('method', '?')} {collapse_path(str(record.get('url', '')))}"


def _s(ms: Any) -> float:
    return float(ms or 0.0) / 1000


def _transfer_ms(r: dict[str, Any]) -> float:
    return float(r.get("connect_ms") or 0.0) + float(r.get("download_ms") or 0.0)


def shares(records: list[dict[str, Any]], duration_s: float) -> list[float]:
    """Each record's share (s) of the action's time: its interval clipped to [0, duration_s], the
    instants where k requests are in flight split k ways. Sums to the union of the intervals. A
    record without start or duration (failed before it began) gets 0."""
    spans: list[tuple[float, float, int]] = []
    for i, r in enumerate(records):
        if r.get("start_ms") is None or r.get("duration_ms") is None:
            continue
        start = min(max(_s(r["start_ms"]), 0.0), duration_s)
        end = min(max(_s(r["start_ms"]) + _s(r["duration_ms"]), 0.0), duration_s)
        if end > start:
            spans.append((start, end, i))
    out = [0.0] * len(records)
    cuts = sorted({t for start, end, _ in spans for t in (start, end)})
    for left, right in itertools.pairwise(cuts):
        active = [i for start, end, i in spans if start <= left and end >= right]
        for i in active:
            out[i] += (right - left) / len(active)
    return out


@dataclass
class _KeyTotals:
    """One key in one attempt: its calls' summed share, server wait, transfer and duration (s)."""

    calls: int = 0
    share_s: float = 0.0
    wait_s: float = 0.0
    transfer_s: float = 0.0
    duration_s: float = 0.0


def _by_key(records: list[dict[str, Any]], duration_s: float) -> dict[str, _KeyTotals]:
    out: dict[str, _KeyTotals] = {}
    for r, share in zip(records, shares(records, duration_s), strict=True):
        t = out.setdefault(request_key(r), _KeyTotals())
        t.calls += 1
        t.share_s += share
        t.wait_s += _s(r.get("wait_ms"))
        t.transfer_s += _transfer_ms(r) / 1000
        t.duration_s += _s(r.get("duration_ms"))
    return out


@dataclass
class RequestDelta:
    key: str  # "GET /users/{id}"
    before_s: float | None  # median summed duration of its calls in the first phase (None: never seen there)
    during_s: float | None
    share_s: float  # Δ of the median share of the action's time: the part of the slowdown it carries
    wait_s: float  # Δ of the median server wait (summed over its calls; overlapping ones counted in full)
    transfer_s: float  # Δ of the median connect + download
    calls_before: float = 1.0  # median number of calls per attempt
    calls_during: float = 1.0
    only: str | None = None  # the phase it was seen in, when no attempt of the other phase made it

    @property
    def total_s(self) -> float:
        return self.share_s

    def calls(self) -> str:
        """"" for one call in both phases, "×3", or "×1→×2" when a phase made more calls."""
        b, d = _calls_text(self.calls_before), _calls_text(self.calls_during)
        if self.only is not None:
            c = b if self.only != "during" else d
            return "" if c == "1" else f" ×{c}"
        if b == d:
            return "" if b == "1" else f" ×{b}"
        return f" ×{b}→×{d}"

    def phrase(self, phase: str) -> str:
        if self.only is not None:
            return f"{self.key}{self.calls()} {self.total_s:+.1f} s (only {self.only})"
        what = "waiting for the server" if abs(self.wait_s) >= abs(self.transfer_s) else "transfer"
        return f"{self.key}{self.calls()} {self.total_s:+.1f} s {what}"


def _calls_text(n: float) -> str:
    return f"{n:g}"


@dataclass
class ActionAttribution:
    action: str
    phase: str  # the slowed phase ("during")
    baseline: str  # "before"
    before_s: float
    during_s: float
    n_before: int
    n_during: int
    requests: list[RequestDelta] = field(default_factory=list)
    note: str | None = None  # why it could not be split (no requests recorded, …)

    @property
    def delta_s(self) -> float:
        return self.during_s - self.before_s

    @property
    def rest_s(self) -> float:
        return self.delta_s - sum(r.total_s for r in self.requests)

    def named(self) -> list[RequestDelta]:
        """The requests worth naming, biggest change first."""
        floor = max(MIN_SHOWN_S, 0.05 * abs(self.delta_s))
        return [r for r in self.requests if abs(r.total_s) >= floor]

    def head(self) -> str:
        return f"{self.action} {self.delta_s:+.1f} s"

    def detail(self) -> str:
        if self.note:
            return self.note
        named = self.named()[:5]
        parts = [r.phrase(self.phase) for r in named]
        others = [r for r in self.requests if r not in named]
        if others and abs(sum(r.total_s for r in others)) >= 0.05:  # what rounds to ±0.0 s says nothing
            parts.append(f"{len(others)} other request(s) {sum(r.total_s for r in others):+.1f} s")
        parts.append(f"browser-side {self.rest_s:+.1f} s")
        return ", ".join(parts)

    def sentence(self) -> str:
        """"Logging in +21.9 s: POST /login +12.1 s waiting for the server, …, browser-side +0.0 s"""
        return f"{self.head()}: {self.detail()}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "delta_s": round(self.delta_s, 6), "before_s": self.before_s,
                "during_s": self.during_s, "browser_side_s": round(self.rest_s, 6), "note": self.note,
                "sentence": self.sentence(),
                "requests": [{"key": r.key, "before_s": r.before_s, "during_s": r.during_s,
                              "share_delta_s": round(r.share_s, 6), "wait_delta_s": round(r.wait_s, 6),
                              "transfer_delta_s": round(r.transfer_s, 6), "calls_before": r.calls_before,
                              "calls_during": r.calls_during, "only": r.only} for r in self.requests]}


def _usable(samples: list[Sample], phase: str, action: str) -> list[tuple[float, list[dict[str, Any]]]]:
    """(duration, requests) of each successful, non-excluded attempt of the phase that recorded requests."""
    out = []
    for s in samples:
        requests = s.captured.requests
        if s.phase != phase or s.excluded or requests is None:
            continue
        timing = next((a for a in s.actions if a.name == action), None)
        if timing is None or not timing.ok or timing.duration_s is None:
            continue
        out.append((timing.duration_s, [r for r in requests if r.get("action") == action]))
    return out


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _medians(attempts: list[dict[str, _KeyTotals]], key: str) -> _KeyTotals:
    """The median of each total over every attempt, 0 for an attempt that did not make the call."""
    rows = [a.get(key, _KeyTotals()) for a in attempts]
    return _KeyTotals(0, _median([r.share_s for r in rows]), _median([r.wait_s for r in rows]),
                      _median([r.transfer_s for r in rows]), _median([r.duration_s for r in rows]))


def _calls(attempts: list[dict[str, _KeyTotals]], key: str) -> float:
    """The median number of calls per attempt among the attempts that made it."""
    return _median([float(a[key].calls) for a in attempts if key in a])


def attribute_action(samples: list[Sample], action: str, phase: str = "during",
                     baseline: str = "before") -> ActionAttribution | None:
    """None when either phase has no usable attempt with recorded requests."""
    base = _usable(samples, baseline, action)
    slow = _usable(samples, phase, action)
    if not base or not slow:
        return None
    result = ActionAttribution(action, phase, baseline, _median([d for d, _ in base]), _median([d for d, _ in slow]),
                               len(base), len(slow))
    base_keyed = [_by_key(rs, d) for d, rs in base]
    slow_keyed = [_by_key(rs, d) for d, rs in slow]
    keys: list[str] = []
    for attempt in base_keyed + slow_keyed:
        keys += [k for k in attempt if k not in keys]
    if not keys:
        result.note = "no requests recorded for this action (all browser-side)"
    for key in keys:
        seen_b, seen_d = any(key in a for a in base_keyed), any(key in a for a in slow_keyed)
        b, d = _medians(base_keyed, key), _medians(slow_keyed, key)
        only = None if seen_b and seen_d else (phase if seen_d else baseline)
        result.requests.append(RequestDelta(
            key, b.duration_s if seen_b else None, d.duration_s if seen_d else None, d.share_s - b.share_s,
            d.wait_s - b.wait_s, d.transfer_s - b.transfer_s,
            _calls(base_keyed, key) if seen_b else 0.0, _calls(slow_keyed, key) if seen_d else 0.0, only))
    result.requests.sort(key=lambda r: -abs(r.total_s))
    return result


def attribute(samples: list[Sample], actions: list[str], phase: str = "during",
              baseline: str = "before") -> list[ActionAttribution]:
    """Every action that has recorded requests in both phases."""
    out = [attribute_action(samples, a, phase, baseline) for a in actions]
    return [a for a in out if a is not None]


def median_attempt(samples: list[Sample], phase: str, action: str) -> Sample | None:
    """The attempt whose duration of `action` is the (lower) median of the phase's usable attempts."""
    usable = []
    for s in samples:
        if s.phase != phase or s.excluded or s.captured.requests is None:
            continue
        timing = next((a for a in s.actions if a.name == action), None)
        if timing is not None and timing.ok and timing.duration_s is not None:
            usable.append((timing.duration_s, s))
    if not usable:
        return None
    usable.sort(key=lambda p: p[0])
    return usable[(len(usable) - 1) // 2][1]

"""Why an action got slower: its median slowdown split over the requests behind it.

Per action, the requests of the successful, non-excluded attempts of two phases are matched by a
key — method + URL path with numeric and hex ids collapsed (`GET /orders/{id}`), plus the
occurrence number when a page fetches the same key twice. For each key the medians over the
attempts of each phase give the change in *server wait* (request sent → first byte) and in
*transfer* (connecting + downloading). A key seen in only one phase contributes its whole median
duration. What is left of the action's median Δ is *browser-side* (rendering, script, the harness's
waits) — and, for requests that ran in parallel, the overlap, which can make it negative.

Pure functions over the records in results.jsonl: no Playwright."""

from __future__ import annotations

import re
import statistics
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from uxchaos.results import Sample

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


def _keyed(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each record under its key; a key's second occurrence in one attempt becomes "key #2"."""
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for r in records:
        key = request_key(r)
        seen[key] = seen.get(key, 0) + 1
        out[key if seen[key] == 1 else f"{key} #{seen[key]}"] = r
    return out


def _s(ms: Any) -> float:
    return float(ms or 0.0) / 1000


def _wait(r: dict[str, Any]) -> float:
    return _s(r.get("wait_ms"))


def _transfer(r: dict[str, Any]) -> float:
    return _s(r.get("connect_ms")) + _s(r.get("download_ms"))


def _duration(r: dict[str, Any]) -> float:
    return _s(r.get("duration_ms"))


@dataclass
class RequestDelta:
    key: str  # "POST /login"
    before_s: float | None  # median duration in the first phase (None: not seen there)
    during_s: float | None
    wait_s: float  # Δ of the median server wait
    transfer_s: float  # Δ of the median connect + download
    only: str | None = None  # the phase it was seen in, when it was seen in only one

    @property
    def total_s(self) -> float:
        return self.wait_s + self.transfer_s

    def phrase(self, phase: str) -> str:
        if self.only is not None:
            return f"{self.key} {self.total_s:+.1f} s (only {self.only})"
        what = "waiting for the server" if abs(self.wait_s) >= abs(self.transfer_s) else "transfer"
        return f"{self.key} {self.total_s:+.1f} s {what}"


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
        if others:
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
                              "wait_delta_s": round(r.wait_s, 6), "transfer_delta_s": round(r.transfer_s, 6),
                              "only": r.only} for r in self.requests]}


def _usable(samples: list[Sample], phase: str, action: str) -> list[tuple[float, list[dict[str, Any]]]]:
    """(duration, requests) of each successful, non-excluded attempt of the phase that recorded requests."""
    out = []
    for s in samples:
        if s.phase != phase or s.excluded or s.requests is None:
            continue
        timing = next((a for a in s.actions if a.name == action), None)
        if timing is None or not timing.ok or timing.duration_s is None:
            continue
        out.append((timing.duration_s, [r for r in s.requests if r.get("action") == action]))
    return out


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def attribute_action(samples: list[Sample], action: str, phase: str = "during",
                     baseline: str = "before") -> ActionAttribution | None:
    """None when either phase has no usable attempt with recorded requests."""
    base = _usable(samples, baseline, action)
    slow = _usable(samples, phase, action)
    if not base or not slow:
        return None
    result = ActionAttribution(action, phase, baseline, _median([d for d, _ in base]), _median([d for d, _ in slow]),
                               len(base), len(slow))
    base_keyed = [_keyed(rs) for _, rs in base]
    slow_keyed = [_keyed(rs) for _, rs in slow]
    keys: list[str] = []
    for attempt in base_keyed + slow_keyed:
        keys += [k for k in attempt if k not in keys]
    if not keys:
        result.note = "no requests recorded for this action (all browser-side)"
    for key in keys:
        b = [a[key] for a in base_keyed if key in a]
        d = [a[key] for a in slow_keyed if key in a]
        # seen in fewer than half of one phase's attempts: counted as that phase's own request
        in_b, in_d = len(b) * 2 >= len(base_keyed), len(d) * 2 >= len(slow_keyed)
        if not in_b and not in_d:
            continue
        if in_b and in_d:
            result.requests.append(RequestDelta(
                key, _median([_duration(r) for r in b]), _median([_duration(r) for r in d]),
                _median([_wait(r) for r in d]) - _median([_wait(r) for r in b]),
                _median([_transfer(r) for r in d]) - _median([_transfer(r) for r in b])))
        elif in_d:
            result.requests.append(RequestDelta(key, None, _median([_duration(r) for r in d]),
                                                _median([_wait(r) for r in d]), _median([_transfer(r) for r in d]),
                                                only=phase))
        else:
            result.requests.append(RequestDelta(key, _median([_duration(r) for r in b]), None,
                                                -_median([_wait(r) for r in b]), -_median([_transfer(r) for r in b]),
                                                only=baseline))
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
        if s.phase != phase or s.excluded or s.requests is None:
            continue
        timing = next((a for a in s.actions if a.name == action), None)
        if timing is not None and timing.ok and timing.duration_s is not None:
            usable.append((timing.duration_s, s))
    if not usable:
        return None
    usable.sort(key=lambda p: p[0])
    return usable[(len(usable) - 1) // 2][1]

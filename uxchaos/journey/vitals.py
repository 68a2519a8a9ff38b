"""Web Vitals per navigation: TTFB, FCP, LCP, CLS and INP from Google's `web-vitals` library.

The library's built file ships in the package (journey/vendor/web-vitals.iife.js, Apache-2.0, from
the npm package; see vendor/README.md); nothing is fetched at run time. It is injected with
`context.add_init_script`, which the browser runs in every new document before the page's own
scripts — also under a Content-Security-Policy that forbids inline scripts, since it is not a script
of the page. In the top frame it keeps the latest value of each metric (`reportAllChanges`) in a
window property. Nothing crosses to Python while the journey runs: when a document is left
(`pagehide`, e.g. the click that submits a form), its values go to the tab's sessionStorage, where
the next document of the same origin picks them up. The document shown is read with one `evaluate`
between a YAML journey's actions (in the Navigation Timing's round trip when the action ends with a
navigation) and after the attempt (after its next paint, once it has reported its paints),
outside every clock.

A document belongs to the action whose time window holds its navigation start (the browser's
`performance.timeOrigin`, wall clock); its INP, to the action whose window holds the interaction.
Each value is scored good / needs improvement / poor on web.dev's thresholds. A page where the
script did not run (the browser refused it, or the page crashed) is recorded as unavailable."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from importlib import resources
from typing import Any

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from uxchaos.journey.capture import Window, mask_url, window_of
from uxchaos.results.vitals import METRICS, rating

log = logging.getLogger("uxchaos.journey")

WEB_VITALS_VERSION = "6.2.3"
_GLOBAL = "__uxchaosVitals"


def _library() -> str:
    text = resources.files("uxchaos.journey").joinpath("vendor/web-vitals.iife.js").read_text(encoding="utf-8")
    # the source map is not shipped: drop the comment pointing at it
    return "\n".join(line for line in text.splitlines() if not line.startswith("//# sourceMappingURL"))


def init_script() -> str:
    """The script added to every document: the library inside a function (no global of its own but
    one non-enumerable property), the five metrics, and the hand-over when the document is left."""
    return f"""(() => {{
  if (window !== window.top || Object.prototype.hasOwnProperty.call(window, "{_GLOBAL}")) return;
  const store = {{id: Math.random().toString(36).slice(2), origin: performance.timeOrigin, url: location.href,
                 seq: 0, m: {{}}}};
  let previous = [];
  try {{
    const left = sessionStorage.getItem("{_GLOBAL}");
    if (left !== null) {{ sessionStorage.removeItem("{_GLOBAL}"); previous = JSON.parse(left); }}
  }} catch (e) {{}}
  Object.defineProperty(window, "{_GLOBAL}", {{value: {{current: store, previous: previous}}, enumerable: false}});
  try {{
{_library()}
    const put = (metric) => {{
      const entry = {{value: metric.value}};
      if (metric.name === "INP" && metric.entries && metric.entries.length)
        entry.at = performance.timeOrigin + metric.entries[0].startTime;
      store.m[metric.name.toLowerCase()] = entry;
      store.seq += 1;
    }};
    const all = {{reportAllChanges: true}};
    webVitals.onTTFB(put, all); webVitals.onFCP(put, all); webVitals.onLCP(put, all); webVitals.onCLS(put, all);
    webVitals.onINP(put, {{reportAllChanges: true, durationThreshold: 16}});
  }} catch (e) {{ store.error = String(e); }}
{_CLIENT_SIDE}
  addEventListener("pagehide", () => {{
    try {{ sessionStorage.setItem("{_GLOBAL}", JSON.stringify(previous.concat([store]))); }} catch (e) {{}}
  }}, true);
}})();"""


# Client-side navigations (a route change without a new document: History API, a single-page
# app's router). The Navigation API's `currententrychange` says when the URL changed (push,
# replace, traverse) without patching the page's `history`. Chromium's soft-navigation entries (an
# interaction that changed the URL and painted new content) give the view's first paint, and its
# `interaction-contentful-paint` entries the view's largest paint — the soft-navigation LCP; a
# browser without them leaves those unmeasured. Layout shifts (not after input) are kept, to sum
# those after each route change. Bounded: a page that changes its URL or shifts without end keeps 200.
_CLIENT_SIDE = """
  store.nav = []; store.soft = {}; store.shifts = [];
  const observe = (type, each) => {
    try {
      if (!PerformanceObserver.supportedEntryTypes.includes(type)) return;
      new PerformanceObserver((list) => { for (const e of list.getEntries()) each(e); store.seq += 1; })
        .observe({type: type, buffered: true});
    } catch (e) {}
  };
  try {
    if (window.navigation) navigation.addEventListener("currententrychange", (e) => {
      const last = store.nav.length ? store.nav[store.nav.length - 1].url : store.url;
      if (location.href === last || store.nav.length >= 200) return;
      store.nav.push({url: location.href, at: performance.timeOrigin + performance.now(),
                      type: e.navigationType});
      store.seq += 1;
    });
  } catch (e) {}
  observe("soft-navigation", (e) => {
    store.soft[e.navigationId] = {url: e.name, at: performance.timeOrigin + e.startTime,
                                  fcp: (e.presentationTime || e.paintTime || 0) - e.startTime};
  });
  observe("interaction-contentful-paint", (e) => {
    const soft = store.soft[e.navigationId];
    const lcp = e.largestContentfulPaint;
    if (soft && lcp) soft.lcp = (lcp.presentationTime || lcp.renderTime || lcp.startTime) - e.startTime;
  });
  observe("layout-shift", (e) => {
    if (!e.hadRecentInput && store.shifts.length < 200)
      store.shifts.push([performance.timeOrigin + e.startTime, e.value]);
  });"""
_SCRIPT: str | None = None
# The read without waiting for a paint (public: the runner combines it with another evaluation, see keep)
READ = f"() => window.{_GLOBAL} ? JSON.stringify(window.{_GLOBAL}) : null"
# The last read, after the attempt: the journey's last step may have found its text before the
# document painted it (seen on a loaded machine: the dashboard without FCP, another time without
# CLS, whose first value comes a task after FCP). It waits two frames and a task, then until the
# document has reported TTFB, FCP, LCP and CLS, and each client-side view its LCP; 500 ms at most (a
# page that paints nothing, or draws no frames). Two frames alone missed text a last step wrote
# (reported just after it). Skipping the two frames when all four are in saves a little per
# attempt, but made an interrupt race show up in tests/test_reliability.py, so they stay.
_READ_PAINTED = f"""() => new Promise(done => {{
  const held = window.{_GLOBAL};
  if (!held) return done(null);
  let over = false;
  const read = () => {{ over = true; clearTimeout(deadline); done(JSON.stringify(held)); }};
  const deadline = setTimeout(read, 500);
  const m = held.current.m, soft = held.current.soft || {{}};
  // a client-side view's largest paint comes in a later entry than its soft navigation: wait for it too
  const views = () => Object.values(soft).every(v => v.lcp !== undefined);
  const check = () => over ? null : m.ttfb && m.fcp && m.lcp && m.cls && views() ? read() : setTimeout(check, 10);
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(check, 0)));
}})"""


class VitalsCapture:
    """The Web Vitals of the top-level documents of one browser context's page."""

    def __init__(self, context: BrowserContext) -> None:
        global _SCRIPT
        if _SCRIPT is None:
            _SCRIPT = init_script()
        self._read: list[str] = []  # what the page held at each read, as JSON text (parsed later)
        self._unavailable: dict[str, str] = {}  # URL → why its vitals could not be read
        context.add_init_script(script=_SCRIPT)

    def read(self, page: Page, painted: bool = False) -> None:
        """The page's current document and those it was handed (outside the clocks: between actions,
        after the attempt). Costs one round trip to the page; `painted`: after its next paint, and
        once it has reported TTFB, FCP, LCP and CLS (500 ms at most)."""
        try:
            text = page.evaluate(_READ_PAINTED if painted else READ)
        except PlaywrightError as e:  # a crashed or closed page: keep what was read before
            first = str(e).strip().splitlines()
            self._note(page, f"the page could not be read: {first[0] if first else type(e).__name__}")
            return
        self.keep(page, text)

    def keep(self, page: Page, text: str | None) -> None:
        """What an evaluation of `READ` returned (read with another evaluation, to save a round trip)."""
        if text is None:
            self._note(page, "the Web Vitals script did not run in this page")
        else:
            self._read.append(text)

    def _note(self, page: Page, reason: str) -> None:
        url = _page_url(page)
        if url.startswith(("http:", "https:")):
            self._unavailable[url] = reason

    def records(self, page: Page, windows: Iterable[Window], fallback: str | None = None,
                since: float | None = None) -> list[dict[str, Any]]:
        """After the attempt: the last read, then one record per document of the journey."""
        self.read(page, painted=True)
        spans = sorted(windows, key=lambda w: w.start)
        if not spans:
            return []
        origin = spans[0].start if since is None else min(since, spans[0].start)
        docs: dict[str, dict[str, Any]] = {}
        for text in self._read:
            held = json.loads(text)
            for doc in [*held.get("previous", []), held["current"]]:
                known = docs.get(doc["id"])
                if known is None or doc["seq"] >= known["seq"]:
                    docs[doc["id"]] = doc
        out = []
        seen = set()
        for doc in sorted(docs.values(), key=lambda d: d["origin"]):
            if not doc["url"].startswith(("http:", "https:")):
                continue  # about:blank, data:, error pages
            window = window_of(spans, doc["origin"] / 1000, fallback, origin)
            if window is None:
                continue  # navigated before the journey began
            seen.add(doc["url"])
            out.append(document_record(doc, window.action, spans, fallback, origin))
            out += client_side_records(doc, spans, fallback, origin)
        for url, reason in self._unavailable.items():
            if url not in seen:
                out.append({"action": spans[-1].action, "url": mask_url(url), "unavailable": reason})
        return out


def _page_url(page: Page) -> str:
    try:
        return page.url
    except PlaywrightError:
        return ""


def document_record(doc: dict[str, Any], action: str, spans: list[Window], fallback: str | None,
                    origin: float) -> dict[str, Any]:
    """One navigation as stored in results.jsonl: values in ms (CLS unitless), each with its rating."""
    record: dict[str, Any] = {"action": action, "url": mask_url(doc["url"])}
    ratings: dict[str, str] = {}
    measured: dict[str, Any] = doc.get("m", {})
    for metric in METRICS:
        entry = measured.get(metric)
        value = None if entry is None else round(float(entry["value"]), 4 if metric == "cls" else 1)
        record[metric] = value
        if value is not None:
            ratings[metric] = rating(metric, value)
    inp = measured.get("inp")
    if inp is not None and inp.get("at"):
        window = window_of(spans, float(inp["at"]) / 1000, fallback, origin)
        record["inp_action"] = window.action if window is not None else action
    elif inp is not None:
        record["inp_action"] = action
    record["rating"] = ratings
    if doc.get("error"):
        record["error"] = str(doc["error"])
    return record


def client_side_records(doc: dict[str, Any], spans: list[Window], fallback: str | None,
                        origin: float) -> list[dict[str, Any]]:
    """One record per client-side navigation of a document: no TTFB (no new document, no request
    for it), FCP and LCP of the new view from Chromium's soft-navigation entries when it made them
    (the same URL, started at most 1 s before the URL changed: the interaction comes first), CLS as
    the sum of the layout shifts between this route change and the next; INP stays with the
    document, counted for the action of its interaction."""
    navs = sorted(doc.get("nav") or [], key=lambda n: n["at"])
    softs = sorted((doc.get("soft") or {}).values(), key=lambda n: n["at"])
    shifts: list[list[float]] = doc.get("shifts") or []
    out = []
    for i, nav in enumerate(navs):
        if not str(nav.get("url", "")).startswith(("http:", "https:")):
            continue
        window = window_of(spans, float(nav["at"]) / 1000, fallback, origin)
        if window is None:
            continue
        soft = next((x for x in softs if x["url"] == nav["url"] and nav["at"] - 1000 <= x["at"] <= nav["at"] + 50),
                    None)
        if soft is not None:
            softs.remove(soft)
        until = navs[i + 1]["at"] if i + 1 < len(navs) else float("inf")
        record: dict[str, Any] = {"action": window.action, "url": mask_url(nav["url"]),
                                  "navigation": "client-side", "navigation_type": nav.get("type"),
                                  "soft_navigation": soft is not None, "ttfb": None, "fcp": None, "lcp": None,
                                  "cls": round(sum(v for t, v in shifts if nav["at"] <= t < until), 4), "inp": None}
        if soft is not None:
            record["fcp"] = round(float(soft["fcp"]), 1) if soft.get("fcp") else None
            record["lcp"] = round(float(soft["lcp"]), 1) if soft.get("lcp") is not None else None
        record["rating"] = {m: rating(m, record[m]) for m in ("fcp", "lcp", "cls") if record[m] is not None}
        out.append(record)
    return out

"""The demo's single-page part: one HTML shell under /spa whose views are client-side routes
(History API: the URL changes, no new document is loaded), and the JSON API behind them.

Opening the report view (/spa/report) fires the calls a typical single-page view makes:

    GET /api/me                      ─ who is logged in (first, alone)
    ├─ GET /api/jobs                 ┐
    ├─ GET /api/audit                │ in parallel, once /api/me answered
    ├─ GET /api/me                   │ (a second component asks again)
    └─ GET /api/stats                ┘ (three queries one after another: the slowest)
    GET /api/users/{id}              ─ after all of them (the id comes from /api/me)
    GET /api/me                      ─ a third time, last

Like the server-rendered pages, every API call opens its own database connection through the
demo's (proxied) database link and makes its own round trips, so a database delay slows each call
by its number of round trips — and the view by those on its critical path. Kept apart from app.py
so the server-rendered pages stay as they are."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

SPA_SHELL = """<!doctype html><html><head><meta charset='utf-8'><title>Reports · Demo</title>
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto}table{border-collapse:collapse}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd}</style></head>
<body><nav><a href='/spa' data-route id='spa-home'>Overview</a> ·
<a href='/spa/report' data-route id='open-report'>Report</a></nav>
<main id='view'></main>
<script>
const view = document.getElementById("view");
const json = async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(url + " " + r.status);
                              return r.json(); };
const esc = (s) => String(s).replace(/[&<>'"]/g, (c) => "&#" + c.charCodeAt(0) + ";");
async function showReport() {
  view.innerHTML = "<p id='loading'>Loading…</p>";
  const me = await json("/api/me");
  const [jobs, audit, again, stats] = await Promise.all(
    [json("/api/jobs"), json("/api/audit"), json("/api/me"), json("/api/stats")]);
  const user = await json("/api/users/" + me.id);
  const last = await json("/api/me");
  const rows = jobs.jobs.map((j) => `<tr><td>${j.id}</td><td>${esc(j.kind)}</td><td>${esc(j.status)}</td></tr>`);
  view.innerHTML = `<h1 id='report-title'>Report for ${esc(user.name)}</h1>
    <p id='stats'>${stats.users} users, ${stats.jobs} jobs, ${stats.sessions} sessions;
    ${audit.events.length} recent audit events; same user: ${again.id === last.id}</p>
    <table id='report-jobs'><tr><th>#</th><th>Job</th><th>Status</th></tr>${rows.join("")}</table>
    <p id='report-ready'>Report ready</p>`;
}
function showOverview() { view.innerHTML = "<h1 id='overview-title'>Overview</h1><p>Pick a view above.</p>"; }
function render() {
  (location.pathname.startsWith("/spa/report") ? showReport() : Promise.resolve(showOverview()))
    .catch((e) => { view.innerHTML = `<p id='error' role='alert'>${esc(e.message)}</p>`; });
}
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-route]");
  if (!a) return;
  e.preventDefault();
  history.pushState({}, "", a.getAttribute("href"));
  render();
});
addEventListener("popstate", render);
render();
</script></body></html>"""


@contextmanager
def _db() -> Iterator[psycopg.Connection[Any]]:
    # A connection per call, as the server-rendered pages do: its start-up is a round trip too.
    with psycopg.connect(os.environ["UXCHAOS_DEMO_DSN"], autocommit=True) as conn:
        yield conn


def shell(request: Request) -> Response:
    """The same document for every /spa route, so a reload of a client-side URL works."""
    return HTMLResponse(SPA_SHELL)


def api_me(request: Request) -> Response:
    with _db() as conn:
        row = conn.execute("SELECT id, name FROM users ORDER BY id LIMIT 1").fetchone()
    return JSONResponse({"id": row[0], "name": row[1]} if row else {"id": 0, "name": "?"})


def api_user(request: Request) -> Response:
    with _db() as conn:
        row = conn.execute("SELECT id, name, email FROM users WHERE id = %s",
                           (int(request.path_params["user_id"]),)).fetchone()
    if row is None:
        return JSONResponse({"error": "no such user"}, status_code=404)
    return JSONResponse({"id": row[0], "name": row[1], "email": row[2]})


def api_jobs(request: Request) -> Response:
    with _db() as conn:
        rows = conn.execute("SELECT id, kind, status FROM jobs ORDER BY id DESC LIMIT 5").fetchall()
    return JSONResponse({"jobs": [{"id": r[0], "kind": r[1], "status": r[2]} for r in rows]})


def api_audit(request: Request) -> Response:
    with _db() as conn:
        rows = conn.execute("SELECT event, at::text FROM audit_log ORDER BY id DESC LIMIT 5").fetchall()
    return JSONResponse({"events": [{"event": r[0], "at": r[1]} for r in rows]})


def api_stats(request: Request) -> Response:
    """Three counts one after another (three round trips after the connection's): the long call."""
    with _db() as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                  for table in ("users", "jobs", "sessions")}
    return JSONResponse({table: row[0] if row else 0 for table, row in counts.items()})


ROUTES = [
    Route("/spa", shell),
    Route("/spa/{rest:path}", shell),
    Route("/api/me", api_me),
    Route("/api/users/{user_id:int}", api_user),
    Route("/api/jobs", api_jobs),
    Route("/api/audit", api_audit),
    Route("/api/stats", api_stats),
]

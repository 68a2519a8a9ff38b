"""The demo web app: a small Laravel-like site (login with CSRF, database sessions, a dashboard that
shows the queue worker's jobs). Like PHP, every request opens its own database connection, and a
login makes several sequential round trips, so a slow database shows up many times in one login.

Run by uvicorn in its own process; the database DSN comes from UXCHAOS_DEMO_DSN.
"""

from __future__ import annotations

import html
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from uxchaos.demo import spa
from uxchaos.demo.capacity import PoolExhausted, lifespan, pool_exhausted, pool_slot
from uxchaos.demo.passwords import check_password

SESSION_COOKIE = "demo_session"
WORKER_STALE_S = 10


@contextmanager
def db() -> Iterator[psycopg.Connection[Any]]:
    with pool_slot(), psycopg.connect(os.environ["UXCHAOS_DEMO_DSN"], autocommit=True) as conn:
        yield conn  # at most CAPACITY.db_pool of these at once (capacity.py)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · Demo</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto}label{display:block;margin:.5em 0}"
        ".error{color:#b00}</style></head>"
        f"<body><nav><a href='/'>Home</a> · <a href='/login'>Log in</a> · <a href='/dashboard'>Dashboard</a></nav>"
        f"{body}</body></html>",
        status_code=status,
    )


def load_session(conn: psycopg.Connection[Any], request: Request) -> tuple[str, int | None, str] | None:
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    row = conn.execute("SELECT id, user_id, csrf_token FROM sessions WHERE id = %s", (sid,)).fetchone()
    return (row[0], row[1], row[2]) if row else None


def new_session(conn: psycopg.Connection[Any]) -> tuple[str, int | None, str]:
    sid, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    conn.execute("INSERT INTO sessions (id, csrf_token) VALUES (%s, %s)", (sid, csrf))
    return sid, None, csrf


def login_form(csrf: str, error: str = "", email: str = "", status: int = 200) -> HTMLResponse:
    err = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    return page(
        "Log in",
        f"<h1>Log in</h1>{err}<form method='post' action='/login'>"
        f"<input type='hidden' name='_token' value='{html.escape(csrf)}'>"
        f"<label>Email <input id='email' name='email' type='email' value='{html.escape(email)}' required></label>"
        "<label>Password <input id='password' name='password' type='password' required></label>"
        "<button id='login' type='submit'>Log in</button></form>",
        status,
    )


def homepage(request: Request) -> Response:
    return page("Home", "<h1>Demo application</h1><p>A small Laravel-like app for uxchaos.</p>")


def show_login(request: Request) -> Response:
    with db() as conn:
        session = load_session(conn, request) or new_session(conn)
    resp = login_form(session[2])
    resp.set_cookie(SESSION_COOKIE, session[0], httponly=True, samesite="lax")
    return resp


async def do_login(request: Request) -> Response:
    form = await request.form()
    return await _run_sync(_login, request, dict(form))


async def _run_sync(fn: Any, *args: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def _login(request: Request, form: dict[str, Any]) -> Response:
    email = str(form.get("email", ""))
    password = str(form.get("password", ""))
    with db() as conn:
        session = load_session(conn, request)  # round trip 1
        if session is None or not secrets.compare_digest(session[2], str(form.get("_token", ""))):
            return page("Page expired", "<h1>419 Page expired</h1><p><a href='/login'>Try again</a></p>", 419)
        user = conn.execute(  # round trip 2
            "SELECT id, name, password_hash FROM users WHERE email = %s", (email,)
        ).fetchone()
        if user is None or not check_password(password, user[2]):
            conn.execute("INSERT INTO audit_log (user_id, event) VALUES (NULL, %s)", ("login failed",))
            return login_form(session[2], "These credentials do not match our records.", email, 422)
        new_id = secrets.token_urlsafe(24)  # regenerate the session id on login, as Laravel does
        conn.execute(  # round trip 3
            "UPDATE sessions SET id = %s, user_id = %s, last_activity = now() WHERE id = %s",
            (new_id, user[0], session[0]),
        )
        conn.execute(  # round trip 4: queue a job for the worker
            "INSERT INTO jobs (kind, payload) VALUES ('user_logged_in', %s)", (user[1],)
        )
        conn.execute("INSERT INTO audit_log (user_id, event) VALUES (%s, 'login')", (user[0],))  # 5
    resp = RedirectResponse("/dashboard", status_code=303)
    resp.set_cookie(SESSION_COOKIE, new_id, httponly=True, samesite="lax")
    return resp


def dashboard(request: Request) -> Response:
    with db() as conn:
        session = load_session(conn, request)
        if session is None or session[1] is None:
            return RedirectResponse("/login", status_code=303)
        user = conn.execute("SELECT name FROM users WHERE id = %s", (session[1],)).fetchone()
        jobs = conn.execute(
            "SELECT id, kind, payload, status, processed_by FROM jobs ORDER BY id DESC LIMIT 5"
        ).fetchall()
        conn.execute("UPDATE sessions SET last_activity = now() WHERE id = %s", (session[0],))
    rows = "".join(
        f"<tr><td>{j[0]}</td><td>{html.escape(j[1])}</td><td>{html.escape(j[2])}</td>"
        f"<td class='status'>{html.escape(j[3])}</td><td>{j[4] or ''}</td></tr>"
        for j in jobs
    )
    name = html.escape(user[0] if user else "?")
    return page(
        "Dashboard",
        f"<h1>Welcome, {name}</h1><h2>Last jobs processed by the worker</h2>"
        f"<table id='jobs'><tr><th>#</th><th>Job</th><th>Payload</th><th>Status</th><th>Worker PID</th></tr>"
        f"{rows}</table><form method='post' action='/logout'><button id='logout'>Log out</button></form>",
    )


def logout(request: Request) -> Response:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        with db() as conn:
            conn.execute("DELETE FROM sessions WHERE id = %s", (sid,))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


def health(request: Request) -> Response:
    try:
        with db() as conn:
            row = conn.execute(
                "SELECT pid, EXTRACT(EPOCH FROM now() - beat_at) FROM worker_heartbeat WHERE id = 1"
            ).fetchone()
    except psycopg.Error as e:
        return JSONResponse({"status": "error", "database": str(e).strip()}, status_code=503)
    worker_ok = row is not None and float(row[1]) < WORKER_STALE_S
    body = {
        "status": "ok" if worker_ok else "degraded",
        "database": "ok",
        "worker": {"pid": row[0], "last_beat_s": round(float(row[1]), 2)} if row else None,
    }
    return JSONResponse(body, status_code=200 if worker_ok else 503)


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/login", show_login, methods=["GET"]),
        Route("/login", do_login, methods=["POST"]),
        Route("/dashboard", dashboard),
        Route("/logout", logout, methods=["POST"]),
        Route("/health", health),
        *spa.ROUTES,  # the single-page part (demo/spa.py)
    ]
)
# The fixed capacity (capacity.py): server workers set at startup, a 503 when the database pool stays full.
app.router.lifespan_context = lifespan
app.add_exception_handler(PoolExhausted, pool_exhausted)

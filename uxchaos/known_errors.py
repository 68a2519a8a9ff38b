"""Error pages the pre-flight recognises, so it can say what to do rather than only what it saw.

The report's problem 3: a Laravel app answered `SQLSTATE[42S02]: Base table or view not found: 1146
Table 'laravel.sessions' doesn't exist` because its migrations had not run. Laravel shows that text
on its error page when APP_DEBUG is on (the stock .env.example); with it off the page says only
"Server Error" and the reason is in storage/logs/laravel.log."""

from __future__ import annotations

import html
import re

# MySQL/MariaDB (SQLSTATE 42S02, error 1146), PostgreSQL (42P01) and SQLite, as PDO words them.
_MISSING_TABLE = [
    re.compile(r"Base table or view not found: 1146 Table '(?P<table>[^']+)' doesn't exist"),
    re.compile(r"Base table or view not found[^\n<]*?(?:Table|relation) [\"'`]?(?P<table>[\w.]+)"),
    re.compile(r"Undefined table: 7 ERROR:\s+relation \"(?P<table>[^\"]+)\" does not exist"),
    re.compile(r"no such table: (?P<table>[\w.]+)"),
]


def missing_table(body: str) -> str | None:
    """The table an error page says is missing, or None."""
    text = html.unescape(body)
    for pattern in _MISSING_TABLE:
        found = pattern.search(text)
        if found:
            return found.group("table")
    return None


def advice(body: str) -> str | None:
    """What to do about a recognised error page, in one sentence; None if it is not recognised."""
    table = missing_table(body)
    if table is None:
        return None
    text = html.unescape(body)
    laravel = "Illuminate\\" in text or "(SQL: " in text  # Laravel's classes, or its QueryException's suffix
    how = "run the app's migrations (`php artisan migrate`)" if laravel else "run the app's database migrations"
    return f"the database has no table `{table}`: {how}, then run uxchaos again"

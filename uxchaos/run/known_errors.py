"""Error pages the pre-flight recognises, so it can say what to do rather than only what it saw.

The hand-made report met this one: a Laravel app answered `SQLSTATE[42S02]: Base table or view not
found: 1146 Table 'laravel.sessions' doesn't exist` because its migrations had not run. Laravel shows that text
on its error page when APP_DEBUG is on (the stock .env.example); with it off the page says only
"Server Error" and the reason is in storage/logs/laravel.log."""

from __future__ import annotations

import html
import re

# MySQL/MariaDB (SQLSTATE 42S02, error 1146), PostgreSQL (42P01) and SQLite, as PDO words them.
_MISSING_TABLE = [
    re.compile(r"(?:SQLSTATE\[42S02\]: )?Base table or view not found: 1146 Table '(?P<table>[^']+)' doesn't exist"),
    re.compile(r"(?:SQLSTATE\[\w+\]: )?Base table or view not found[^\n<]*?(?:Table|relation) [\"'`]?(?P<table>[\w.]+)"
               r"[\"'`]?"),
    re.compile(r"(?:SQLSTATE\[42P01\]: )?Undefined table: 7 ERROR:\s+relation \"(?P<table>[^\"]+)\" does not exist"),
    re.compile(r"no such table: (?P<table>[\w.]+)"),
]


def missing_table(body: str) -> tuple[str, str] | None:
    """(the error as the page words it, the missing table) if an error page says a table is missing."""
    text = html.unescape(body)
    for pattern in _MISSING_TABLE:
        found = pattern.search(text)
        if found:
            return found.group(0), found.group("table")
    return None


def advice(body: str) -> str | None:
    """What the page said and what to do about it, in one sentence; None if it is not recognised."""
    found = missing_table(body)
    if found is None:
        return None
    said, table = found
    return (f"{said} — the database has no table `{table}`: run the app's migrations (Laravel: "
            "`php artisan migrate`), then run uxchaos again")

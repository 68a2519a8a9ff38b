"""Error pages the pre-flight recognises (known_errors.py): the report's missing-table error as
MySQL/MariaDB, PostgreSQL and SQLite word it through PDO, HTML-escaped as on Laravel's debug page."""

from __future__ import annotations

import html

import pytest

from uxchaos.run.known_errors import advice, missing_table


@pytest.mark.parametrize(("page", "table"), [
    ("SQLSTATE[42S02]: Base table or view not found: 1146 Table 'laravel.sessions' doesn't exist "
     "(SQL: select * from `sessions` where `id` = x limit 1)", "laravel.sessions"),
    ("<h1>" + html.escape("SQLSTATE[42S02]: Base table or view not found: 1146 Table 'shop.users' doesn't exist")
     + "</h1>", "shop.users"),
    ('SQLSTATE[42P01]: Undefined table: 7 ERROR:  relation "sessions" does not exist', "sessions"),
    ("SQLSTATE[HY000]: General error: 1 no such table: jobs", "jobs"),
])
def test_a_missing_table_is_recognised_and_named(page: str, table: str) -> None:
    found = missing_table(page)
    assert found is not None and found[1] == table
    said = advice(page)
    assert said is not None and f"no table `{table}`" in said and "php artisan migrate" in said


def test_other_errors_are_not_guessed_at() -> None:
    assert advice("SQLSTATE[HY000] [2002] Connection refused") is None
    assert advice("<h1>Server Error</h1>") is None

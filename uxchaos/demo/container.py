"""The demo's processes as container commands (the Swarm stack's `laravel-backend` and `worker`):
`python -m uxchaos.demo.container app|worker`. Each waits for the database, migrates it if nobody
has yet (like `php artisan migrate` in an entrypoint), then runs the app (uvicorn) or the worker.
Settings come from the environment the compose file sets."""

from __future__ import annotations

import os
import signal
import sys
import time

WAIT_FOR_DATABASE_S = 120


def migrate(dsn: str) -> None:
    import psycopg

    from uxchaos.demo.db import ensure_schema
    from uxchaos.demo.stack import DEFAULT_NAME, demo_credentials

    email, password = demo_credentials()
    deadline = time.monotonic() + WAIT_FOR_DATABASE_S
    while True:
        try:
            if ensure_schema(dsn, [(email, DEFAULT_NAME, password)]):
                print("migrated the database", flush=True)
            return
        except psycopg.OperationalError as e:  # not up yet
            if time.monotonic() > deadline:
                raise SystemExit(f"the database did not answer within {WAIT_FOR_DATABASE_S}s: {e}") from None
            print(f"waiting for the database: {str(e).strip()[:200]}", flush=True)
            time.sleep(1)


def main(role: str) -> None:
    dsn = os.environ["UXCHAOS_DEMO_DSN"]
    migrate(dsn)
    if role == "app":
        port = os.environ["UXCHAOS_DEMO_PORT"]
        os.execvp(sys.executable, [sys.executable, "-m", "uvicorn", "uxchaos.demo.app:app", "--host", "127.0.0.1",
                                   "--port", port, "--log-level", "warning", "--no-access-log"])
    elif role == "worker":
        from uxchaos.demo.worker import run

        # PID 1 gets no default SIGTERM action: exit at once so a stop (or `demo down`) is quick
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        run(dsn)
    else:
        raise SystemExit(f"unknown role {role!r}: app or worker")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")

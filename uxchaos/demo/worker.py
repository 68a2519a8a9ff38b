"""The demo's queue worker: takes pending jobs from the database and marks them processed.
Runs as its own process (`python -m uxchaos.demo.worker DSN`) so it can be killed like a container."""

from __future__ import annotations

import os
import sys
import time

import psycopg

POLL_S = 0.2


def run(dsn: str) -> None:
    pid = os.getpid()
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                while True:
                    conn.execute(
                        "INSERT INTO worker_heartbeat (id, pid, beat_at) VALUES (1, %s, now()) "
                        "ON CONFLICT (id) DO UPDATE SET pid = EXCLUDED.pid, beat_at = EXCLUDED.beat_at",
                        (pid,),
                    )
                    conn.execute(
                        "UPDATE jobs SET status = 'processed', processed_at = now(), processed_by = %s "
                        "WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' ORDER BY id "
                        "FOR UPDATE SKIP LOCKED LIMIT 10)",
                        (pid,),
                    )
                    time.sleep(POLL_S)
        except psycopg.OperationalError as e:  # database restarting or unreachable: retry, like a queue worker
            print(f"worker {pid}: database error: {e}", file=sys.stderr, flush=True)
            time.sleep(1)


if __name__ == "__main__":
    run(sys.argv[1])

"""The demo app's fixed capacity, the bottleneck that makes traffic matter: a fixed number of server
workers (the threads that run request handlers, like PHP-FPM's max_children) and a fixed pool of
database connections (each request still opens its own connection, as PHP does, but at most
`db_pool` are open at once; a request waits for a free one up to `pool_timeout_s`, then gets a 503).
Under a slow database a modest load fills the pool, and logins queue behind it.

Set by UXCHAOS_DEMO_WORKERS, UXCHAOS_DEMO_DB_POOL and UXCHAOS_DEMO_POOL_TIMEOUT (seconds)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response


@dataclass(frozen=True)
class Capacity:
    workers: int = 8
    db_pool: int = 4
    pool_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Capacity:
        env = dict(os.environ) if env is None else env
        return cls(int(env.get("UXCHAOS_DEMO_WORKERS", cls.workers)), int(env.get("UXCHAOS_DEMO_DB_POOL", cls.db_pool)),
                   float(env.get("UXCHAOS_DEMO_POOL_TIMEOUT", cls.pool_timeout_s)))

    def describe(self) -> str:
        return (f"{self.workers} server workers, a pool of {self.db_pool} database connections (a request waits "
                f"at most {self.pool_timeout_s:g}s for one, then gets 503)")


CAPACITY = Capacity.from_env()
_slots = threading.BoundedSemaphore(CAPACITY.db_pool)


class PoolExhausted(Exception):
    """No database connection came free within the pool's timeout."""


@contextlib.contextmanager
def pool_slot() -> Iterator[None]:
    if not _slots.acquire(timeout=CAPACITY.pool_timeout_s):
        raise PoolExhausted(f"no database connection free within {CAPACITY.pool_timeout_s:g}s "
                            f"(pool of {CAPACITY.db_pool})")
    try:
        yield
    finally:
        _slots.release()


async def pool_exhausted(request: Request, exc: Exception) -> Response:
    return HTMLResponse(f"<!doctype html><title>503</title><h1>503 Service Unavailable</h1><p>{exc}</p>",
                        status_code=503)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """At startup: the server workers (anyio's thread limiter runs Starlette's sync handlers), and
    the startup line that states the capacity."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = CAPACITY.workers
    print(f"uxchaos demo app: {CAPACITY.describe()}", file=sys.stderr, flush=True)
    yield

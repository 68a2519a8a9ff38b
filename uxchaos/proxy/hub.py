"""ProxyHub: the Python control API. Runs the proxies on an event loop in a background thread,
so callers (the engine, the demo, tests) use plain blocking methods from any thread."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from uxchaos.proxy.server import Address, Proxy
from uxchaos.proxy.toxics import Toxic, toxic_from_spec

T = TypeVar("T")


class ProxyNotFound(KeyError):
    pass


class ProxyHub:
    def __init__(self, seed: int | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.rng = random.Random(seed)
        self.proxies: dict[str, Proxy] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="uxchaos-proxy", daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _proxy(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            known = ", ".join(sorted(self.proxies)) or "none"
            raise ProxyNotFound(f"no proxy named {name!r} (known: {known})") from None

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        if name in self.proxies:
            raise ValueError(f"a proxy named {name!r} exists already")
        where = Address.parse(listen)
        proxy = Proxy(name, Address.parse(upstream), where.host, where.port, loop=self.loop, rng=self.rng)
        self._run(proxy.start())
        self.proxies[name] = proxy
        return proxy.describe()

    def add_toxic(self, proxy: str, spec: dict[str, Any] | Toxic) -> dict[str, Any]:
        toxic = spec if isinstance(spec, Toxic) else toxic_from_spec(spec)
        self._run(self._proxy(proxy).add_toxic(toxic))
        return toxic.to_dict()

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._run(self._proxy(proxy).remove_toxic(toxic))

    def reset(self, proxy: str | None = None) -> None:
        """Remove every toxic (of one proxy, or of all)."""
        targets = [self._proxy(proxy)] if proxy else list(self.proxies.values())
        for p in targets:
            self._run(p.reset())

    def describe(self, proxy: str) -> dict[str, Any]:
        return self._call(self._proxy(proxy).describe)

    def list(self) -> list[dict[str, Any]]:
        return [self.describe(name) for name in list(self.proxies)]

    def _call(self, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return self._run(call())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        for proxy in list(self.proxies.values()):
            self._run(proxy.close())
        self.proxies.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""ProxyHub: the Python control API. Runs the proxies on an event loop in a background thread,
so callers (the engine, the demo, the control server's threads, tests) use plain blocking methods
from any thread. Its methods and errors follow Toxiproxy's API one for one."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from uxchaos.proxy.address import Address
from uxchaos.proxy.server import Proxy, ToxicExists, ToxicNotFound
from uxchaos.proxy.toxics import Toxic, ToxicError, toxic_from_spec, updated_toxic

T = TypeVar("T")
PROXY_FIELDS = ("name", "listen", "upstream", "enabled", "toxics")


class ProxyNotFound(KeyError):
    """Toxiproxy: 404 proxy not found."""


class ProxyExists(ValueError):
    """Toxiproxy: 409 proxy already exists."""


class BadRequest(ValueError):
    """Toxiproxy: 400 (a missing or malformed field)."""


def _address(field: str, text: object) -> Address:
    if not isinstance(text, str) or not text:
        raise BadRequest(f"missing required field: {field}")
    try:
        return Address.parse(text)
    except ValueError as e:
        raise BadRequest(f"field '{field}': {e}") from None


def _enabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"field 'enabled' must be true or false, got {value!r}")
    return value


def _check_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


class ProxyHub:
    def __init__(self, seed: int | None = None) -> None:
        """`seed` (or the environment's UXCHAOS_PROXY_SEED) makes toxicity and jitter draws repeatable."""
        self.loop = asyncio.new_event_loop()
        if seed is None and os.environ.get("UXCHAOS_PROXY_SEED", "").strip():
            seed = int(os.environ["UXCHAOS_PROXY_SEED"])
        self.rng = random.Random(seed)
        self.proxies: dict[str, Proxy] = {}
        self._lock = threading.RLock()  # control requests arrive on many threads
        self._thread = threading.Thread(target=self.loop.run_forever, name="uxchaos-proxy", daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _proxy(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            known = ", ".join(sorted(self.proxies)) or "none"
            raise ProxyNotFound(f"proxy not found: no proxy named {name!r} (known: {known})") from None

    # -- proxies -----------------------------------------------------------------------------------
    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True) -> dict[str, Any]:
        with self._lock:
            if not name:
                raise BadRequest("missing required field: name")
            if name in self.proxies:
                raise ProxyExists(f"proxy already exists: {name!r}")
            where = _address("listen", listen or "127.0.0.1:0")
            proxy = Proxy(name, _address("upstream", upstream), where.host or "127.0.0.1", where.port,
                          loop=self.loop, rng=self.rng)
            if _enabled(enabled):
                try:
                    self._run(proxy.start())
                except OSError as e:
                    raise OSError(e.errno, f"proxy {name!r} cannot listen on {listen}: {e.strerror or e}") from None
            self.proxies[name] = proxy
            return proxy.describe()

    def create_from(self, body: object) -> dict[str, Any]:
        """POST /proxies: Toxiproxy's {name, upstream, listen?, enabled?}."""
        if not isinstance(body, dict):
            raise BadRequest(f"bad request body: a proxy is a JSON object, got {type(body).__name__}")
        _check_fields(body, PROXY_FIELDS)
        return self.create(body.get("name") or "", body.get("upstream") or "", body.get("listen") or "127.0.0.1:0",
                           body.get("enabled", True))

    def populate(self, body: object) -> list[dict[str, Any]]:
        """POST /populate: create or replace many proxies; every one is checked before any changes."""
        if not isinstance(body, list):
            raise BadRequest(f"bad request body: /populate takes a JSON array of proxies, got {type(body).__name__}")
        seen: set[str] = set()
        for i, item in enumerate(body, 1):
            if not isinstance(item, dict):
                raise BadRequest(f"bad request body: proxy {i} is not a JSON object")
            _check_fields(item, PROXY_FIELDS)
            for field in ("name", "upstream"):
                if not item.get(field):
                    raise BadRequest(f"missing required field: {field} at proxy {i}")
            if item["name"] in seen:
                raise BadRequest(f"duplicate proxy name {item['name']!r}")
            seen.add(item["name"])
            _address("upstream", item["upstream"])
            _address("listen", item.get("listen") or "127.0.0.1:0")
            _enabled(item.get("enabled", True))
        out = []
        with self._lock:
            for item in body:
                old = self.proxies.get(item["name"])
                if old is not None:
                    same = old.upstream == Address.parse(item["upstream"]) and old.listen == str(
                        Address.parse(item.get("listen") or old.listen))
                    if same:
                        self._run(old.set_enabled(item.get("enabled", True)))
                        out.append(old.describe())
                        continue
                    self.delete(item["name"])
                out.append(self.create(item["name"], item["upstream"], item.get("listen") or "127.0.0.1:0",
                                       item.get("enabled", True)))
        return out

    def update(self, name: str, body: object) -> dict[str, Any]:
        """POST/PATCH /proxies/NAME: change `enabled`, `listen` or `upstream`."""
        if not isinstance(body, dict):
            raise BadRequest(f"bad request body: a proxy update is a JSON object, got {type(body).__name__}")
        _check_fields(body, PROXY_FIELDS)
        with self._lock:
            proxy = self._proxy(name)
            listen = _address("listen", body["listen"]) if body.get("listen") else None
            upstream = _address("upstream", body["upstream"]) if body.get("upstream") else None
            enabled = _enabled(body.get("enabled", proxy.enabled))
            self._run(proxy.move(listen, upstream))
            self._run(proxy.set_enabled(enabled))
            return proxy.describe()

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return self.update(name, {"enabled": enabled})

    def delete(self, name: str) -> None:
        with self._lock:
            proxy = self._proxy(name)
            self._run(proxy.close())
            del self.proxies[name]

    # -- toxics ------------------------------------------------------------------------------------
    def add_toxic(self, proxy: str, spec: dict[str, Any] | Toxic) -> dict[str, Any]:
        with self._lock:
            target = self._proxy(proxy)
            toxic = spec if isinstance(spec, Toxic) else toxic_from_spec(spec)
            self._run(target.add_toxic(toxic))
            return toxic.to_dict()

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self.describe(proxy)["toxics"]

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        for toxic in self.toxics(proxy):
            if toxic["name"] == name:
                return toxic
        raise ToxicNotFound(f"toxic not found: proxy {proxy!r} has no toxic named {name!r}")

    def update_toxic(self, proxy: str, name: str, spec: object) -> dict[str, Any]:
        with self._lock:
            target = self._proxy(proxy)
            old = target.toxics.get(name)
            if old is None:
                raise ToxicNotFound(f"toxic not found: proxy {proxy!r} has no toxic named {name!r}")
            new = updated_toxic(old, spec)
            self._run(target.replace_toxic(new))
            return new.to_dict()

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        with self._lock:
            self._run(self._proxy(proxy).remove_toxic(toxic))

    def reset(self, proxy: str | None = None) -> None:
        """Toxiproxy's reset: every toxic removed and every proxy enabled (of one proxy, or of all)."""
        with self._lock:
            targets = [self._proxy(proxy)] if proxy else list(self.proxies.values())
            for p in targets:
                self._run(p.reset())

    def describe(self, proxy: str) -> dict[str, Any]:
        target = self._proxy(proxy)
        return self._call(target.describe)

    def turns(self, proxy: str, since: float, until: float) -> list[tuple[float, int]]:
        """uxchaos's own: (epoch time, connection id) of each request → answer turn the proxy counted
        between two epoch times — to tell which turns fell inside an action, on which connection."""
        target = self._proxy(proxy)
        found: list[tuple[float, int]] = self._call(lambda: target.turns(since, until))
        return found

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


__all__ = ["BadRequest", "ProxyExists", "ProxyHub", "ProxyNotFound", "ToxicError", "ToxicExists", "ToxicNotFound"]

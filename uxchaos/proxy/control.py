"""A small HTTP control API on loopback, so a proxy can run as its own process
(`uxchaos proxy serve`) and be driven like Toxiproxy. `ControlClient` talks to it with the
same methods as `ProxyHub`, so the fault driver works with either.

  GET    /proxies                      list proxies
  POST   /proxies                      {"name", "upstream", "listen"?} create one
  GET    /proxies/NAME                 one proxy
  POST   /proxies/NAME/toxics          add a toxic {"type", "name"?, "stream"?, "toxicity"?, "attributes"}
  DELETE /proxies/NAME/toxics/TOXIC    remove it
  POST   /proxies/NAME/reset           remove every toxic of one proxy
  POST   /reset                        remove every toxic of every proxy
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from uxchaos.proxy.hub import ProxyHub, ProxyNotFound
from uxchaos.proxy.toxics import ToxicError


class ControlError(RuntimeError):
    pass


def _handler(hub: ProxyHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "uxchaos-proxy"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the run log has the events
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _dispatch(self, method: str) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            try:
                status, body = self._route(method, parts)
            except ProxyNotFound as e:
                status, body = 404, {"error": str(e.args[0])}
            except KeyError as e:
                status, body = 404, {"error": str(e.args[0])}
            except (ToxicError, ValueError, json.JSONDecodeError) as e:
                status, body = 400, {"error": str(e)}
            self._send(status, body)

        def _route(self, method: str, parts: list[str]) -> tuple[int, Any]:
            match method, parts:
                case "GET", ["proxies"]:
                    return 200, hub.list()
                case "POST", ["proxies"]:
                    b = self._body()
                    return 201, hub.create(b["name"], b["upstream"], b.get("listen", "127.0.0.1:0"))
                case "GET", ["proxies", name]:
                    return 200, hub.describe(name)
                case "POST", ["proxies", name, "toxics"]:
                    return 201, hub.add_toxic(name, self._body())
                case "DELETE", ["proxies", name, "toxics", toxic]:
                    hub.remove_toxic(name, toxic)
                    return 200, {"removed": toxic}
                case "POST", ["proxies", name, "reset"]:
                    hub.reset(name)
                    return 200, {"reset": name}
                case "POST", ["reset"]:
                    hub.reset()
                    return 200, {"reset": True}
            return 404, {"error": f"no route {method} {self.path}"}

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


class ControlServer:
    """Serves the control API for a hub on 127.0.0.1 (port 0 = a free one)."""

    def __init__(self, hub: ProxyHub, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler(hub))
        self.httpd.daemon_threads = True
        self.address = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="uxchaos-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ControlClient:
    """Same methods as ProxyHub, over HTTP."""

    def __init__(self, address: str, timeout: float = 10) -> None:
        self.address = address.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.address + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("error", e.reason)
            raise ControlError(f"proxy control {method} {path}: {detail}") from None
        except urllib.error.URLError as e:
            raise ControlError(
                f"cannot reach the proxy control API at {self.address}: {e.reason}. "
                "Is `uxchaos proxy serve` (or `uxchaos demo up`) running?"
            ) from None

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        return self._request("POST", "/proxies", {"name": name, "upstream": upstream, "listen": listen})

    def add_toxic(self, proxy: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"/proxies/{proxy}/toxics", spec)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def reset(self, proxy: str | None = None) -> None:
        self._request("POST", f"/proxies/{proxy}/reset" if proxy else "/reset", {})

    def describe(self, proxy: str) -> dict[str, Any]:
        return self._request("GET", f"/proxies/{proxy}")

    def list(self) -> list[dict[str, Any]]:
        return self._request("GET", "/proxies")

"""The control API of `uxchaos proxy serve` (and of `uxchaos demo up`): Toxiproxy 2.x's HTTP API, so
Toxiproxy's own clients, scripts and curl lines drive uxchaos's proxy unchanged.

  GET    /version                          {"version": ...}
  POST   /reset                            every proxy enabled, every toxic removed       204
  GET    /proxies                          {NAME: proxy, ...}
  POST   /proxies                          {name, upstream, listen?, enabled?}            201 (409 if taken)
  POST   /populate                         [proxy, ...] create or replace                 201 {"proxies": [...]}
  GET    /proxies/NAME                     proxy with its toxics
  POST|PATCH /proxies/NAME                 {enabled?, listen?, upstream?}
  DELETE /proxies/NAME                                                                    204
  GET    /proxies/NAME/toxics              [toxic, ...]
  POST   /proxies/NAME/toxics              {type, name?, stream?, toxicity?, attributes}  200 (409 if taken)
  GET    /proxies/NAME/toxics/TOXIC
  POST|PATCH /proxies/NAME/toxics/TOXIC    {attributes?, toxicity?}
  DELETE /proxies/NAME/toxics/TOXIC                                                       204
  POST   /proxies/NAME/reset               uxchaos: reset one proxy                       204

Errors are Toxiproxy's {"error": message, "status": code}: 400 bad input (the message names the
field), 404 unknown proxy or toxic, 409 a name used twice, 500 e.g. a listen address in use. Like
Toxiproxy, requests from browsers (User-Agent "Mozilla/…") are refused with 403.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from uxchaos import __version__
from uxchaos.errors import EnvironmentProblem
from uxchaos.proxy.hub import BadRequest, ProxyExists, ProxyHub, ProxyNotFound
from uxchaos.proxy.server import ToxicExists, ToxicNotFound
from uxchaos.proxy.toxics import ToxicError

log = logging.getLogger("uxchaos.proxy")
VERSION = f"2.12.0-uxchaos.{__version__}"  # Toxiproxy 2.x's API, spoken by uxchaos
MAX_BODY = 1 << 20

_STATUS: list[tuple[type[Exception], int]] = [
    (ProxyNotFound, 404), (ToxicNotFound, 404), (ProxyExists, 409), (ToxicExists, 409),
    (BadRequest, 400), (ToxicError, 400), (OSError, 500),
]


class ControlError(EnvironmentProblem):
    """The control API could not be reached, refused a request, or answered something that is not
    Toxiproxy's API. `status`: the HTTP status it answered (0: none); `refused`: nothing listens
    there (the proxy process is gone, and the faults it held went with it)."""

    def __init__(self, message: str, status: int = 0, refused: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.refused = refused


def _span(path: str) -> tuple[float, float]:
    """`?since=…&until=…` (epoch seconds) of a turns request."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    try:
        return float(query["since"][0]), float(query["until"][0])
    except (KeyError, ValueError):
        raise BadRequest("query: since=EPOCH&until=EPOCH (seconds) are required") from None


def _handler(hub: ProxyHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "uxchaos-proxy"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the run log has the events
            pass

        def _send(self, status: int, body: Any) -> None:
            data = b"" if status == 204 else json.dumps(body).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise BadRequest("bad request body: Content-Length is not a number") from None
            if length > MAX_BODY:
                raise BadRequest(f"bad request body: larger than {MAX_BODY} bytes")
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return {}
            try:
                return json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise BadRequest(f"bad request body: not JSON: {e}") from None

        def _dispatch(self, method: str) -> None:
            if self.headers.get("User-Agent", "").startswith("Mozilla/"):
                self._send(403, {"error": "User agent not allowed", "status": 403})
                return
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            try:
                status, body = self._route(method, parts)
            except Exception as e:  # every error becomes Toxiproxy's JSON; the server keeps serving
                status = next((code for kind, code in _STATUS if isinstance(e, kind)), 500)
                message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
                if status == 500 and not isinstance(e, OSError):
                    log.exception("control API %s %s failed", method, self.path)
                body = {"error": message, "status": status}
            self._send(status, body)

        def _route(self, method: str, parts: list[str]) -> tuple[int, Any]:
            if method == "PATCH":
                method = "POST"
            match method, parts:
                case "GET", ["version"]:
                    return 200, {"version": VERSION}
                case "POST", ["reset"]:
                    hub.reset()
                    return 204, None
                case "GET", ["proxies"]:
                    return 200, {p["name"]: p for p in hub.list()}
                case "POST", ["proxies"]:
                    return 201, hub.create_from(self._body())
                case "POST", ["populate"]:
                    return 201, {"proxies": hub.populate(self._body())}
                case "GET", ["proxies", name]:
                    return 200, hub.describe(name)
                case "POST", ["proxies", name]:
                    return 200, hub.update(name, self._body())
                case "DELETE", ["proxies", name]:
                    hub.delete(name)
                    return 204, None
                case "POST", ["proxies", name, "reset"]:
                    hub.reset(name)
                    return 204, None
                case "GET", ["proxies", name, "turns"]:  # uxchaos's own, not Toxiproxy's
                    since, until = _span(self.path)
                    return 200, {"turns": [list(t) for t in hub.turns(name, since, until)]}
                case "GET", ["proxies", name, "toxics"]:
                    return 200, hub.toxics(name)
                case "POST", ["proxies", name, "toxics"]:
                    return 200, hub.add_toxic(name, self._body())
                case "GET", ["proxies", name, "toxics", toxic]:
                    return 200, hub.get_toxic(name, toxic)
                case "POST", ["proxies", name, "toxics", toxic]:
                    return 200, hub.update_toxic(name, toxic, self._body())
                case "DELETE", ["proxies", name, "toxics", toxic]:
                    hub.remove_toxic(name, toxic)
                    return 204, None
            return 404, {"error": f"no route {method} {self.path}", "status": 404}

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


class ControlServer:
    """Serves the control API for a hub (port 0 = a free one). Raises OSError if the address is taken."""

    def __init__(self, hub: ProxyHub, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _handler(hub))
        self.httpd.daemon_threads = True
        self.address = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="uxchaos-control",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ControlClient:
    """The same methods as ProxyHub, over Toxiproxy's HTTP API (so it drives a real Toxiproxy too)."""

    def __init__(self, address: str, timeout: float = 10) -> None:
        self.address = address.rstrip("/")
        if "://" not in self.address:
            self.address = "http://" + self.address
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None, shape: type = object) -> Any:
        """The JSON answer (None for an empty one), which must be a `shape`; anything else a ControlError."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.address + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("User-Agent", f"uxchaos/{__version__}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read() or b"{}"
            try:
                detail = json.loads(raw).get("error", e.reason)
            except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                detail = raw.decode(errors="replace").strip()[:200] or e.reason
            raise ControlError(f"proxy control {method} {path} at {self.address}: {detail}", e.code) from None
        except http.client.HTTPException as e:  # something answers, but not in HTTP (BadStatusLine and kin)
            raise ControlError(
                f"{self.address} is not a proxy control API: it does not answer HTTP ({type(e).__name__}). Is "
                "target.proxy_control the address of `uxchaos proxy serve` or toxiproxy-server (its control port, "
                "8474 by default)?") from None
        except (urllib.error.URLError, OSError) as e:  # refused, timed out, no such host
            reason = getattr(e, "reason", None) or e
            said = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
            raise ControlError(
                f"cannot reach the proxy control API at {self.address}: {said}. "
                "Is `uxchaos proxy serve`, `uxchaos demo up` or toxiproxy-server running there?",
                refused=isinstance(reason, ConnectionRefusedError)) from None
        try:
            answer = json.loads(raw) if raw.strip() else None
            wrong = answer is not None and not isinstance(answer, shape)
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer, wrong = None, True
        if wrong:
            raise ControlError(
                f"{self.address} is not a proxy control API: {method} {path} answered "
                f"{raw[:60].decode(errors='replace')!r}, not Toxiproxy's JSON. Is target.proxy_control the "
                "address of `uxchaos proxy serve` or toxiproxy-server (its control port, 8474 by default)?")
        return answer

    def create(self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True) -> dict[str, Any]:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return self._request("POST", "/proxies", body, shape=dict)

    def update(self, proxy: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"/proxies/{proxy}", fields, shape=dict)

    def set_enabled(self, proxy: str, enabled: bool) -> dict[str, Any]:
        return self.update(proxy, {"enabled": enabled})

    def delete(self, proxy: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}")

    def add_toxic(self, proxy: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"/proxies/{proxy}/toxics", spec, shape=dict)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}/toxics/{toxic}")

    def reset(self, proxy: str | None = None) -> None:
        """Every toxic removed and every proxy enabled; Toxiproxy itself has only the global one."""
        if proxy is None:
            self._request("POST", "/reset")
            return
        for toxic in self.describe(proxy)["toxics"]:
            self.remove_toxic(proxy, toxic["name"])
        self.set_enabled(proxy, True)

    def describe(self, proxy: str) -> dict[str, Any]:
        answer = self._request("GET", f"/proxies/{proxy}", shape=dict)
        if not isinstance(answer.get("toxics"), list) or not {"enabled", "listen"} <= answer.keys():
            raise ControlError(f"{self.address} answered GET /proxies/{proxy} without a proxy's fields "
                               "(enabled, listen, toxics): is it a Toxiproxy 2.x control API?")
        return dict(answer)

    def turns(self, proxy: str, since: float, until: float) -> list[tuple[float, int]]:
        """uxchaos's own route (a Toxiproxy answers 404): the turns counted between two epoch times."""
        answer = self._request("GET", f"/proxies/{proxy}/turns?since={since!r}&until={until!r}", shape=dict)
        return [(float(t), int(c)) for t, c in answer["turns"]]

    def list(self) -> list[dict[str, Any]]:
        proxies = self._request("GET", "/proxies", shape=dict)
        if not all(isinstance(p, dict) and "name" in p for p in proxies.values()):
            raise ControlError(f"{self.address} answered GET /proxies with something that is not a list of proxies")
        return list(proxies.values())

    def version(self) -> str:
        return str(self._request("GET", "/version", shape=dict).get("version", ""))

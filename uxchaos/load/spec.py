"""The scenario's `load:` block: protocol-level users run by Locust for the whole run, from the team's
own locustfile or from a short list of requests. Validated when the scenario is loaded, without
importing Locust (gevent must never enter the process that drives Playwright): the locustfile is
parsed, not run; `check.py` imports it in a child process before the run starts."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from uxchaos.util.yamlsrc import LDict, LList

METHODS = ("get", "post", "put", "patch", "delete", "head")
MAX_LOAD_USERS = 100_000  # beyond this a number of users is a typo
MAX_WORKERS = 64  # local worker processes; more machines use `uxchaos load worker`
# Names of Locust's user base classes: a class deriving from one of them is a user class.
USER_BASES = {"User", "HttpUser", "FastHttpUser"}

# Every key `load:` may have: (kind, default, what it means) — for `uxchaos reference` and the README.
LOAD_FIELDS = {
    "locustfile": ("path", "–", "a locustfile, relative to the scenario; its user classes and weights as Locust "
                   "defines them"),
    "requests": ("list", "–", "instead of a locustfile: [{get: /login, weight: 3}, {post: /api, json: {…}}]; "
                 "methods " + ", ".join(METHODS)),
    "users": ("int", "required", "concurrent Locust users for the whole run (before, during and after alike)"),
    "spawn_rate": ("rate (50/s)", "users/s", "how fast they start; the ramp ends before the before phase"),
    "wait": ("duration", "1s", "with requests: each user's pause between two requests"),
    "workers": ("int", "0", "Locust worker processes under a master, on this machine (0: one local process), or "
                "with master: how many to wait for"),
    "master": ("HOST:PORT", "–", "the master listens here for workers on other machines (`uxchaos load worker "
               "--master HOST:PORT`); none are started here"),
}


class Reporter(Protocol):
    """The scenario validator's two abilities this module needs (scenario._Validator)."""

    def error(self, line: int, where: str, message: str) -> None: ...
    def convert(self, kind: Any, value: Any, line: int, where: str) -> Any: ...


@dataclass(frozen=True)
class RequestSpec:
    method: str  # upper case
    path: str
    weight: int = 1
    data: dict[str, Any] | None = None  # a form body
    json: Any = None

    @property
    def name(self) -> str:
        """The name Locust's statistics use for it (and expectations: during.load["GET /login"])."""
        return f"{self.method} {self.path}"


@dataclass
class LoadSpec:
    users: int
    spawn_rate: float  # users started per second
    locustfile: Path | None = None
    requests: list[RequestSpec] = field(default_factory=list)
    wait_s: float = 1.0
    workers: int = 0
    master: str | None = None  # HOST:PORT the master binds for remote workers (none started here)
    line: int = 0

    def record(self) -> dict[str, Any]:
        """For run.json."""
        return {"users": self.users, "spawn_rate": self.spawn_rate, "workers": self.workers, "master": self.master,
                "locustfile": str(self.locustfile) if self.locustfile else None,
                "requests": [r.name for r in self.requests], "wait_s": self.wait_s}


def validate_load(v: Reporter, raw: Any, line: int, base_dir: Path) -> LoadSpec | None:
    if not isinstance(raw, LDict):
        v.error(line, "load", "must be a mapping such as {locustfile: load.py, users: 50, spawn_rate: 10/s} or "
                "{users: 20, requests: [{get: /login}]}")
        return None
    for key in raw:
        if key not in LOAD_FIELDS:
            v.error(raw.line_of(key), f"load.{key}", f"unknown key {key!r}; allowed: {', '.join(LOAD_FIELDS)}")
    if ("locustfile" in raw) == ("requests" in raw):
        v.error(line, "load", "give either locustfile (your own) or requests (a list compiled to a Locust user)")
        return None
    users = _count(v, raw, "users", 1, MAX_LOAD_USERS, required=line)
    workers = _count(v, raw, "workers", 0, MAX_WORKERS) or 0
    rate = v.convert("rate", raw["spawn_rate"], raw.line_of("spawn_rate"), "load.spawn_rate") \
        if "spawn_rate" in raw else None
    wait = v.convert("duration", raw.get("wait", "1s"), raw.line_of("wait"), "load.wait")
    if "wait" in raw and "locustfile" in raw:
        v.error(raw.line_of("wait"), "load.wait", "wait is for requests; a locustfile's users set their own "
                "wait_time")
    master = _master(v, raw, workers) if "master" in raw else None
    locustfile, requests = None, []
    if "locustfile" in raw:
        locustfile = _locustfile(v, raw, base_dir)
    else:
        requests = _requests(v, raw["requests"], raw.line_of("requests"))
    if users is None or (locustfile is None and not requests):
        return None
    return LoadSpec(users, float(rate or users), locustfile, requests, float(wait or 0.0), workers, master, raw.line)


def parse_address(text: str) -> tuple[str, int] | None:
    """HOST:PORT (IPv6 in brackets) as (host, port), or None."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def _master(v: Reporter, raw: LDict, workers: int) -> str | None:
    line = raw.line_of("master")
    text = v.convert("text", raw["master"], line, "load.master")
    if text is None:
        return None
    if parse_address(text) is None:
        v.error(line, "load.master", f"HOST:PORT where the Locust master listens for workers, got {text!r}")
        return None
    if workers < 1:
        v.error(line, "load.master", "say how many workers will connect: workers: N (each started elsewhere with "
                f"`uxchaos load worker --master {text}`)")
    return text


def _count(v: Reporter, raw: LDict, key: str, low: int, high: int, required: int = 0) -> int | None:
    """`required`: the line to name when the key is missing (0: it may be left out)."""
    if key not in raw:
        if required:
            v.error(required, "load", f"missing required key {key!r} (how many Locust users)")
        return None
    value = v.convert("int", raw[key], raw.line_of(key), f"load.{key}")
    if value is not None and not low <= value <= high:
        v.error(raw.line_of(key), f"load.{key}", f"must be from {low} to {high}, got {value}")
        return None
    return int(value) if value is not None else None


def _locustfile(v: Reporter, raw: LDict, base_dir: Path) -> Path | None:
    line = raw.line_of("locustfile")
    name = v.convert("text", raw["locustfile"], line, "load.locustfile")
    if not name:
        return None
    path = (base_dir / name).resolve()
    problem = static_check(path)
    if problem is not None:
        v.error(line, "load.locustfile", problem)
        return None
    return path


def static_check(path: Path) -> str | None:
    """What is wrong with a locustfile that can be seen without running it: missing, unreadable, not
    Python (file:line), or no class deriving from User, HttpUser or FastHttpUser."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot read locustfile {path}: {getattr(e, 'strerror', None) or e}"
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as e:
        return f"{path}:{e.lineno}: not valid Python: {e.msg}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
            if bases & USER_BASES:
                return None
    return (f"{path}: no Locust user class (a class deriving from {', '.join(sorted(USER_BASES))}, "
            "e.g. `class Visitor(HttpUser):` with a @task)")


def _requests(v: Reporter, raw: Any, line: int) -> list[RequestSpec]:
    if not isinstance(raw, LList) or not raw:
        v.error(line, "load.requests", "a non-empty list such as [{get: /login, weight: 3}, {get: /health}]")
        return []
    found = []
    for i, item in enumerate(raw):
        where = f"load.requests[{i}]"
        if not isinstance(item, LDict):
            v.error(raw.line_of(i), where, "a request is a mapping such as {get: /login, weight: 3}")
            continue
        methods = [k for k in item if k in METHODS]
        extra = [k for k in item if k not in (*METHODS, "weight", "data", "json")]
        for key in extra:
            v.error(item.line_of(key), f"{where}.{key}", f"unknown key {key!r}: a request is one method "
                    f"({', '.join(METHODS)}) with a path, and optionally weight, data (a form) or json")
        if len(methods) != 1:
            if not extra:
                v.error(item.line, where, f"name exactly one method: {', '.join(METHODS)} (e.g. get: /login)")
            continue
        method = methods[0]
        path = v.convert("text", item[method], item.line_of(method), f"{where}.{method}")
        if path is not None and not str(path).startswith("/"):
            v.error(item.line_of(method), f"{where}.{method}", f"a path on the target, starting with '/', got {path!r}")
            continue
        weight = v.convert("int", item.get("weight", 1), item.line_of("weight"), f"{where}.weight")
        if weight is not None and weight < 1:
            v.error(item.line_of("weight"), f"{where}.weight", f"must be at least 1, got {weight}")
        data = item.get("data")
        if data is not None and not isinstance(data, dict):
            v.error(item.line_of("data"), f"{where}.data", "a form is a mapping of field to value")
        if path is not None and weight:
            found.append(RequestSpec(method.upper(), str(path), int(weight), dict(data) if data else None,
                                     item.get("json")))
    return found


def compile_requests(spec: LoadSpec) -> str:
    """The `requests:` list as a locustfile: one HttpUser whose tasks are the requests, by weight,
    each shown as `METHOD /path` in Locust's statistics (query strings included)."""
    lines = ['"""Compiled by uxchaos from a scenario\'s load.requests."""', "",
             "from locust import HttpUser, constant, task", "", "",
             "class ScenarioUser(HttpUser):", f"    wait_time = constant({spec.wait_s!r})", ""]
    for i, r in enumerate(spec.requests):
        kwargs = f"name={r.path!r}"  # Locust names it METHOD + name: "GET /login"
        if r.data is not None:
            kwargs += f", data={r.data!r}"
        if r.json is not None:
            kwargs += f", json={r.json!r}"
        lines += [f"    @task({r.weight})", f"    def request_{i}(self):",
                  f"        self.client.request({r.method!r}, {r.path!r}, {kwargs})", ""]
    return "\n".join(lines)

"""The `proxy` driver: faults applied through uxchaos's own fault proxy (in-process for the demo,
or a `uxchaos proxy serve` reached over its Toxiproxy-compatible control API)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from uxchaos.errors import BadInput, EnvironmentProblem, FaultError, FaultRefused
from uxchaos.faults import register
from uxchaos.faults.base import Check, EffectProbe, FaultDriver, Param
from uxchaos.util.durations import format_duration

DIRECTION = Param(("upstream", "downstream", "both"), "downstream",
                  "downstream = service → client (like netem on the service's container)")
PROBABILITY = Param("probability", 1.0, "share of connections affected, decided once per connection")
REQUEST_SHARE = Param("probability", 1.0, "share of HTTP requests affected, each request decided on its own")
PATH = Param("text", ".*", "only requests whose path matches this regular expression (searched)")
METHOD = Param("text", "any", "only requests with this method, e.g. POST")
RATE_HELP = "KB/s (Toxiproxy's unit) or '100kbit', '1mbit', '64KB'"
TOXIC_PREFIX = "uxchaos-"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def rate_attribute(text: str) -> float | str:
    """A number (KB/s) as a number; a rate with a unit as written."""
    try:
        return float(text)
    except ValueError:
        return text


@register
class ProxyDriver(FaultDriver):
    name = "proxy"
    toggles_cheaply = True  # a toxic added or removed over loopback
    target_help = "the name of a proxy: 'database' or 'backend' on the demo"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "delay": {
            "delay": Param("duration", help="added to every chunk, e.g. 2000ms"),
            "jitter": Param("duration", 0.0, "± uniform, e.g. 100ms"),
            "direction": DIRECTION,
            "connect": Param("bool", False, "also delay connection set-up once, like netem delays the handshake"),
            "probability": PROBABILITY,
        },
        "bandwidth": {"rate": Param("text", help=RATE_HELP), "direction": DIRECTION, "probability": PROBABILITY},
        "timeout": {"timeout": Param("duration", 0.0, "close after this long; 0ms = hold for ever"),
                    "direction": DIRECTION, "probability": PROBABILITY},
        "reset": {"timeout": Param("duration", 0.0, "reset after this long"), "probability": PROBABILITY},
        "down": {},
        "http_status": {"status": Param("int", 503, "the HTTP status answered instead of the service's"),
                        "body": Param("text", "injected by uxchaos", "the answer's body (text/plain)"),
                        "path": PATH, "method": METHOD, "probability": REQUEST_SHARE},
        "slow_headers": {"delay": Param("duration", help="response headers held back this long (slow TTFB)"),
                         "path": PATH, "method": METHOD, "probability": REQUEST_SHARE},
        "drop_body": {"body_fraction": Param("probability", 0.5, "share of the body delivered before the cut"),
                      "path": PATH, "method": METHOD, "probability": REQUEST_SHARE},
    }

    def _control(self) -> Any:
        if self.runtime.proxies is None:
            raise EnvironmentProblem(
                "the proxy driver needs a fault proxy: use target base_url 'demo', or run "
                "`uxchaos proxy serve` in front of your service and set target.proxy_control"
            )
        return self.runtime.proxies

    def _toxic_name(self, stream: str = "") -> str:
        """Named after the run, so a run removes only its own toxics and a second run sees whose they are."""
        run = self.options.run_id
        return f"{TOXIC_PREFIX}{self.spec.kind}" + (f"-{stream}" if stream else "") + (f"@{run}" if run else "")

    def _toxics(self) -> list[str]:
        return [t["name"] for t in self._control().describe(self.spec.target)["toxics"]]

    def toxic_specs(self) -> list[dict[str, Any]]:
        """The toxics this fault adds, in Toxiproxy's JSON (none for `down`, which disables the proxy)."""
        p, kind = self.spec.params, self.spec.kind
        stream = p.get("direction", "downstream")
        if "method" in p:
            p = {**p, "method": "" if p["method"].lower() == "any" else p["method"]}
        if kind == "down":
            return []
        if kind == "delay":
            toxic_type = "latency"
            attrs: dict[str, Any] = {"latency": _ms(p["delay"]), "jitter": _ms(p["jitter"]), "connect": p["connect"]}
        elif kind == "bandwidth":
            toxic_type, attrs = "bandwidth", {"rate": rate_attribute(p["rate"])}
        elif kind == "timeout":
            toxic_type, attrs = "timeout", {"timeout": _ms(p["timeout"])}
        elif kind == "reset":  # reset as the client sends: the request never reaches the service
            toxic_type, stream, attrs = "reset_peer", "upstream", {"timeout": _ms(p["timeout"])}
        elif kind == "http_status":
            toxic_type = "http_status"
            attrs = {"status_code": p["status"], "body": p["body"], "path": p["path"], "method": p["method"]}
        elif kind == "slow_headers":
            toxic_type = "http_slow_headers"
            attrs = {"delay": _ms(p["delay"]), "path": p["path"], "method": p["method"]}
        else:
            toxic_type = "http_drop_body"
            attrs = {"body_fraction": p["body_fraction"], "path": p["path"], "method": p["method"]}
        return [{"type": toxic_type, "name": self._toxic_name(), "stream": stream,
                 "toxicity": p.get("probability", 1.0), "attributes": attrs}]

    def checks(self) -> list[Check]:
        def toxics_valid() -> str:
            from uxchaos.proxy.toxics import ToxicError, toxic_from_spec

            try:  # checked here, before anything runs: a rate or path that cannot be read is the scenario's
                specs = self.toxic_specs()
                for spec in specs:
                    toxic_from_spec(spec)
            except (ToxicError, FaultError) as e:
                raise BadInput(f"fault {self.spec.kind} on {self.spec.target!r}: {e}") from None
            return ", ".join(f"{spec['type']} {spec['attributes']}" for spec in specs) or "the proxy disabled"

        def proxy_exists() -> str:
            if self.runtime.proxies is None and self.runtime.pending:
                return f"proxy {self.spec.target!r} is checked when {self.runtime.pending} has started"
            names = [proxy["name"] for proxy in self._control().list()]
            if self.spec.target not in names:
                raise EnvironmentProblem(
                    f"fault target {self.spec.target!r} is not a proxy here; proxies: {', '.join(names) or 'none'}")
            return f"proxy {self.spec.target!r} is there"

        return [Check("fault toxics", toxics_valid), Check("fault proxy", proxy_exists)]

    def resources(self) -> list[str]:
        # A proxy inside this process (the demo a run starts for itself) is this run's alone: naming the
        # process keeps two runs with demos of their own from refusing each other.
        where = getattr(self._control(), "address", None) or f"in-process (pid {os.getpid()})"
        return [f"proxy {self.spec.target!r} at {where}"]

    def inject(self) -> dict[str, Any]:
        from uxchaos.proxy.control import ControlError

        control = self._control()
        mine = {spec["name"] for spec in self.toxic_specs()}
        others = [name for name in self._toxics() if name.startswith(TOXIC_PREFIX) and name not in mine]
        if others:
            holder = others[0].partition("@")[2] or "another uxchaos run"
            raise FaultRefused(f"proxy {self.spec.target!r} already has {others[0]!r}, a fault of run {holder}; "
                               "refusing to add a second one (nothing was changed). Wait for that run, or "
                               "`uxchaos recover` if it was killed.")
        if self.spec.kind == "down":
            if not control.describe(self.spec.target)["enabled"]:
                raise FaultRefused(f"proxy {self.spec.target!r} is disabled already (by another run, or by hand); "
                                   "nothing was changed")
            try:
                control.set_enabled(self.spec.target, False)
            except (ControlError, ValueError, KeyError, OSError) as e:
                raise FaultError(f"could not disable proxy {self.spec.target!r}: {e}") from e
            return {"enabled": False}
        added: list[dict[str, Any]] = []
        try:
            for spec in self.toxic_specs():
                added.append(control.add_toxic(self.spec.target, spec))
        except (ControlError, ValueError, KeyError, OSError) as e:
            for toxic in added:  # all or nothing
                control.remove_toxic(self.spec.target, toxic["name"])
            raise FaultError(f"could not add {self.spec.kind} to proxy {self.spec.target!r}: {e}") from e
        return {"toxic": added[0]} if len(added) == 1 else {"toxics": added}

    def revert(self) -> dict[str, Any]:
        # Only this run's own toxics: another run's fault on the same proxy is never touched.
        control = self._control()
        if self.spec.kind == "down":
            control.set_enabled(self.spec.target, True)
            return {"enabled": True}
        present = set(self._toxics())
        removed = [spec["name"] for spec in self.toxic_specs() if spec["name"] in present]
        for name in removed:
            control.remove_toxic(self.spec.target, name)
        return {"removed": removed[0] if len(removed) == 1 else (removed or None)}

    def in_force(self) -> bool | None:
        if self.spec.kind == "down":
            return not self._control().describe(self.spec.target)["enabled"]
        present = set(self._toxics())
        return all(spec["name"] in present for spec in self.toxic_specs())

    def effect_probe(self) -> EffectProbe | None:
        if self.spec.kind != "delay":
            return None
        from uxchaos.faults.probe import find_probe
        from uxchaos.proxy.address import Address

        listen = Address.parse(self._control().describe(self.spec.target)["listen"])
        probe = find_probe(listen.host, listen.port)
        per_trip = self.spec.params["delay"] * (2 if self.spec.params["direction"] == "both" else 1)
        return EffectProbe(probe, per_trip) if probe else None

    def ledger_revert(self) -> dict[str, Any]:
        control = self._control()
        address = getattr(control, "address", None)
        toxics = [spec["name"] for spec in self.toxic_specs()]
        data = {"proxy": self.spec.target, "toxics": toxics, "down": self.spec.kind == "down"}
        if address is None:  # a ProxyHub inside this process: it ends with the process
            return {"in_process": True, **data}
        return {"control": address, **data}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        if data.get("in_process"):
            return f"proxy {data['proxy']!r} ran inside the uxchaos process and ended with it: nothing left to revert"
        from uxchaos.proxy.control import ControlClient, ControlError

        client = ControlClient(data["control"])
        try:
            present = {t["name"] for t in client.describe(data["proxy"])["toxics"]}
        except ControlError as e:
            if e.refused:
                return f"proxy control {data['control']} is gone, and its faults with it"
            raise
        done = []
        if data.get("down"):
            client.set_enabled(data["proxy"], True)
            done.append(f"enabled proxy {data['proxy']!r} again")
        names = data.get("toxics")
        if names is None:  # a ledger written before faults could add several toxics
            names = [data["toxic"]] if data.get("toxic") else []
        for name in names:
            if name in present:
                client.remove_toxic(data["proxy"], name)
                done.append(f"removed {name} from proxy {data['proxy']!r}")
        if not done:
            return f"proxy {data['proxy']!r} at {data['control']} had nothing of this fault any more"
        return "; ".join(done) + f" at {data['control']}"

    def describe(self) -> str:
        p = self.spec.params
        if self.spec.kind == "delay":
            jitter = f" ± {format_duration(p['jitter'])}" if p["jitter"] else ""
            return (f"delay {format_duration(p['delay'])}{jitter} on every chunk {p['direction']} "
                    f"of proxy '{self.spec.target}'")
        if self.spec.kind == "down":
            return f"proxy '{self.spec.target}' disabled (connections refused, open ones closed)"
        if self.spec.kind == "http_status":
            where = f" for {p['method']} {p['path']}" if (p["method"], p["path"]) != ("any", ".*") else ""
            share = f"{p['probability']:.0%} of requests"
            return f"HTTP {p['status']} answered for {share}{where} on proxy '{self.spec.target}'"
        return super().describe()

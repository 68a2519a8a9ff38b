"""The `proxy` driver: faults applied through uxchaos's own fault proxy (in-process for the demo,
or a `uxchaos proxy serve` reached over its control API)."""

from __future__ import annotations

from typing import Any, ClassVar

from uxchaos.durations import format_duration
from uxchaos.errors import EnvironmentProblem, FaultError, FaultRefused
from uxchaos.faults import register
from uxchaos.faults.base import Check, EffectProbe, FaultDriver, Param

DIRECTION = Param(("upstream", "downstream", "both"), "downstream",
                  "downstream = service → client (like netem on the service's container)")
TOXIC_PREFIX = "uxchaos-"
PROBABILITY = Param("probability", 1.0, "share of connections affected, decided once per connection")


@register
class ProxyDriver(FaultDriver):
    name = "proxy"
    target_help = "the name of a proxy: 'database' or 'backend' on the demo"
    kinds: ClassVar[dict[str, dict[str, Param]]] = {
        "delay": {
            "delay": Param("duration", help="added to every chunk, e.g. 2000ms"),
            "jitter": Param("duration", 0.0, "± uniform, e.g. 100ms"),
            "direction": DIRECTION,
            "connect": Param("bool", False, "also delay connection set-up once, like netem delays the handshake"),
            "probability": PROBABILITY,
        },
        "bandwidth": {"rate": Param("text", help="bytes/s or '100kbit', '1mbit', '64KB'"),
                      "direction": DIRECTION, "probability": PROBABILITY},
        "timeout": {"timeout": Param("duration", 0.0, "close after this long; 0ms = hold for ever"),
                    "direction": DIRECTION, "probability": PROBABILITY},
        "reset": {"timeout": Param("duration", 0.0, "reset after this long"), "probability": PROBABILITY},
        "down": {},
    }
    _toxic_type: ClassVar[dict[str, str]] = {
        "delay": "latency", "bandwidth": "bandwidth", "timeout": "timeout", "reset": "reset", "down": "down"}

    def _control(self) -> Any:
        if self.runtime.proxies is None:
            raise EnvironmentProblem(
                "the proxy driver needs a fault proxy: use target base_url 'demo', or run "
                "`uxchaos proxy serve` in front of your service and set target.proxy_control"
            )
        return self.runtime.proxies

    def _toxic_name(self) -> str:
        """Named after the run, so a run removes only its own toxic and a second run sees whose it is."""
        run = self.options.run_id
        return f"{TOXIC_PREFIX}{self.spec.kind}" + (f"@{run}" if run else "")

    def _toxics(self) -> list[str]:
        return [t["name"] for t in self._control().describe(self.spec.target)["toxics"]]

    def toxic_spec(self) -> dict[str, Any]:
        p = self.spec.params
        attrs: dict[str, Any] = {}
        if self.spec.kind == "delay":
            attrs = {"latency": f"{p['delay'] * 1000:g}ms", "jitter": f"{p['jitter'] * 1000:g}ms",
                     "connect": p["connect"]}
        elif self.spec.kind == "bandwidth":
            attrs = {"rate": p["rate"]}
        elif self.spec.kind in ("timeout", "reset"):
            attrs = {"timeout": f"{p['timeout'] * 1000:g}ms"}
        return {"type": self._toxic_type[self.spec.kind], "name": self._toxic_name(),
                "stream": p.get("direction", "downstream"), "toxicity": p.get("probability", 1.0),
                "attributes": attrs}

    def checks(self) -> list[Check]:
        def proxy_exists() -> str:
            if self.runtime.proxies is None and self.runtime.pending:
                return f"proxy {self.spec.target!r} is checked when {self.runtime.pending} has started"
            names = [proxy["name"] for proxy in self._control().list()]
            if self.spec.target not in names:
                raise EnvironmentProblem(
                    f"fault target {self.spec.target!r} is not a proxy here; proxies: {', '.join(names) or 'none'}")
            return f"proxy {self.spec.target!r} is there"

        return [Check("fault proxy", proxy_exists)]

    def resources(self) -> list[str]:
        where = getattr(self._control(), "address", None) or "in-process"
        return [f"proxy {self.spec.target!r} at {where}"]

    def inject(self) -> dict[str, Any]:
        from uxchaos.proxy.control import ControlError

        others = [name for name in self._toxics() if name.startswith(TOXIC_PREFIX) and name != self._toxic_name()]
        if others:
            holder = others[0].partition("@")[2] or "another uxchaos run"
            raise FaultRefused(f"proxy {self.spec.target!r} already has {others[0]!r}, a fault of run {holder}; "
                               "refusing to add a second one (nothing was changed). Wait for that run, or "
                               "`uxchaos recover` if it was killed.")
        try:
            toxic = self._control().add_toxic(self.spec.target, self.toxic_spec())
        except (ControlError, ValueError, KeyError, OSError) as e:
            raise FaultError(f"could not add {self.spec.kind} to proxy {self.spec.target!r}: {e}") from e
        return {"toxic": toxic}

    def revert(self) -> dict[str, Any]:
        # Only this run's own toxic: another run's fault on the same proxy is never touched.
        if self._toxic_name() in self._toxics():
            self._control().remove_toxic(self.spec.target, self._toxic_name())
            return {"removed": self._toxic_name()}
        return {"removed": None}

    def in_force(self) -> bool | None:
        return self._toxic_name() in self._toxics()

    def effect_probe(self) -> EffectProbe | None:
        if self.spec.kind != "delay":
            return None
        from uxchaos.probe import find_probe
        from uxchaos.proxy.server import Address

        listen = Address.parse(self._control().describe(self.spec.target)["listen"])
        probe = find_probe(listen.host, listen.port)
        per_trip = self.spec.params["delay"] * (2 if self.spec.params["direction"] == "both" else 1)
        return EffectProbe(probe, per_trip) if probe else None

    def ledger_revert(self) -> dict[str, Any]:
        control = self._control()
        address = getattr(control, "address", None)
        if address is None:  # a ProxyHub inside this process: it ends with the process
            return {"in_process": True, "proxy": self.spec.target, "toxic": self._toxic_name()}
        return {"control": address, "proxy": self.spec.target, "toxic": self._toxic_name()}

    @classmethod
    def revert_from_ledger(cls, data: dict[str, Any]) -> str:
        if data.get("in_process"):
            return f"proxy {data['proxy']!r} ran inside the uxchaos process and ended with it: nothing left to revert"
        from uxchaos.proxy.control import ControlClient, ControlError

        client = ControlClient(data["control"])
        try:
            present = [t["name"] for t in client.describe(data["proxy"])["toxics"]]
            if data["toxic"] in present:
                client.remove_toxic(data["proxy"], data["toxic"])
                return f"removed {data['toxic']} from proxy {data['proxy']!r} at {data['control']}"
        except ControlError as e:
            if "cannot reach" in str(e):
                return f"proxy control {data['control']} is gone, and its faults with it"
            raise FaultError(str(e)) from None
        return f"proxy {data['proxy']!r} had no {data['toxic']} any more"

    def describe(self) -> str:
        p = self.spec.params
        if self.spec.kind == "delay":
            jitter = f" ± {format_duration(p['jitter'])}" if p["jitter"] else ""
            return (f"delay {format_duration(p['delay'])}{jitter} on every chunk {p['direction']} "
                    f"of proxy '{self.spec.target}'")
        return super().describe()

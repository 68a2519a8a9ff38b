"""Validating a scenario's fault: its driver and kind, parameters, a sweep of levels and whether
the during phase reaches them all, the alternative fault, and the order of the phases around it."""

from __future__ import annotations

from typing import Any

from uxchaos.faults import DRIVERS, FaultSpec
from uxchaos.faults.base import REQUIRED, Sweep
from uxchaos.scenario.model import FAULT_FIELDS, Phase
from uxchaos.scenario.params import convert
from uxchaos.scenario.validate import Validator, did_you_mean
from uxchaos.util.yamlsrc import LDict, LList


def validate_fault(v: Validator, raw: Any, line: int, where: str = "fault",
                    default_max_s: float = 600.0) -> FaultSpec | None:
    """A fault, and its alternative (`otherwise:`, a fault of its own, one level only) used when
    the first one's pre-flight fails on this host."""
    f = v.mapping(raw, line, where, {k: k in ("driver", "kind", "target") for k in FAULT_FIELDS})
    if f is None:
        return None
    nested = where != "fault"
    if nested and "otherwise" in f:
        v.error(f.line_of("otherwise"), f"{where}.otherwise", "an alternative has no alternative of its own "
                "(one level only): try the most specific fault first, the alternative second")
    otherwise = None
    if not nested and f.get("otherwise") is not None:  # checked even when the first fault is wrong
        own_max = f.get("max_duration", "10m")  # the alternative's default, unless it gives its own
        otherwise = validate_fault(v, f["otherwise"], f.line_of("otherwise"), "fault.otherwise",
                                    quiet_duration(own_max))
    if not all(k in f for k in ("driver", "kind", "target")):
        return None
    driver_name = v.convert("text", f["driver"], f.line_of("driver"), f"{where}.driver")
    kind = v.convert("text", f["kind"], f.line_of("kind"), f"{where}.kind")
    if driver_name is None or kind is None:
        return None
    if driver_name not in DRIVERS:
        v.error(f.line_of("driver"), f"{where}.driver", f"unknown driver {driver_name!r}"
                f"{did_you_mean(str(driver_name), DRIVERS)}; allowed: {', '.join(DRIVERS)}")
        return None
    driver = DRIVERS[driver_name]
    if kind not in driver.kinds:
        v.error(f.line_of("kind"), f"{where}.kind", f"driver {driver_name} has no fault kind {kind!r}"
                f"{did_you_mean(str(kind), driver.kinds)}; allowed: {', '.join(driver.kinds)}")
        return None
    target = v.convert("text", f["target"], f.line_of("target"), f"{where}.target")
    if target is not None:
        if not target.strip():
            v.error(f.line_of("target"), f"{where}.target", f"must not be empty: {driver.target_help}")
        elif (message := driver.validate_target(target)) is not None:
            v.error(f.line_of("target"), f"{where}.target", message)
    schema = driver.kinds[kind]
    sweep = validate_sweep(v, f["sweep"], f.line_of("sweep"), driver_name, kind, schema, f"{where}.sweep") \
        if "sweep" in f else None
    params: dict[str, Any] = {}
    raw_params = f.get("params") or LDict()
    if v.mapping(raw_params, f.line_of("params"), f"{where}.params", {k: False for k in schema}) is not None:
        for key, param in schema.items():
            at = f"{where}.params.{key}"
            if key in raw_params:
                params[key] = v.convert(param.kind, raw_params[key], raw_params.line_of(key), at)
            elif sweep is not None and key == sweep.param:
                params[key] = sweep.levels[0]
            elif param.default is REQUIRED:
                v.error(f.line_of("params"), at, f"{kind} needs parameter {key!r} ({param.help})")
            else:
                params[key] = param.default
    max_duration = v.convert("duration", f["max_duration"], f.line_of("max_duration"), f"{where}.max_duration") \
        if "max_duration" in f else default_max_s
    return FaultSpec(driver_name, kind, target or "", params, max_duration or 600.0, f.line, sweep, otherwise)


def quiet_duration(value: Any) -> float:
    """A duration whose errors are reported elsewhere (the first fault's max_duration): 10m if bad."""
    try:
        return float(convert("duration", value))
    except ValueError:
        return 600.0


NUMERIC_KINDS = ("duration", "float", "probability", "int")


def validate_sweep(v: Validator, raw: Any, line: int, driver: str, kind: str,
                    schema: dict[str, Any], at: str = "fault.sweep") -> Sweep | None:
    """`sweep: {delay: [0ms, 250ms, 1s], mode: step, threshold: {"Logging in": 10s}}`."""
    numeric = [k for k, p in schema.items() if p.kind in NUMERIC_KINDS]
    if not numeric:
        v.error(line, at, f"{driver} {kind} has no size to sweep (no numeric parameter)")
        return None
    s = v.mapping(raw, line, at, {**{k: False for k in schema}, "mode": False, "threshold": False,
                                  "settle": False})
    if s is None:
        return None
    swept = [k for k in s if k in schema]
    if len(swept) != 1:
        v.error(s.line, at, f"name exactly one parameter to sweep; numeric parameters of {driver} {kind}: "
                f"{', '.join(numeric)}")
        return None
    param = swept[0]
    if param not in numeric:
        v.error(s.line_of(param), f"{at}.{param}", f"{param!r} is not a number, so it has no size to sweep; "
                f"numeric parameters of {driver} {kind}: {', '.join(numeric)}")
        return None
    raw_levels = s[param]
    where = f"{at}.{param}"
    if not isinstance(raw_levels, LList) or len(raw_levels) < 2:
        v.error(s.line_of(param), where, "a sweep needs a list of at least two levels, e.g. [0ms, 500ms, 1s, 2s]")
        return None
    kind_of = schema[param].kind
    levels = [v.convert(kind_of, x, raw_levels.line_of(i), f"{where}[{i}]") for i, x in enumerate(raw_levels)]
    if any(x is None for x in levels):
        return None
    for i in range(1, len(levels)):
        if levels[i] <= levels[i - 1]:
            v.error(raw_levels.line_of(i), f"{where}[{i}]", "levels must rise from one to the next, without "
                    f"repeats: {raw_levels[i]!r} comes after {raw_levels[i - 1]!r}")
            return None
    mode = v.convert(("step", "reset"), s.get("mode", "step"), s.line_of("mode"), f"{at}.mode") or "step"
    settle = v.convert("duration", s.get("settle", "0ms"), s.line_of("settle"), f"{at}.settle") or 0.0
    thresholds: dict[str, float] = {}
    raw_thresholds = s.get("threshold") or LDict()
    if not isinstance(raw_thresholds, LDict):
        v.error(s.line_of("threshold"), f"{at}.threshold", 'a mapping of action to limit: {"Logging in": 10s}')
    else:
        for action, limit in raw_thresholds.items():
            value = v.convert("duration", limit, raw_thresholds.line_of(action), f"{at}.threshold.{action}")
            if value is not None:
                thresholds[action] = value
    return Sweep(param, [float(x) for x in levels], mode, thresholds, settle)


def check_sweep_reach(v: Validator, fault: FaultSpec, attempts: int, raw: LDict, where: str = "fault") -> None:
    """Each during attempt waits at least one whole delay: levels the fault cannot be held for are
    refused before anything runs (mode step holds one fault over every level; reset one per level)."""
    sweep = fault.sweep
    assert sweep is not None
    if DRIVERS[fault.driver].kinds[fault.kind][sweep.param].kind != "duration":
        return
    needed = attempts * (sum(sweep.levels) if sweep.mode == "step" else max(sweep.levels))
    if needed > fault.max_duration_s:
        v.error(raw.line_of("sweep"), f"{where}.sweep", f"the levels need the fault for at least {needed:g}s "
                f"({attempts} during attempts × {'the sum of the levels' if sweep.mode == 'step' else 'the largest'})"
                f", beyond max_duration ({fault.max_duration_s:g}s): raise {where}.max_duration or use fewer levels")


PHASE_ORDERS = ("sequential", "alternating")


def validate_order(v: Validator, raw: Any, fault: FaultSpec | None, phases: dict[str, Phase]) -> str:
    """`phases: {order: alternating}`: only for one user and a fault that toggles in milliseconds
    (its inject and revert run between every two attempts), and not for a sweep."""
    if not isinstance(raw, LDict) or "order" not in raw:
        return "sequential"
    line, where = raw.line_of("order"), "phases.order"
    order = raw["order"]
    if order not in PHASE_ORDERS:
        v.error(line, where, f"must be one of {', '.join(PHASE_ORDERS)}, got {order!r}")
        return "sequential"
    if order == "sequential":
        return order
    if fault is None:
        v.error(line, where, "alternating needs a fault to toggle")
    elif not all(getattr(DRIVERS.get(f.driver), "toggles_cheaply", False)
                 for f in (fault, fault.otherwise) if f is not None):
        cheap = ", ".join(name for name, d in DRIVERS.items() if d.toggles_cheaply)
        v.error(line, where, f"alternating toggles the fault between every two attempts: only for drivers whose "
                f"inject and revert take milliseconds ({cheap}), not {fault.driver}")
    elif fault.sweep is not None:
        v.error(line, where, "alternating cannot be combined with a sweep (its levels follow one another)")
    busy = [n for n in ("before", "during") if phases[n].users > 1 or phases[n].is_open]
    if busy:
        v.error(line, where, f"alternating runs one user's attempts in turn; phases.{busy[0]} has more users "
                "or an arrival rate")
    return str(order)



def faults_with_raw(fault: FaultSpec | None, raw: Any) -> list[tuple[FaultSpec, LDict, str]]:
    """The fault and its alternative, each with its YAML mapping and its place (for messages)."""
    if fault is None or not isinstance(raw, LDict):
        return []
    found = [(fault, raw, "fault")]
    if fault.otherwise is not None and isinstance(raw.get("otherwise"), LDict):
        found.append((fault.otherwise, raw["otherwise"], "fault.otherwise"))
    return found


# `journey` may be left out only by scenarios meant for the pytest plugin (the test body is the journey).

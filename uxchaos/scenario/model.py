"""Scenarios: load a YAML file, validate every part before anything runs, and report each problem
with file, line, key and what is allowed."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uxchaos.browser.capacity import local_capacity
from uxchaos.browser.endpoints import parse_endpoint
from uxchaos.errors import BadInput
from uxchaos.faults import DRIVERS, FaultSpec
from uxchaos.faults.base import REQUIRED, Sweep
from uxchaos.load.spec import LoadSpec, validate_load
from uxchaos.scenario.expect import Expectation, ExpectationError
from uxchaos.scenario.params import convert
from uxchaos.scenario.python_ref import JourneyLoadError, PythonJourney, load_python_journey
from uxchaos.scenario.steptypes import COMMON_PARAMS, STEPS
from uxchaos.util.yamlsrc import LDict, LList, Problem, load_yaml, read_source

PHASES = ("before", "during", "after")
SECRET_ENV = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


def shipped_scenarios() -> Path | None:
    """The scenarios that come with uxchaos: the repository's scenarios/ in a source checkout,
    else where a wheel installs them (pyproject.toml maps scenarios/ to the package
    `uxchaos.scenarios`, i.e. uxchaos/scenarios/ in site-packages)."""
    package = Path(__file__).resolve().parent.parent  # uxchaos/
    for candidate in (package.parent / "scenarios", package / "scenarios"):
        if candidate.is_dir():
            return candidate
    return None


class ScenarioError(BadInput):
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p.line)
        lines = [p.format(path) for p in self.problems]
        super().__init__(f"{path}: {len(lines)} problem(s):\n  " + "\n  ".join(lines))


@dataclass
class Step:
    kind: str
    args: dict[str, Any]
    line: int

    @property
    def label(self) -> str:
        return STEPS[self.kind].label(self.args)


@dataclass
class Action:
    name: str
    steps: list[Step]


DEMO_APPS = ("python", "laravel")  # the bundled demo apps: uxchaos/demo/app.py, uxchaos/demo/laravel/


@dataclass
class Target:
    base_url: str  # a URL, or "demo"
    credentials: dict[str, str] = field(default_factory=dict)
    proxy_control: str | None = None
    ignore_https_errors: bool = False  # accept any certificate of the target (a test server's self-signed one)
    app: str = "python"  # with base_url demo: which bundled app (DEMO_APPS)

    @property
    def is_demo(self) -> bool:
        return self.base_url == "demo"


# Every key a fault may have: (kind, default, what it means) — `uxchaos reference` prints this.
FAULT_FIELDS = {
    "driver": ("text", "required", "a fault driver (table above)"),
    "kind": ("text", "required", "one of the driver's kinds"),
    "target": ("text", "required", "what the driver breaks (table above)"),
    "params": ("mapping", "the kind's defaults", "the kind's parameters"),
    "max_duration": ("duration", "10m", "the fault is reverted then, whatever happens"),
    "sweep": ("mapping", "–", "the fault at several sizes in one run (see Sweeps)"),
    "otherwise": ("fault", "–", "an alternative fault with these same keys (but no otherwise of its own; its "
                  "max_duration defaults to this one's): when this fault's pre-flight fails on this host (no netem, "
                  "no image…), the run says why and uses the alternative; if both fail it stops before any fault"),
}

# Every key a phase may have: (kind, default, what it means) — `uxchaos reference` prints this.
PHASE_FIELDS = {
    "attempts": ("int", "3", "attempts per user (closed model), or journeys started in all (open model)"),
    "settle": ("duration", "0ms", "wait before the phase's first attempt"),
    "users": ("int", "1", "a closed model: this many users, each running its attempts back to back"),
    "think": ("duration", "0ms", "a closed-model user's pause between two of its attempts"),
    "arrival_rate": ("rate (2/s, 120/min, 900/h)", "–", "an open model: journeys start at this constant rate, "
                     "whether or not earlier ones have finished"),
    "max_users": ("int", "required with arrival_rate", "an open model's most users running journeys at once; an "
                  "arrival finding all of them busy waits and is counted as started late"),
}


@dataclass
class Phase:
    attempts: int  # per virtual user (closed model), or journeys in all (open model, arrival_rate given)
    settle_s: float = 0.0  # wait before the phase's first attempt
    users: int = 1  # virtual users running attempts at once, each with its own context (uxchaos/users/pool.py)
    think_s: float = 0.0  # a user's pause between two of its attempts
    arrival_rate: float | None = None  # journeys started per second (an open model); then users is max_users

    @property
    def is_open(self) -> bool:
        return self.arrival_rate is not None


@dataclass
class Scenario:
    name: str
    description: str
    path: str
    target: Target
    journey: list[Action]
    fault: FaultSpec | None
    phases: dict[str, Phase]
    expect: list[str]
    step_timeout_s: float
    secrets: set[str] = field(default_factory=set)  # values never to be written anywhere
    python_journey: PythonJourney | None = None  # `journey: {python: FILE.py:FUNCTION}`; then `journey` is []
    browsers: list[str] = field(default_factory=list)  # browser endpoints for the users (journey/endpoints.py)
    load: LoadSpec | None = None  # protocol-level users run by Locust for the whole run (uxchaos/load/)
    phase_order: str = "sequential"  # or "alternating": before and during attempts take turns (engine.py)

    def masked(self) -> dict[str, Any]:
        """The scenario as loaded, for run.json, with every secret value masked."""
        creds = {k: ("***" if v in self.secrets else v) for k, v in self.target.credentials.items()}
        return {
            "name": self.name, "description": self.description, "path": self.path,
            "target": {"base_url": self.target.base_url, "credentials": creds,
                       "proxy_control": self.target.proxy_control,
                       "ignore_https_errors": self.target.ignore_https_errors,
                       **({"app": self.target.app} if self.target.is_demo else {})},
            "journey": [{"action": a.name, "steps": [{"kind": s.kind, "label": s.label} for s in a.steps]}
                        for a in self.journey],
            "python_journey": self.python_journey.ref if self.python_journey else None,
            "fault": None if self.fault is None else fault_record(self.fault),
            "phases": {k: {"attempts": p.attempts, "settle_s": p.settle_s, "users": p.users, "think_s": p.think_s,
                           "arrival_rate": p.arrival_rate} for k, p in self.phases.items()},
            "phase_order": self.phase_order,
            "expect": self.expect,
            "step_timeout_s": self.step_timeout_s,
            "browsers": self.browsers,
            "load": self.load.record() if self.load else None,
        }


def fault_record(fault: FaultSpec) -> dict[str, Any]:
    """A fault (and its alternative) as JSON for run.json."""
    return {
        "driver": fault.driver, "kind": fault.kind, "target": fault.target,
        "params": fault.params, "max_duration_s": fault.max_duration_s,
        "sweep": None if fault.sweep is None else {
            "param": fault.sweep.param, "levels": fault.sweep.levels, "mode": fault.sweep.mode,
            "thresholds": fault.sweep.thresholds, "settle_s": fault.sweep.settle_s,
            "unit": "s" if DRIVERS[fault.driver].kinds[fault.kind][fault.sweep.param].kind == "duration" else ""},
        **({"otherwise": fault_record(fault.otherwise)} if fault.otherwise is not None else {}),
    }


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(line, where, message))

    def mapping(self, value: Any, line: int, where: str, allowed: dict[str, bool]) -> LDict | None:
        """Check a mapping's keys: `allowed` maps key -> required."""
        if not isinstance(value, LDict):
            self.error(line, where, f"must be a mapping with keys {', '.join(allowed)}; got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(value.line_of(key), _join(where, key), f"unknown key {key!r}{_did_you_mean(key, allowed)}"
                           f"; allowed: {', '.join(allowed)}")
        for key, required in allowed.items():
            if required and key not in value:
                self.error(value.line, where, f"missing required key {key!r}")
        return value

    def convert(self, kind: Any, value: Any, line: int, where: str) -> Any:
        try:
            return convert(kind, value)
        except ValueError as e:
            self.error(line, where, str(e))
            return None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}" if value is not None else "nothing"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate_step(v: _Validator, raw: Any, line: int, where: str) -> Step | None:
    if not isinstance(raw, LDict) or not raw:
        v.error(line, where, f"a step is a mapping such as '- goto: /login'; allowed steps: {', '.join(STEPS)}")
        return None
    kinds = [k for k in raw if k in STEPS]
    if len(kinds) != 1:
        first = next(iter(raw))
        if not kinds:
            v.error(raw.line_of(first), _join(where, first),
                    f"unknown step {first!r}{_did_you_mean(first, STEPS)}; allowed steps: {', '.join(STEPS)}")
        else:
            v.error(raw.line, where, f"one step per list item, found {', '.join(kinds)}")
        return None
    kind = kinds[0]
    st = STEPS[kind]
    main = raw[kind]
    args_raw: dict[str, tuple[Any, int]] = {}
    if isinstance(main, LDict):
        args_raw.update({k: (main[k], main.line_of(k)) for k in main})
    elif st.primary is not None and main is not None:
        args_raw[st.primary] = (main, raw.line_of(kind))
    args_raw.update({k: (raw[k], raw.line_of(k)) for k in raw if k != kind})
    allowed = {**st.params, **COMMON_PARAMS}
    args: dict[str, Any] = {}
    for key, (value, key_line) in args_raw.items():
        if key not in allowed:
            v.error(key_line, _join(where, key),
                    f"unknown parameter {key!r} for {kind}{_did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
            continue
        converted = v.convert(allowed[key], value, key_line, _join(where, key))
        if converted is not None:
            if isinstance(converted, str) and not converted and key in ("selector", "url"):
                v.error(key_line, _join(where, key), f"{key} must not be empty")
            args[key] = converted
    for key in st.required:
        if key not in args_raw:
            hint = f" (write '- {kind}: ...')" if key == st.primary else ""
            v.error(raw.line_of(kind), _join(where, kind), f"{kind} needs {key!r}{hint}")
    if st.check is not None and not any(p.where.startswith(where) for p in v.problems):
        message = st.check(args)
        if message:
            v.error(raw.line_of(kind), _join(where, kind), message)
    return Step(kind, args, raw.line_of(kind))


def _validate_python_journey(v: _Validator, raw: LDict, line: int, base_dir: Path) -> PythonJourney | None:
    item = v.mapping(raw, line, "journey", {"python": True})
    if item is None or "python" not in item:
        return None
    try:
        return load_python_journey(str(item["python"]), base_dir)
    except JourneyLoadError as e:
        v.error(item.line_of("python"), "journey.python", str(e))
        return None


def _validate_journey(v: _Validator, raw: Any, line: int) -> list[Action]:
    if not isinstance(raw, LList) or not raw:
        v.error(line, "journey", "must be a non-empty list of actions, each '- action: NAME' with 'steps:', "
                "or {python: FILE.py:FUNCTION}")
        return []
    actions, seen = [], set()
    for i, item in enumerate(raw):
        where = f"journey[{i}]"
        item = v.mapping(item, raw.line_of(i), where, {"action": True, "steps": True})
        if item is None or "action" not in item or "steps" not in item:
            continue
        name = str(item["action"])
        if name in seen:
            v.error(item.line_of("action"), f"{where}.action", f"duplicate action name {name!r}")
        seen.add(name)
        steps_raw = item["steps"]
        if not isinstance(steps_raw, LList) or not steps_raw:
            v.error(item.line_of("steps"), f"{where}.steps", "must be a non-empty list of steps")
            continue
        steps = [_validate_step(v, s, steps_raw.line_of(j), f"{where}.steps[{j}]") for j, s in enumerate(steps_raw)]
        actions.append(Action(name, [s for s in steps if s is not None]))
    return actions


def _validate_fault(v: _Validator, raw: Any, line: int, where: str = "fault",
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
        otherwise = _validate_fault(v, f["otherwise"], f.line_of("otherwise"), "fault.otherwise",
                                    _quiet_duration(own_max))
    if not all(k in f for k in ("driver", "kind", "target")):
        return None
    driver_name = v.convert("text", f["driver"], f.line_of("driver"), f"{where}.driver")
    kind = v.convert("text", f["kind"], f.line_of("kind"), f"{where}.kind")
    if driver_name is None or kind is None:
        return None
    if driver_name not in DRIVERS:
        v.error(f.line_of("driver"), f"{where}.driver", f"unknown driver {driver_name!r}"
                f"{_did_you_mean(str(driver_name), DRIVERS)}; allowed: {', '.join(DRIVERS)}")
        return None
    driver = DRIVERS[driver_name]
    if kind not in driver.kinds:
        v.error(f.line_of("kind"), f"{where}.kind", f"driver {driver_name} has no fault kind {kind!r}"
                f"{_did_you_mean(str(kind), driver.kinds)}; allowed: {', '.join(driver.kinds)}")
        return None
    target = v.convert("text", f["target"], f.line_of("target"), f"{where}.target")
    if target is not None:
        if not target.strip():
            v.error(f.line_of("target"), f"{where}.target", f"must not be empty: {driver.target_help}")
        elif (message := driver.validate_target(target)) is not None:
            v.error(f.line_of("target"), f"{where}.target", message)
    schema = driver.kinds[kind]
    sweep = _validate_sweep(v, f["sweep"], f.line_of("sweep"), driver_name, kind, schema, f"{where}.sweep") \
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


def _quiet_duration(value: Any) -> float:
    """A duration whose errors are reported elsewhere (the first fault's max_duration): 10m if bad."""
    try:
        return float(convert("duration", value))
    except ValueError:
        return 600.0


NUMERIC_KINDS = ("duration", "float", "probability", "int")


def _validate_sweep(v: _Validator, raw: Any, line: int, driver: str, kind: str,
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


def _check_sweep_reach(v: _Validator, fault: FaultSpec, attempts: int, raw: LDict, where: str = "fault") -> None:
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


def _validate_order(v: _Validator, raw: Any, fault: FaultSpec | None, phases: dict[str, Phase]) -> str:
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


def _validate_phases(v: _Validator, raw: Any, line: int) -> dict[str, Phase]:
    phases = {name: Phase(attempts=3) for name in PHASES}
    if raw is None:
        return phases
    p = v.mapping(raw, line, "phases", {**{name: False for name in PHASES}, "order": False})
    if p is None:
        return phases
    for name in PHASES:
        if name not in p:
            continue
        item = v.mapping(p[name], p.line_of(name), f"phases.{name}", {key: False for key in PHASE_FIELDS})
        if item is None:
            continue
        attempts = v.convert("int", item.get("attempts", 3), item.line_of("attempts"), f"phases.{name}.attempts")
        if attempts is not None and not 1 <= attempts <= 10_000:
            v.error(item.line_of("attempts"), f"phases.{name}.attempts", "must be from 1 to 10000")
        settle = v.convert("duration", item.get("settle", "0ms"), item.line_of("settle"), f"phases.{name}.settle")
        think = v.convert("duration", item.get("think", "0ms"), item.line_of("think"), f"phases.{name}.think")
        if "arrival_rate" in item or "max_users" in item:
            rate, users = _validate_open_model(v, item, f"phases.{name}")
            phases[name] = Phase(attempts or 1, settle or 0.0, users or 1, 0.0, rate)
            continue
        users = _validate_users(v, item, f"phases.{name}.users") if "users" in item else 1
        if attempts is not None and users and attempts * users > 100_000:
            v.error(item.line_of("users"), f"phases.{name}", f"{users} users × {attempts} attempts = "
                    f"{users * attempts} samples in one phase; at most 100000")
        phases[name] = Phase(attempts or 1, settle or 0.0, users or 1, think or 0.0)
    return phases


MAX_ARRIVAL_RATE = 100.0  # journeys per second; beyond it a rate is a typo (each journey is a browser context)


def _validate_open_model(v: _Validator, item: LDict, where: str) -> tuple[float | None, int | None]:
    """`arrival_rate: 2/s, max_users: 8`: journeys start at a constant rate on at most max_users users."""
    if "users" in item:
        v.error(item.line_of("users"), f"{where}.users", "users (a closed model: N users, attempts back to back) "
                "and arrival_rate (an open model: journeys start at a rate) do not go together; an open model "
                "caps its users with max_users")
    if "think" in item:
        v.error(item.line_of("think"), f"{where}.think", "think is the pause between a closed-model user's attempts; "
                "an open model (arrival_rate) starts each journey on its schedule")
    if "arrival_rate" not in item:
        v.error(item.line_of("max_users"), f"{where}.max_users", "max_users caps an open model: give arrival_rate "
                "too (e.g. arrival_rate: 2/s), or use users for a closed model")
        return None, None
    rate = v.convert("rate", item["arrival_rate"], item.line_of("arrival_rate"), f"{where}.arrival_rate")
    if rate is not None and rate > MAX_ARRIVAL_RATE:
        v.error(item.line_of("arrival_rate"), f"{where}.arrival_rate", f"{rate:g} journeys per second is more than "
                f"uxchaos starts (at most {MAX_ARRIVAL_RATE:g}/s)")
        rate = None
    if "max_users" not in item:
        v.error(item.line_of("arrival_rate"), where, "arrival_rate needs max_users: the most users (each with its "
                "own browser context) running journeys at once, e.g. {arrival_rate: 2/s, max_users: 8, attempts: 40}")
        return rate, None
    return rate, _validate_users(v, item, f"{where}.max_users", key="max_users")


def _validate_browsers(v: _Validator, raw: Any, line: int) -> list[str]:
    """`browsers: [ws://10.0.0.5:3000/uxchaos, cdp+http://127.0.0.1:9222]`: where the users' browsers are."""
    if not isinstance(raw, LList) or not raw:
        v.error(line, "browsers", "a non-empty list of browser endpoints: ws://HOST:PORT/PATH (a Playwright "
                "browser server such as `uxchaos browser serve`), cdp+http://HOST:PORT, or local")
        return []
    urls = []
    for i, item in enumerate(raw):
        try:
            urls.append(parse_endpoint(str(item)).url)
        except BadInput as e:
            v.error(raw.line_of(i), f"browsers[{i}]", str(e))
    return urls


MAX_USERS = 1000  # beyond this a number of users is a typo, wherever the browsers live


def _validate_users(v: _Validator, item: LDict, where: str, key: str = "users") -> int | None:
    """`users: 8` (or `max_users: 8`): a whole number from 1 to MAX_USERS. Whether this machine's own
    browsers can take that many is checked before the run (users.check_capacity), since remote
    browsers may carry them."""
    line = item.line_of(key)
    users = v.convert("int", item[key], line, where)
    if users is None:
        return None
    if users < 1:
        v.error(line, where, f"must be at least 1 (got {users}); one user runs the attempts one after another")
        return None
    if users > MAX_USERS:
        v.error(line, where, f"{users} users is more than uxchaos runs in one phase (at most {MAX_USERS}); "
                f"{local_capacity().explain()}")
        return None
    return users


def _faults_with_raw(fault: FaultSpec | None, raw: Any) -> list[tuple[FaultSpec, LDict, str]]:
    """The fault and its alternative, each with its YAML mapping and its place (for messages)."""
    if fault is None or not isinstance(raw, LDict):
        return []
    found = [(fault, raw, "fault")]
    if fault.otherwise is not None and isinstance(raw.get("otherwise"), LDict):
        found.append((fault.otherwise, raw["otherwise"], "fault.otherwise"))
    return found


# `journey` may be left out only by scenarios meant for the pytest plugin (the test body is the journey).
TOP_LEVEL = {"name": True, "description": False, "target": True, "journey": False, "fault": False,
             "phases": False, "expect": False, "step_timeout": False, "browsers": False,
             "load": False}


def parse_scenario(text: str, path: str, env: dict[str, str] | None = None) -> Scenario:
    data, problems, env_used = load_yaml(text, env)
    v = _Validator()
    v.problems.extend(problems)
    if data is None:
        raise ScenarioError(path, v.problems)
    doc = v.mapping(data, getattr(data, "line", 1), "", TOP_LEVEL)
    if doc is None:
        raise ScenarioError(path, v.problems)
    name = v.convert("text", doc.get("name", ""), doc.line_of("name"), "name") or ""
    if name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        v.error(doc.line_of("name"), "name", "use letters, digits, '-', '_' and '.' only (it names the report folder)")
    target = Target(base_url="")
    secrets: set[str] = set()
    t = v.mapping(doc.get("target"), doc.line_of("target"), "target",
                  {"base_url": True, "credentials": False, "secrets": False, "proxy_control": False,
                   "ignore_https_errors": False, "app": False})
    if t is not None:
        base_url = v.convert("text", t.get("base_url", ""), t.line_of("base_url"), "target.base_url") or ""
        if base_url and base_url != "demo" and not re.match(r"https?://", base_url):
            v.error(t.line_of("base_url"), "target.base_url", f"must be 'demo' or an http(s):// URL, got {base_url!r}")
        creds = t.get("credentials") or LDict()
        if not isinstance(creds, LDict):
            v.error(t.line_of("credentials"), "target.credentials", "must be a mapping of names to values")
            creds = LDict()
        insecure = v.convert("bool", t.get("ignore_https_errors", False), t.line_of("ignore_https_errors"),
                             "target.ignore_https_errors")
        app = v.convert("text", t.get("app", "python"), t.line_of("app"), "target.app") or "python"
        if app not in DEMO_APPS:
            v.error(t.line_of("app"), "target.app", f"must be one of {', '.join(DEMO_APPS)}, got {app!r}")
        elif "app" in t and base_url != "demo":
            v.error(t.line_of("app"), "target.app", "only with base_url: demo (it picks the bundled app to start)")
        target = Target(base_url, {k: str(val) for k, val in creds.items()}, t.get("proxy_control"), bool(insecure),
                        app)
        marked = t.get("secrets") or LList()
        if not isinstance(marked, LList) or not all(isinstance(m, str) for m in marked):
            v.error(t.line_of("secrets"), "target.secrets", "must be a list of credential names, e.g. [api_key]")
            marked = LList()
        for name in marked:
            if name not in target.credentials:
                v.error(t.line_of("secrets"), "target.secrets", f"{name!r} is not a credential; credentials: "
                        f"{', '.join(target.credentials) or 'none'}")
        for key, value in target.credentials.items():
            if key in marked or re.search(r"password|token|secret", key, re.IGNORECASE):
                secrets.add(value)
    python_journey = None
    journey: list[Action]
    is_python = isinstance(doc.get("journey"), LDict) or "journey" not in doc  # action names known at run time
    if "journey" not in doc:
        journey = []
    elif is_python:
        python_journey = _validate_python_journey(v, doc["journey"], doc.line_of("journey"), Path(path).parent)
        journey = []
    else:
        journey = _validate_journey(v, doc.get("journey"), doc.line_of("journey"))
    fault = _validate_fault(v, doc["fault"], doc.line_of("fault")) if doc.get("fault") is not None else None
    phases = _validate_phases(v, doc.get("phases"), doc.line_of("phases"))
    order = _validate_order(v, doc.get("phases"), fault, phases)
    for spec, raw_fault, where in _faults_with_raw(fault, doc.get("fault")):
        if spec.sweep is None:
            continue
        _check_sweep_reach(v, spec, phases["during"].attempts, raw_fault, where)
        for action in spec.sweep.thresholds:
            if journey and action not in [a.name for a in journey]:
                v.error(raw_fault.line_of("sweep"), f"{where}.sweep.threshold.{action}",
                        f"no action named {action!r}; actions: {', '.join(a.name for a in journey)}")
    expect_raw = doc.get("expect") or LList()
    if not isinstance(expect_raw, LList) or not all(isinstance(e, str) for e in expect_raw):
        v.error(doc.line_of("expect"), "expect", "must be a list of expressions such as 'during.failures == 0'")
        expect_raw = LList()
    for i, text in enumerate(expect_raw):
        try:
            # A Python journey's actions are only known when it runs: names are checked in the analysis.
            Expectation.parse(text, None if is_python else [a.name for a in journey])
        except ExpectationError as e:
            v.error(expect_raw.line_of(i), f"expect[{i}]", str(e))
    step_timeout = v.convert("duration", doc.get("step_timeout", "60s"), doc.line_of("step_timeout"), "step_timeout")
    browsers = _validate_browsers(v, doc["browsers"], doc.line_of("browsers")) if "browsers" in doc else []
    load = validate_load(v, doc["load"], doc.line_of("load"), Path(path).parent) if "load" in doc else None
    if load is None and fault is not None and "load" in (fault.driver, fault.otherwise and fault.otherwise.driver):
        v.error(doc.line_of("fault"), "fault", "a load surge steps up the scenario's Locust users: add a load: block "
                "(e.g. load: {users: 10, requests: [{get: /login}]})")
    if v.problems:
        raise ScenarioError(path, v.problems)
    import os

    environ = os.environ if env is None else env
    secrets |= {environ[n] for n in env_used if SECRET_ENV.search(n) and environ.get(n)}
    return Scenario(name, str(doc.get("description", "")), path, target, journey, fault, phases,
                    list(expect_raw), step_timeout or 60.0, {s for s in secrets if s}, python_journey, browsers, load,
                    order)


def load_scenario(path: str | Path, env: dict[str, str] | None = None) -> Scenario:
    p = Path(path)
    try:
        text = read_source(p)
    except OSError as e:
        raise BadInput(f"cannot read scenario {p}: {e.strerror}") from None
    if isinstance(text, Problem):  # not UTF-8, or far too big
        raise ScenarioError(str(p), [text])
    return parse_scenario(text, str(p), env)


def scenario_dirs() -> list[Path]:
    """Where scenario names are looked up: ./scenarios, then the project's own scenarios/."""
    shipped = shipped_scenarios()
    dirs = [Path.cwd() / "scenarios", *([shipped] if shipped else [])]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def find_scenario(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise BadInput(f"scenario file {p} does not exist")
        return p
    for d in scenario_dirs():
        for suffix in (".yaml", ".yml"):
            candidate = d / f"{name_or_path}{suffix}"
            if candidate.exists():
                return candidate
    known = sorted({f.stem for d in scenario_dirs() for f in d.glob("*.y*ml")})
    raise BadInput(f"no scenario named {name_or_path!r}{_did_you_mean(name_or_path, known)}; "
                   f"known: {', '.join(known) or 'none'} (looked in {', '.join(map(str, scenario_dirs()))})")

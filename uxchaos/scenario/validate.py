"""Validating a scenario's parts, each problem with its line, key and what is allowed: steps and
journeys, phases and their users, open-model arrivals, browser endpoints."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from uxchaos.browser.capacity import local_capacity
from uxchaos.browser.endpoints import parse_endpoint
from uxchaos.errors import BadInput
from uxchaos.scenario.model import PHASE_FIELDS, PHASES, Action, Phase, Step
from uxchaos.scenario.params import convert
from uxchaos.scenario.python_ref import JourneyLoadError, PythonJourney, load_python_journey
from uxchaos.scenario.steptypes import COMMON_PARAMS, STEPS
from uxchaos.util.yamlsrc import LDict, LList, Problem


class Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(line, where, message))

    def mapping(self, value: Any, line: int, where: str, allowed: dict[str, bool]) -> LDict | None:
        """Check a mapping's keys: `allowed` maps key -> required."""
        if not isinstance(value, LDict):
            self.error(line, where, f"must be a mapping with keys {', '.join(allowed)}; got {type_name(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(value.line_of(key), key_path(where, key), f"unknown key {key!r}{did_you_mean(key, allowed)}"
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


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}" if value is not None else "nothing"


def key_path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate_step(v: Validator, raw: Any, line: int, where: str) -> Step | None:
    if not isinstance(raw, LDict) or not raw:
        v.error(line, where, f"a step is a mapping such as '- goto: /login'; allowed steps: {', '.join(STEPS)}")
        return None
    kinds = [k for k in raw if k in STEPS]
    if len(kinds) != 1:
        first = next(iter(raw))
        if not kinds:
            v.error(raw.line_of(first), key_path(where, first),
                    f"unknown step {first!r}{did_you_mean(first, STEPS)}; allowed steps: {', '.join(STEPS)}")
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
            v.error(key_line, key_path(where, key),
                    f"unknown parameter {key!r} for {kind}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
            continue
        converted = v.convert(allowed[key], value, key_line, key_path(where, key))
        if converted is not None:
            if isinstance(converted, str) and not converted and key in ("selector", "url"):
                v.error(key_line, key_path(where, key), f"{key} must not be empty")
            args[key] = converted
    for key in st.required:
        if key not in args_raw:
            hint = f" (write '- {kind}: ...')" if key == st.primary else ""
            v.error(raw.line_of(kind), key_path(where, kind), f"{kind} needs {key!r}{hint}")
    if st.check is not None and not any(p.where.startswith(where) for p in v.problems):
        message = st.check(args)
        if message:
            v.error(raw.line_of(kind), key_path(where, kind), message)
    return Step(kind, args, raw.line_of(kind))


def validate_python_journey(v: Validator, raw: LDict, line: int, base_dir: Path) -> PythonJourney | None:
    item = v.mapping(raw, line, "journey", {"python": True})
    if item is None or "python" not in item:
        return None
    try:
        return load_python_journey(str(item["python"]), base_dir)
    except JourneyLoadError as e:
        v.error(item.line_of("python"), "journey.python", str(e))
        return None


def validate_journey(v: Validator, raw: Any, line: int) -> list[Action]:
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
        steps = [validate_step(v, s, steps_raw.line_of(j), f"{where}.steps[{j}]") for j, s in enumerate(steps_raw)]
        actions.append(Action(name, [s for s in steps if s is not None]))
    return actions



def validate_phases(v: Validator, raw: Any, line: int) -> dict[str, Phase]:
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
            rate, users = validate_open_model(v, item, f"phases.{name}")
            phases[name] = Phase(attempts or 1, settle or 0.0, users or 1, 0.0, rate)
            continue
        users = validate_users(v, item, f"phases.{name}.users") if "users" in item else 1
        if attempts is not None and users and attempts * users > 100_000:
            v.error(item.line_of("users"), f"phases.{name}", f"{users} users × {attempts} attempts = "
                    f"{users * attempts} samples in one phase; at most 100000")
        phases[name] = Phase(attempts or 1, settle or 0.0, users or 1, think or 0.0)
    return phases


MAX_ARRIVAL_RATE = 100.0  # journeys per second; beyond it a rate is a typo (each journey is a browser context)


def validate_open_model(v: Validator, item: LDict, where: str) -> tuple[float | None, int | None]:
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
    return rate, validate_users(v, item, f"{where}.max_users", key="max_users")


def validate_browsers(v: Validator, raw: Any, line: int) -> list[str]:
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


def validate_users(v: Validator, item: LDict, where: str, key: str = "users") -> int | None:
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

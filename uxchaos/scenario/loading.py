"""Loading a scenario: read the YAML (with ${ENV} expanded), validate every part before anything
runs, and build the Scenario — or raise ScenarioError with every problem found."""

from __future__ import annotations

import re
from pathlib import Path

from uxchaos.errors import BadInput
from uxchaos.load.spec import validate_load
from uxchaos.scenario.expect import Expectation, ExpectationError
from uxchaos.scenario.faultcheck import check_sweep_reach, faults_with_raw, validate_fault, validate_order
from uxchaos.scenario.model import DEMO_APPS, SECRET_ENV, Action, Scenario, ScenarioError, Target
from uxchaos.scenario.validate import (
    Validator,
    validate_browsers,
    validate_journey,
    validate_phases,
    validate_python_journey,
)
from uxchaos.util.yamlsrc import LDict, LList, Problem, load_yaml, read_source

TOP_LEVEL = {"name": True, "description": False, "target": True, "journey": False, "fault": False,
             "phases": False, "expect": False, "step_timeout": False, "browsers": False,
             "load": False}


def parse_scenario(text: str, path: str, env: dict[str, str] | None = None) -> Scenario:
    data, problems, env_used = load_yaml(text, env)
    v = Validator()
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
        python_journey = validate_python_journey(v, doc["journey"], doc.line_of("journey"), Path(path).parent)
        journey = []
    else:
        journey = validate_journey(v, doc.get("journey"), doc.line_of("journey"))
    fault = validate_fault(v, doc["fault"], doc.line_of("fault")) if doc.get("fault") is not None else None
    phases = validate_phases(v, doc.get("phases"), doc.line_of("phases"))
    order = validate_order(v, doc.get("phases"), fault, phases)
    for spec, raw_fault, where in faults_with_raw(fault, doc.get("fault")):
        if spec.sweep is None:
            continue
        check_sweep_reach(v, spec, phases["during"].attempts, raw_fault, where)
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
    browsers = validate_browsers(v, doc["browsers"], doc.line_of("browsers")) if "browsers" in doc else []
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

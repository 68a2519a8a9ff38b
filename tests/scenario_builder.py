"""Scenarios built from parts, so a test states only what it is about.

`scenario_doc(...)` gives the scenario as data and `write_scenario(folder, ...)` writes it as YAML.
Every part has a default: the demo as target, the demo's login as journey (uxchaos.demo.login),
no fault, one attempt per phase. The `make_scenario` fixture (conftest) writes into the test's
tmp_path. Tests about the YAML text itself (line numbers in messages) keep their text inline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from uxchaos.demo.login import login_journey, open_action
from uxchaos.demo.stack import DemoStack

Phase = int | dict[str, Any]

# The demo's credentials as the scenarios that name them state them (`base_url: demo` fills them too).
DEMO_CREDENTIALS = {"username": "demo@example.com", "password": "demo-password"}


def phases(before: Phase = 1, during: Phase = 1, after: Phase = 1, **extra: Any) -> dict[str, Any]:
    """`phases:`: each phase as its attempts (an int) or its whole mapping ({users: 2, attempts: 3}),
    after any other key of `phases:` (order, …)."""
    return {**extra, **{name: {"attempts": p} if isinstance(p, int) else p
                        for name, p in (("before", before), ("during", during), ("after", after))}}


def scenario_doc(*, name: str = "test", target: str | dict[str, Any] = "demo",
                 journey: list[dict[str, Any]] | dict[str, Any] | None = None,
                 fault: dict[str, Any] | None = None,
                 phases: dict[str, Any] | tuple[Phase, Phase, Phase] | None = (1, 1, 1),
                 expect: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The scenario as data, its keys in this order.
    target:  a base URL, or the whole `target:` mapping (see shared_demo_target)
    journey: its actions (default: the demo login, uxchaos.demo.login.login_journey()), or {python: ...}
    fault:   the `fault:` mapping (see proxy_fault), or None for none
    phases:  (before, during, after), each an int of attempts or that phase's mapping; or the whole
             `phases:` mapping (see phases()); or None for none
    expect:  the expressions, or None
    extra:   further top-level keys (step_timeout, browsers, load, …), after the others"""
    doc: dict[str, Any] = {"name": name,
                           "target": {"base_url": target} if isinstance(target, str) else target,
                           "journey": login_journey() if journey is None else journey}
    if fault is not None:
        doc["fault"] = fault
    if phases is not None:
        doc["phases"] = _phases(*phases) if isinstance(phases, tuple) else phases
    if expect is not None:
        doc["expect"] = expect
    doc.update(extra)
    return doc


_phases = phases  # scenario_doc's parameter of that name hides the function


def scenario_yaml(name: str = "test", **parts: Any) -> str:
    """scenario_doc(name=name, **parts) as YAML text."""
    return yaml.safe_dump(scenario_doc(name=name, **parts), sort_keys=False, allow_unicode=True, width=1000)


def write_scenario(folder: Path, name: str = "test", file: str | None = None, **parts: Any) -> Path:
    """scenario_yaml(name, **parts) written as folder/<name>.yaml (or folder/<file>)."""
    path = folder / (file or f"{name}.yaml")
    path.write_text(scenario_yaml(name, **parts))
    return path


def proxy_fault(kind: str = "delay", target: str = "database", max_duration: str | None = None,
                **params: Any) -> dict[str, Any]:
    """`fault: {driver: proxy, kind, target, params}`, and `max_duration` when given:
    proxy_fault(delay="300ms"), proxy_fault("bandwidth", "site", rate="100KB")."""
    fault: dict[str, Any] = {"driver": "proxy", "kind": kind, "target": target, "params": params}
    if max_duration is not None:
        fault["max_duration"] = max_duration
    return fault


def shared_demo_target(demo_stack: DemoStack, control: str | None = None) -> dict[str, Any]:
    """The session's demo (`demo_stack`: no demo started per run) as a `target:` mapping, its proxies
    reachable on `control` (a ControlServer's address) when given."""
    info = demo_stack.info
    assert info is not None
    target: dict[str, Any] = {"base_url": info.base_url}
    if control:
        target["proxy_control"] = control
    target["credentials"] = {"username": info.email, "password": info.password}
    return target


def opening_then_sleep(sleep: str = "1s") -> list[dict[str, Any]]:
    """A journey that holds its user: one action "Opening the login page", goto /login, then sleep."""
    opening = open_action()
    opening["steps"].append({"sleep": sleep})
    return [opening]


def action(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    """One journey action: action("A", {"goto": "/"}, {"sleep": "1s"})."""
    return {"action": name, "steps": list(steps)}

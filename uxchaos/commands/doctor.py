"""`uxchaos doctor`: the pre-flight checks, each saying what is wrong and how to fix it.

The checks belong to the drivers (`FaultDriver.host_checks` / `checks`): the doctor only runs
them, so it never needs to know which driver uses Docker or which kinds need netem. The same
checks run before every `uxchaos run`."""

from __future__ import annotations

from typing import TextIO

from uxchaos.errors import ExitStatus, UxchaosError
from uxchaos.faults.base import Check


def _run(check: Check, out: TextIO) -> str:
    """Run one check and show it: passed, warned (a check that is not required failed) or failed."""
    try:
        detail = check.run()
    except UxchaosError as e:
        print(f"{'✗' if check.required else '!'} {check.name}: {e}", file=out)
        return "failed" if check.required else "warned"
    print(f"✓ {check.name}: {detail}", file=out)
    return "passed"


def _unique(checks: list[Check]) -> list[Check]:
    """Several drivers need the same thing (the Docker daemon): check it once, required if any
    driver requires it."""
    by_name: dict[str, Check] = {}
    for check in checks:
        seen = by_name.get(check.name)
        if seen is None or (check.required and not seen.required):
            by_name[check.name] = check
    return list(by_name.values())


def doctor(scenario_name: str | None, force: bool, out: TextIO) -> int:
    from uxchaos.browser.launch import check_browser

    checks = [Check("browser", check_browser)]
    if scenario_name:
        checks += scenario_checks(scenario_name, force)
    else:  # what the host offers each driver, as information: no scenario says what is needed
        from uxchaos.faults import DRIVERS

        checks += [Check(c.name, c.run, required=False) for cls in DRIVERS.values() for c in cls.host_checks()]
    checks = _unique(checks)
    results = {check.name: _run(check, out) for check in checks}
    print(summary(results), file=out)
    warned = [name for name, result in results.items() if result == "warned"]
    if warned and not scenario_name:
        for line in which_scenarios_need(warned):
            print(f"  {line}", file=out)
    return int(ExitStatus.ENVIRONMENT if "failed" in results.values() else ExitStatus.OK)


def summary(results: dict[str, str]) -> str:
    """"5 checks: 3 passed, 1 warned, 1 failed — …" and what that means for running."""
    counts = {kind: sum(1 for r in results.values() if r == kind) for kind in ("passed", "warned", "failed")}
    head = f"{len(results)} checks: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    if counts["failed"]:
        failed = ", ".join(name for name, r in results.items() if r == "failed")
        return f"{head} — fix {failed} before running"
    if counts["warned"]:
        return f"{head} — the required checks passed; a warning matters only to the scenarios that need it"
    return f"{head} — all passed"


def which_scenarios_need(warned: list[str]) -> list[str]:
    """For each warned host check, the scenarios found (`uxchaos list`) whose fault needs it — so
    "Cannot connect to the Docker daemon" is known to be harmless for a proxy scenario."""
    from uxchaos.faults import create_driver
    from uxchaos.run.target import planned_runtime
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import scenario_dirs

    needs: dict[str, list[str]] = {name: [] for name in warned}
    unaffected: list[str] = []
    for folder in scenario_dirs():
        for path in sorted(folder.glob("*.y*ml")):
            try:
                scenario = load_scenario(path)
            except UxchaosError:  # `uxchaos validate` is where a broken file is reported
                continue
            names: set[str] = set()
            spec = scenario.fault
            while spec is not None:  # a fault and its `otherwise` alternative
                names |= {c.name for c in create_driver(spec, planned_runtime(scenario)).checks()}
                spec = spec.otherwise
            hit = [name for name in warned if name in names]
            for name in hit:
                needs[name].append(scenario.name)
            if not hit:
                unaffected.append(scenario.name)
    lines = [f"{name} matters for: {', '.join(users)}" if users else f"{name} matters for none of the scenarios found"
             for name, users in needs.items()]
    if unaffected:
        lines.append(f"needing none of the warned checks: {', '.join(unaffected)}")
    return lines


def scenario_checks(scenario_name: str, force: bool) -> list[Check]:
    from uxchaos.faults import DriverOptions, FaultSpec, create_driver
    from uxchaos.faults.choice import choose, label
    from uxchaos.run.target import check_app_healthy, planned_runtime
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import find_scenario

    scenario = load_scenario(find_scenario(scenario_name))
    runtime = planned_runtime(scenario)
    checks: list[Check] = []
    options = DriverOptions(force=force)
    if scenario.fault is not None and scenario.fault.otherwise is not None:
        # Each alternative's checks as information; what must pass is that one of them can be applied.
        fault: FaultSpec = scenario.fault
        for spec in (fault, scenario.fault.otherwise):
            checks += [Check(f"{c.name} ({label(spec)})", c.run, required=False)
                       for c in create_driver(spec, runtime, options).checks()]
        checks.append(Check("fault choice", lambda: choose(fault, runtime, options).reason()))
    elif scenario.fault is not None:
        checks += create_driver(scenario.fault, runtime, options).checks()
    if scenario.target.is_demo and scenario.target.app == "laravel":
        from uxchaos.demo.laravel_stack import laravel_check

        checks.append(Check("Laravel demo", laravel_check))
    if not runtime.pending:
        def app() -> str:
            url = runtime.probe_url or runtime.base_url
            check_app_healthy(url, timeout_s=10)
            return f"{url} answers without a server error"

        checks.append(Check("app healthy", app))
    return checks

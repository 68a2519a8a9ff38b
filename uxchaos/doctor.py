"""`uxchaos doctor`: the pre-flight checks, each saying what is wrong and how to fix it.

The checks belong to the drivers (`FaultDriver.host_checks` / `checks`): the doctor only runs
them, so it never needs to know which driver uses Docker or which kinds need netem. The same
checks run before every `uxchaos run`."""

from __future__ import annotations

from typing import TextIO

from uxchaos.errors import ExitStatus, UxchaosError
from uxchaos.faults.base import Check


def _run(check: Check, out: TextIO) -> bool:
    try:
        detail = check.run()
    except UxchaosError as e:
        print(f"{'✗' if check.required else '!'} {check.name}: {e}", file=out)
        return not check.required
    print(f"✓ {check.name}: {detail}", file=out)
    return True


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
    from uxchaos.browser import find_browser

    checks = [Check("browser", find_browser)]
    if scenario_name:
        checks += scenario_checks(scenario_name, force)
    else:  # what the host offers each driver, as information: no scenario says what is needed
        from uxchaos.faults import DRIVERS

        checks += [Check(c.name, c.run, required=False) for cls in DRIVERS.values() for c in cls.host_checks()]
    ok = all([_run(check, out) for check in _unique(checks)])
    print("all checks passed" if ok else "some checks failed: fix them before running", file=out)
    return int(ExitStatus.OK if ok else ExitStatus.ENVIRONMENT)


def scenario_checks(scenario_name: str, force: bool) -> list[Check]:
    from uxchaos.faults import DriverOptions, FaultSpec, create_driver
    from uxchaos.faults.choice import choose, label
    from uxchaos.scenario import find_scenario, load_scenario
    from uxchaos.target import check_app_healthy, planned_runtime

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

"""`uxchaos doctor`: the pre-flight checks, each saying what is wrong and how to fix it.
The same checks run before every `uxchaos run` (in the driver's preflight and the target check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from uxchaos.errors import ExitStatus, UxchaosError


def _check(name: str, fn: Callable[[], str], out: TextIO, required: bool = True) -> bool:
    try:
        detail = fn()
    except UxchaosError as e:
        mark = "✗" if required else "!"
        print(f"{mark} {name}: {e}", file=out)
        return not required
    print(f"✓ {name}: {detail}", file=out)
    return True


def doctor(scenario_name: str | None, force: bool, out: TextIO) -> int:
    from uxchaos.browser import find_browser
    from uxchaos.containers import docker_client, docker_host, netem_supported
    from uxchaos.errors import EnvironmentProblem

    def docker_check() -> str:
        client = docker_client()
        swarm = client.info()["Swarm"]["LocalNodeState"]
        return f"{docker_host()} answers (Docker {client.version()['Version']}, swarm {swarm})"

    def netem_check() -> str:
        ok, why = netem_supported()
        if not ok:
            raise EnvironmentProblem(why)
        return why

    ok = _check("browser", find_browser, out)
    scenario = None
    if scenario_name:
        from uxchaos.scenario import find_scenario, load_scenario

        scenario = load_scenario(find_scenario(scenario_name))
    needs_docker = scenario is None or (scenario.fault is not None and scenario.fault.driver in ("docker", "pumba"))
    if needs_docker:
        ok &= _check("docker daemon", docker_check, out)
    netem_needed = bool(scenario and scenario.fault and scenario.fault.kind in ("delay", "loss", "rate", "duplicate",
                                                                                  "corrupt")
                        and scenario.fault.driver in ("docker", "pumba"))
    ok &= _check("netem (kernel)", netem_check, out, required=netem_needed)
    if scenario is not None:
        ok &= _scenario_checks(scenario, force, out)
    print("all checks passed" if ok else "some checks failed: fix them before running", file=out)
    return int(ExitStatus.OK if ok else ExitStatus.ENVIRONMENT)


def _scenario_checks(scenario: object, force: bool, out: TextIO) -> bool:
    from uxchaos.faults import TargetRuntime, create_driver
    from uxchaos.scenario import Scenario
    from uxchaos.target import check_app_healthy, first_url

    assert isinstance(scenario, Scenario)
    ok = True
    if scenario.fault is not None and scenario.fault.driver in ("docker", "pumba"):
        driver = create_driver(scenario.fault, TargetRuntime(base_url=scenario.target.base_url,
                                                             extra={"force": force}))

        def targets_and_images() -> str:
            driver.preflight()
            return "targets: " + ", ".join(c.name for c in getattr(driver, "targets", []))

        ok &= _check("fault target and images", targets_and_images, out)
    if not scenario.target.is_demo:
        def app() -> str:
            url = first_url(scenario, scenario.target.base_url)
            check_app_healthy(url, timeout_s=10)
            return f"{url} answers without a server error"

        ok &= _check("app healthy", app, out)
    return ok

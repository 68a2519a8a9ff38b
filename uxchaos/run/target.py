"""Bringing up the target a scenario points at: the bundled demo, or the user's own URL —
plus the pre-flight check that the app answers at all."""

from __future__ import annotations

import contextlib
import http.client
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from uxchaos.errors import EnvironmentProblem
from uxchaos.faults import SupervisedProcess, TargetRuntime
from uxchaos.faults.ledger import Ledger
from uxchaos.scenario.model import Scenario
from uxchaos.util import httpget

if TYPE_CHECKING:
    from uxchaos.demo.laravel_stack import LaravelStack
    from uxchaos.demo.stack import DemoStack


def _demo_stack(app: str) -> DemoStack | LaravelStack:
    if app == "laravel":
        from uxchaos.demo.laravel_stack import LaravelStack

        return LaravelStack()
    from uxchaos.demo.stack import DemoStack

    return DemoStack()


@contextlib.contextmanager
def running_target(
    scenario: Scenario, base_url_override: str | None = None, ledger: Ledger | None = None
) -> Iterator[tuple[TargetRuntime, dict[str, str]]]:
    """Yield (runtime, variables for steps). Starts and always stops the demo when asked for."""
    variables = dict(scenario.target.credentials)
    if scenario.target.is_demo and not base_url_override:
        from uxchaos.demo.db import demo_start_errors

        start_errors = demo_start_errors()
        stack = _demo_stack(scenario.target.app)
        try:
            info = stack.start()
        except start_errors as e:  # only what the environment can cause; a bug keeps its traceback
            raise EnvironmentProblem(f"the demo target did not start: {e}") from e
        try:
            if ledger is not None:  # inside the try: a ledger that cannot be written still stops the demo
                ledger.open("demo", stack.ledger_entry())
            variables.setdefault("username", info.email)
            variables.setdefault("password", info.password)
            processes: dict[str, SupervisedProcess] = {} if stack.supervisor is None else {"worker": stack.supervisor}
            yield TargetRuntime(base_url=info.base_url, proxies=stack.hub, processes=processes,
                                probe_url=first_url(scenario, info.base_url)), variables
        finally:
            stack.stop()
            if ledger is not None:
                ledger.close("demo")
        return
    runtime = planned_runtime(scenario, base_url_override)
    trust = httpget.https_errors_ignored(runtime.base_url) if scenario.target.ignore_https_errors \
        else contextlib.nullcontext()
    with trust:
        yield runtime, variables


def planned_runtime(scenario: Scenario, base_url_override: str | None = None) -> TargetRuntime:
    """The target as far as it is known without starting anything (a URL, a proxy control), for
    `uxchaos doctor`, dry runs and runs against the user's own app."""
    base_url = base_url_override or scenario.target.base_url
    if scenario.target.is_demo and not base_url_override:
        return TargetRuntime(base_url=base_url, pending="the demo target")
    proxies = None
    if scenario.target.proxy_control:
        from uxchaos.proxy.control import ControlClient

        proxies = ControlClient(scenario.target.proxy_control)
    return TargetRuntime(base_url=base_url, proxies=proxies, probe_url=first_url(scenario, base_url))


def first_url(scenario: Scenario, base_url: str) -> str:
    """The URL of the journey's first page, to check before anything is injected."""
    for action in scenario.journey:
        for step in action.steps:
            if step.kind in ("goto", "http_get") and "{{" not in step.args["url"]:
                return urllib.parse.urljoin(base_url.rstrip("/") + "/", step.args["url"])
    return base_url


def check_app_healthy(url: str, timeout_s: float = 30) -> None:
    """The app answers without a server error — else say what it answered (the report's
    'Base table or view not found' would show up here, before any fault)."""
    try:
        response = httpget.get(url, timeout_s)
    except http.client.HTTPException as e:  # something answers, but not HTTP (a database port?)
        raise EnvironmentProblem(
            f"the target does not answer HTTP: GET {url}: {type(e).__name__} {str(e)[:60]!r}. Is the URL the app's "
            "(--base-url or target.base_url)?") from None
    except OSError as e:
        raise EnvironmentProblem(
            f"the target is unreachable: GET {url}: {getattr(e, 'strerror', None) or e}. Is the app running, and "
            "is the URL right (--base-url or target.base_url)?"
        ) from None
    if response.status >= 500:
        from uxchaos.run.known_errors import advice

        said = advice(response.body.decode("utf-8", errors="replace"))
        if said:
            raise EnvironmentProblem(f"the app is not healthy: GET {url} answered HTTP {response.status} before any "
                                     f"fault was injected: {said}")
        body = response.body[:4096].decode("utf-8", errors="replace")
        head = "\n    ".join(body.strip().splitlines()[:5])
        raise EnvironmentProblem(
            f"the app is not healthy: GET {url} answered HTTP {response.status} before any fault was injected:\n"
            f"    {head}\nFix the app first (missing migrations? database down?)."
        )

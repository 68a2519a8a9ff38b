"""The step types a scenario may use: name, parameters, what each does, and checks made when a
scenario is loaded. Pure data, with no Playwright: validating a scenario, `uxchaos reference`,
`list`, `report` and `compare` stay light. The browser side of each step lives in
`uxchaos/journey/steps.py` (one function per step, registered under the same name); a test
keeps the two registries in step.

A step in a scenario is a mapping whose one registered key names the type; its value is the step's
primary parameter (or a mapping of all parameters), e.g. `- fill: "#email"` + `value: "{{ username }}"`.
Every step also accepts `timeout` (duration) and `name` (a label for tables)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

ParamKind = Literal["text", "duration", "int"]
COMMON_PARAMS: dict[str, ParamKind] = {"timeout": "duration", "name": "text"}


@dataclass(frozen=True)
class StepType:
    name: str
    primary: str | None
    params: dict[str, ParamKind]
    required: tuple[str, ...]
    doc: str
    check: Callable[[dict[str, Any]], str | None] | None = None

    def label(self, args: dict[str, Any]) -> str:
        """A short description for tables. Never includes values typed into fields."""
        if args.get("name"):
            return str(args["name"])
        main = args.get(self.primary) if self.primary else None
        if main is None:
            main = next((args[k] for k in ("url", "text", "selector") if k in args), "")
        return f"{self.name} {main}".strip()


STEPS: dict[str, StepType] = {}


def step_type(name: str, primary: str | None, doc: str, required: tuple[str, ...] = (),
              check: Callable[[dict[str, Any]], str | None] | None = None, **params: ParamKind) -> None:
    STEPS[name] = StepType(name, primary, params, required, doc, check)


def _one_of_selector_url_text(args: dict[str, Any]) -> str | None:
    given = [k for k in ("selector", "url", "text") if k in args]
    return None if len(given) == 1 else "wait_for needs exactly one of: selector, url, text"


step_type("goto", "url", "Open a URL (relative to the target's base URL) and wait for the page's load event.",
          required=("url",), url="text")
step_type("fill", "selector", "Type a value into a field. The value is never written to results (it may be a "
          "password).", required=("selector", "value"), selector="text", value="text")
step_type("click", "selector", "Click an element; if that navigates, the step lasts until the new page's load event.",
          required=("selector",), selector="text")
step_type("press", "selector", "Press a key in an element (e.g. Enter to submit); navigations are waited for like "
          "click.", required=("selector", "key"), selector="text", key="text")
step_type("select", "selector", "Choose an option of a select element by value or label.",
          required=("selector", "value"), selector="text", value="text")
step_type("check", "selector", "Tick a checkbox or radio button.", required=("selector",), selector="text")
step_type("wait_for", "selector", "Wait until a selector is visible, the URL matches (glob such as **/dashboard), or "
          "a text shows.", check=_one_of_selector_url_text, selector="text", url="text", text="text")
step_type("expect_text", "text", "Assert that the page (or `selector`) contains a text, waiting for it up to the "
          "timeout.", required=("text",), text="text", selector="text")
step_type("expect_url", "url", "Wait until the current URL matches a glob such as **/dashboard (up to the "
          "timeout): after a click, the navigation or a single-page app's route change.",
          required=("url",), url="text")
step_type("http_get", "url", "A plain HTTP GET on a new connection, body read to the end — timed like `curl`.",
          required=("url",), url="text", expect_status="int")
step_type("screenshot", "file", "Save a screenshot of the page into the run folder.", required=("file",), file="text")
step_type("sleep", "duration", "Wait a fixed time (think time between actions).", required=("duration",),
          duration="duration")

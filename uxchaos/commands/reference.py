"""The scenario reference (steps, fault drivers and kinds, fault keys, phase keys), generated from the
registries, so the docs can never drift from the code. `uxchaos reference` prints it; docs/reference.md embeds it."""

from __future__ import annotations

from uxchaos.faults import DRIVERS
from uxchaos.faults.base import REQUIRED
from uxchaos.load.spec import LOAD_FIELDS
from uxchaos.scenario.model import FAULT_FIELDS, PHASE_FIELDS
from uxchaos.scenario.steptypes import COMMON_PARAMS, STEPS
from uxchaos.util.durations import format_duration


def _kind(kind: object) -> str:
    return " \\| ".join(kind) if isinstance(kind, tuple) else str(kind)


def _default(value: object, kind: object) -> str:
    if value is REQUIRED:
        return "required"
    if kind == "duration" and isinstance(value, float):
        return format_duration(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def render_reference() -> str:
    lines = ["### Steps", "", "| Step | Parameters (first = the value after the step name) | What it does |",
             "|---|---|---|"]
    for st in STEPS.values():
        names = [f"`{p}`" + ("" if p in st.required else "?") for p in st.params]
        lines.append(f"| `{st.name}` | {', '.join(names)} | {st.doc.splitlines()[0] if st.doc else ''} |")
    lines += ["", f"Every step also takes {', '.join(f'`{k}`' for k in COMMON_PARAMS)} "
              "(per-step timeout; a label for tables). `?` marks optional parameters.", "",
              "### Fault drivers and kinds", "", "| Driver | Kind | Parameters | Target |", "|---|---|---|---|"]
    for driver in DRIVERS.values():
        for kind, params in driver.kinds.items():
            text = ", ".join(f"`{name}` ({_kind(p.kind)}, {_default(p.default, p.kind)})" for name, p in params.items())
            lines.append(f"| `{driver.name}` | `{kind}` | {text or '–'} | {driver.target_help} |")
    lines += ["", "### Fault keys", "", "`fault:` takes:", "", "| Key | Kind | Default | What it does |",
              "|---|---|---|---|"]
    for key, (kind, default, doc) in FAULT_FIELDS.items():
        lines.append(f"| `{key}` | {kind} | {default} | {doc} |")
    lines += ["", "### Phases", "", "Each of `phases.before`, `phases.during`, `phases.after` takes:", "",
              "| Key | Kind | Default | What it does |", "|---|---|---|---|"]
    for key, (kind, default, doc) in PHASE_FIELDS.items():
        lines.append(f"| `{key}` | {kind} | {default} | {doc} |")
    lines += ["", "### Load", "", "`load:` (Locust users for the whole run, beside the browser users) takes:", "",
              "| Key | Kind | Default | What it does |", "|---|---|---|---|"]
    for key, (kind, default, doc) in LOAD_FIELDS.items():
        lines.append(f"| `{key}` | {kind} | {default} | {doc} |")
    return "\n".join(lines) + "\n"

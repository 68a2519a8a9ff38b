"""Playwright traces of attempts: `--trace off|on|retain-on-failure|slowest`.

Tracing (DOM snapshots; screenshots only when asked, `--trace-screenshots`) starts after the page
is created and before the clock; each action is a group in the trace viewer. The trace is written
when the attempt ends, as `trace-<phase>-<attempt>.zip` in the run folder, openable with
`playwright show-trace`.

Screenshots are off by default because they cost inside the clock, about as much again as the DOM
snapshots, and with `slowest` every attempt is traced (benchmarks/trace_cost.py; figures in
benchmarks/RESULTS.md).

Secrets: Playwright records what a `fill` typed (the `value` parameter in trace.trace), input values
in its DOM snapshots, and request bodies (a login form's password) in trace.network and resources/.
Before the zip lands under its name, every file in it is rewritten with each secret of the scenario
(as typed, JSON-escaped, URL-encoded and HTML-escaped) replaced by ***; the unredacted file exists
only in a private temporary folder (mkdtemp, mode 0700) while that runs.

`TraceKeeper` decides which traces stay: `on` all; `retain-on-failure` those of failed attempts;
`slowest` (the default) those of failed attempts and, per action, of the slowest during attempt —
which needs every attempt traced: a trace that is no longer the slowest of any action is deleted."""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
import zipfile
from pathlib import Path

from playwright.sync_api import BrowserContext
from playwright.sync_api import Error as PlaywrightError

from uxchaos.errors import BadInput
from uxchaos.results.records import Sample

log = logging.getLogger("uxchaos.journey")

MODES = ("off", "on", "retain-on-failure", "slowest")
DEFAULT_MODE = "slowest"
MODE_VARIABLE = "UXCHAOS_TRACE"


def default_mode() -> str:
    """`--trace`'s default: $UXCHAOS_TRACE when set (a CI job or test suite that wants no trace costs
    in every run without editing each command line), else `slowest`."""
    mode = os.environ.get(MODE_VARIABLE, "").strip() or DEFAULT_MODE
    if mode not in MODES:
        raise BadInput(f"{MODE_VARIABLE}={mode!r}: allowed are {', '.join(MODES)}")
    return mode


def trace_name(phase: str, attempt: int) -> str:
    return f"trace-{phase}-{attempt}.zip"


def start(context: BrowserContext, title: str, screenshots: bool = False) -> bool:
    """False when tracing cannot start (e.g. a context given by pytest-playwright is traced already)."""
    try:
        context.tracing.start(title=title, screenshots=screenshots, snapshots=True)
    except PlaywrightError as e:
        log.warning("no Playwright trace for %s: %s", title, str(e).strip().splitlines()[0] if str(e).strip() else e)
        return False
    return True


def group(context: BrowserContext, name: str | None) -> None:
    """Close the current action's group in the trace and open the next one's (None: just close)."""
    try:
        context.tracing.group_end()
        if name is not None:
            context.tracing.group(name)
    except PlaywrightError as e:  # a trace without groups is still a trace
        log.debug("trace group %s: %s", name, e)


def stop(context: BrowserContext, path: Path, secrets: set[str]) -> str | None:
    """Write the trace, redacted, to `path`; its file name, or None when it could not be written."""
    # The unredacted trace goes to a private temporary folder, never into the run folder (which CI
    # systems upload): a run killed while redacting leaves no readable secret among its artifacts.
    scratch = Path(tempfile.mkdtemp(prefix="uxchaos-trace-"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        context.tracing.stop(path=str(scratch / path.name))
        redact(scratch / path.name, path, secrets)
    except (PlaywrightError, OSError, zipfile.BadZipFile) as e:  # a lost trace is said, never fatal
        log.warning("could not write the Playwright trace %s: %s", path.name, e)
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path.name


def secret_forms(secrets: set[str]) -> list[bytes]:
    """Each secret as it can stand in a trace's files, longest first (so no form is half replaced)."""
    forms: set[bytes] = set()
    for secret in secrets:
        if not secret:
            continue
        for text in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
                     urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe=""),
                     html.escape(secret), html.escape(secret, quote=False)):
            forms.add(text.encode("utf-8"))
    return sorted(forms, key=len, reverse=True)


def redact(source: Path, target: Path, secrets: set[str]) -> None:
    """Copy a trace zip with every secret replaced by *** in every file of it."""
    forms = secret_forms(secrets)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with zipfile.ZipFile(source) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                for form in forms:
                    data = data.replace(form, b"***")
                zout.writestr(info.filename, data)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


class TraceKeeper:
    """Which traces stay in the run folder; called with each sample as it is recorded."""

    def __init__(self, mode: str, run_dir: Path) -> None:
        self.mode = mode
        self.run_dir = run_dir
        self.kept: set[str] = set()  # for good: failed attempts, or every attempt with `on`
        self.slowest: dict[str, tuple[float, str]] = {}  # action → (seconds, trace) of its slowest during attempt
        self.seen: set[str] = set()

    def keep(self, sample: Sample) -> bool:
        """Whether the sample's trace stays for now; traces no longer needed are deleted."""
        name = sample.captured.trace
        if name is None:
            return False
        self.seen.add(name)
        if self.mode == "on" or (not sample.ok and self.mode in ("retain-on-failure", "slowest")):
            self.kept.add(name)
        elif self.mode == "slowest" and sample.phase == "during" and not sample.excluded:
            for a in sample.actions:
                held = self.slowest.get(a.name)
                if a.ok and a.duration_s is not None and (held is None or a.duration_s > held[0]):
                    self.slowest[a.name] = (a.duration_s, name)
        needed = self.kept | {n for _, n in self.slowest.values()}
        for stale in self.seen - needed:
            (self.run_dir / stale).unlink(missing_ok=True)
        self.seen &= needed
        return name in needed

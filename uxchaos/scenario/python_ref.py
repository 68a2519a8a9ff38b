"""Finding a Python journey: `journey: {python: journeys/login.py:login}` in a scenario.

The file is imported once when the scenario is loaded (so a syntax error, an exception at import,
a missing function or a wrong signature is reported by `uxchaos validate`, before anything is
injected). This module never imports Playwright; the journey file itself may."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIGNATURE = ("page", "step", "vars")

# (page, step timer, variables) -> None; the pytest plugin builds its own around a test function.
JourneyCall = Callable[[Any, Any, dict[str, str]], None]


class JourneyLoadError(ValueError):
    """The reference cannot be used; the message names file and line where there is one."""


@dataclass
class PythonJourney:
    ref: str  # as written in the scenario, e.g. journeys/login.py:login
    path: Path  # the journey file, resolved (failure lines are reported in it)
    function: str
    line: int  # where the function is defined
    call: JourneyCall

    def where(self, line: int | None = None) -> str:
        return f"{self.display_path}:{line if line is not None else self.line}"

    @property
    def display_path(self) -> str:
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def _import_file(path: Path) -> Any:
    name = "uxchaos_journey_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise JourneyLoadError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the journey can import helpers that sit beside it
    try:
        source = path.read_text(encoding="utf-8")
        compile(source, str(path), "exec")
    except SyntaxError as e:
        raise JourneyLoadError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JourneyLoadError(f"{path}: cannot be read: {e}") from None
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
        line = f":{frames[-1].lineno}" if frames else ""
        raise JourneyLoadError(f"{path}{line}: importing it raised {type(e).__name__}: {e}") from None
    return module


def check_signature(fn: Callable[..., Any], where: str, name: str) -> None:
    """The journey is called as fn(page, step, vars): three positional parameters, in that order."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise JourneyLoadError(f"{where}: {name} has no readable signature; "
                               f"write def {name}(page, step, vars)") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    names = [p.name for p in positional[:3]]
    ok = (len(positional) >= 3 or takes_varargs) and len(required) <= 3
    if ok and set(names) == set(SIGNATURE) and names != list(SIGNATURE):
        ok = False  # (page, vars, step) would silently receive the wrong objects
    if not ok or inspect.iscoroutinefunction(fn):
        got = ", ".join(p.name for p in params)
        extra = " (async functions are not supported: use the sync Playwright API)" if ok else ""
        raise JourneyLoadError(f"{where}: {name}({got}) has the wrong signature: a journey is "
                               f"def {name}(page, step, vars){extra}")


def load_python_journey(ref: str, base_dir: Path) -> PythonJourney:
    """`ref` is FILE.py:FUNCTION, FILE relative to `base_dir` (the scenario's folder)."""
    file_part, sep, function = ref.rpartition(":")
    if not sep or not file_part.endswith(".py") or not function.isidentifier():
        raise JourneyLoadError(f"write the journey as FILE.py:FUNCTION, e.g. journeys/login.py:login; got {ref!r}")
    path = (base_dir / file_part).resolve()
    if not path.is_file():
        raise JourneyLoadError(f"journey file {file_part} does not exist (looked for {path})")
    module = _import_file(path)
    fn = getattr(module, function, None)
    if fn is None or not callable(fn):
        functions = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__]
        close = difflib.get_close_matches(function, functions, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise JourneyLoadError(f"{path}: no function {function!r}{hint}; functions: {', '.join(functions) or 'none'}")
    try:
        line = inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        line = 1
    check_signature(fn, f"{path}:{line}", function)
    return PythonJourney(ref, path, function, line, fn)

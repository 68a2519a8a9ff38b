"""`uxchaos import`: a script written by `playwright codegen --target python` or `--target python-pytest`
turned into a scenario YAML. The script is parsed with `ast`, never executed.

- Actions are split at navigations and named from the URL path: `page.goto(".../login")` is the
  action "Open /login"; what the user then does on that page is the action "On /login";
  `expect(page).to_have_url(...)` moves to the next page.
- A `fill` of a field whose locator mentions a password becomes `{{ password }}` (and any later fill
  of the same recorded value too); the recorded value is never written. A field that mentions an
  email or user name becomes `{{ username }}`.
- Locators become selector strings the YAML steps accept, checked in Chromium: `get_by_role(r,
  name=n)` → `role=r[name="n"i]` (exact: `[name="n"]`), `get_by_text` → `text=…`,
  `get_by_placeholder` → `[placeholder*="…" i]`, `get_by_test_id` → `[data-testid="…"]`,
  `get_by_alt_text`/`get_by_title` → `[alt*=…]`/`[title*=…]`, `get_by_label` → `internal:label="…"i`
  (Playwright's own encoding: there is no public label selector), `.first/.last/.nth(i)` → `>> nth=i`,
  chained locators joined with ` >> `.
- Every statement that cannot be translated is reported with its line; nothing is written then."""

from __future__ import annotations

import ast
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uxchaos.errors import BadInput

PASSWORD_HINT = re.compile(r"pass(word|wort|phrase)?|pwd", re.IGNORECASE)
USERNAME_HINT = re.compile(r"e-?mail|user|login", re.IGNORECASE)
# Setup and teardown that codegen writes around the journey.
BOILERPLATE_CALLS = {"launch", "new_context", "new_page", "close", "run", "stop", "start"}


class ImportProblems(BadInput):
    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = [f"{path}:{line}: {message}" for line, message in sorted(problems)]
        super().__init__(f"{path}: {len(lines)} statement(s) cannot be translated (nothing was written):\n  "
                         + "\n  ".join(lines))


class _Untranslatable(Exception):
    pass


@dataclass
class _Action:
    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Imported:
    yaml: str
    actions: list[str]
    base_url: str
    replaced_password: bool


def _q(text: str) -> str:
    """A string inside a selector (CSS / Playwright attribute syntax): double quotes, escaped."""
    return json.dumps(text, ensure_ascii=False)


def _const(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
        return node.value
    raise _Untranslatable(f"`{ast.unparse(node)}` is not a literal (only recorded values can be imported)")


def _kwargs(call: ast.Call, allowed: set[str]) -> dict[str, Any]:
    out = {}
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in allowed:
            raise _Untranslatable(f"argument `{ast.unparse(kw)}` of {_name(call)}() has no YAML equivalent")
        out[kw.arg] = _const(kw.value)
    return out


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ast.unparse(call.func)


def _locator_part(call: ast.Call) -> str:
    """One get_by_* / locator() call as a selector string."""
    method = _name(call)
    args = [_const(a) for a in call.args]
    if method == "locator":
        if len(args) != 1 or not isinstance(args[0], str):
            raise _Untranslatable("locator() with options has no YAML equivalent")
        _kwargs(call, set())
        return args[0]
    if len(args) != 1 or not isinstance(args[0], str):
        raise _Untranslatable(f"{method}() needs one literal string")
    value = args[0]
    if method == "get_by_role":
        kw = _kwargs(call, {"name", "exact", "level", "checked", "pressed", "selected", "expanded", "disabled"})
        exact = kw.pop("exact", False)
        attrs = ""
        if "name" in kw:
            attrs += f"[name={_q(str(kw.pop('name')))}{'' if exact else 'i'}]"
        for key, val in kw.items():
            attrs += f"[{key}={str(val).lower() if isinstance(val, bool) else val}]"
        return f"role={value}{attrs}"
    exact = _kwargs(call, {"exact"}).get("exact", False)
    if method == "get_by_text":
        if value[:1] in ("'", '"', "/") or ">>" in value:
            return f"internal:text={_q(value)}{'s' if exact else 'i'}"
        return f"text={_q(value)}" if exact else f"text={value}"
    if method == "get_by_label":
        return f"internal:label={_q(value)}{'s' if exact else 'i'}"
    attribute = {"get_by_placeholder": "placeholder", "get_by_alt_text": "alt", "get_by_title": "title"}.get(method)
    if attribute:
        return f"[{attribute}={_q(value)}]" if exact else f"[{attribute}*={_q(value)} i]"
    if method == "get_by_test_id":
        return f"[data-testid={_q(value)}]"
    raise _Untranslatable(f"locator method {method}() has no YAML equivalent")


def _selector(node: ast.expr) -> str:
    """A locator expression rooted at `page` → one selector string."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Name) and node.id == "page":
            break
        if isinstance(node, ast.Attribute) and node.attr in ("first", "last"):
            parts.append("nth=0" if node.attr == "first" else "nth=-1")
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "nth":
                parts.append(f"nth={int(_const(node.args[0]))}")
            else:
                parts.append(_locator_part(node))
            node = node.func.value
        else:
            raise _Untranslatable(f"`{ast.unparse(node)}` is not a locator of `page`")
    if not parts:
        raise _Untranslatable("an action needs a locator, e.g. page.get_by_role(...).click()")
    return " >> ".join(reversed(parts))


class _Translator:
    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url  # the recorded origin, from the first goto
        self.actions: list[_Action] = []
        self.page_path = ""
        self.on_page = False  # the current action holds what the user does on the page
        self.passwords: set[str] = set()
        self.username: str | None = None
        self.problems: list[tuple[int, str]] = []

    def _new_action(self, name: str) -> _Action:
        taken = {a.name for a in self.actions}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name} ({n})"
        self.actions.append(_Action(unique))
        return self.actions[-1]

    def _add(self, step: dict[str, Any]) -> None:
        if not self.actions or not self.on_page:
            self._new_action(f"On {self.page_path or '/'}")
            self.on_page = True
        self.actions[-1].steps.append(step)

    def _path(self, url: str) -> str:
        """The URL relative to the target's base URL (the first goto's origin) where it shares it."""
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
        if self.base_url is None and origin:
            self.base_url = origin
        if origin and origin != self.base_url:
            return url
        path = parts.path or "/"
        return path + (f"?{parts.query}" if parts.query else "")

    def goto(self, url: str) -> None:
        path = self._path(url)
        self.page_path = urllib.parse.urlsplit(path).path or path
        self._new_action(f"Open {self.page_path}").steps.append({"goto": path})
        self.on_page = False

    def fill(self, selector: str, value: str) -> None:
        if "{{" in value:
            raise _Untranslatable("a recorded value containing '{{' would be read as a variable")
        if PASSWORD_HINT.search(selector) or value in self.passwords:
            self.passwords.add(value)
            value = "{{ password }}"
        elif USERNAME_HINT.search(selector) and value == (self.username or value):
            self.username, value = value, "{{ username }}"
        self._add({"fill": selector, "value": value})

    def statement(self, stmt: ast.stmt) -> None:
        if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
            raise _Untranslatable(f"`{ast.unparse(stmt).splitlines()[0]}` is not a recorded browser action")
        call = stmt.value
        if isinstance(call.func, ast.Name) and call.func.id == "expect":
            raise _Untranslatable("expect(...) without an assertion")
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Call) \
                and isinstance(call.func.value.func, ast.Name) and call.func.value.func.id == "expect":
            self.assertion(call.func.value, call.func.attr, call)
            return
        self.action(call)

    def action(self, call: ast.Call) -> None:
        method = _name(call)
        target = call.func.value if isinstance(call.func, ast.Attribute) else None
        if isinstance(target, ast.Name) and target.id == "page":  # page.goto(url) and the old page.click(selector)
            args = [_const(a) for a in call.args]
            if method == "goto" and len(args) == 1:
                _kwargs(call, {"wait_until", "timeout"})
                self.goto(str(args[0]))
                return
            if method in ("click", "check", "fill", "press", "select_option") and args:
                self._locator_action(method, str(args[0]), args[1:], call)
                return
            if method == "close" and not args:
                return  # codegen's teardown, not a user's step
            raise _Untranslatable(f"page.{method}() has no YAML equivalent")
        if target is None:
            raise _Untranslatable(f"{method}() is not a recorded browser action")
        self._locator_action(method, _selector(target), [_const(a) for a in call.args], call)

    def _locator_action(self, method: str, selector: str, args: list[Any], call: ast.Call) -> None:
        if method == "click" and not args:
            _kwargs(call, {"timeout"})
            self._add({"click": selector})
        elif method == "fill" and len(args) == 1:
            self.fill(selector, str(args[0]))
        elif method == "press" and len(args) == 1:
            self._add({"press": selector, "key": str(args[0])})
        elif method == "check" and not args:
            self._add({"check": selector})
        elif method == "select_option" and len(args) == 1 and isinstance(args[0], str):
            self._add({"select": selector, "value": args[0]})
        else:
            raise _Untranslatable(f"{method}() has no YAML equivalent (steps: click, fill, press, check, select)")

    def assertion(self, expect_call: ast.Call, method: str, call: ast.Call) -> None:
        (subject,) = expect_call.args
        args = [_const(a) for a in call.args]
        if isinstance(subject, ast.Name) and subject.id == "page" and method == "to_have_url" and len(args) == 1:
            path = self._path(str(args[0]))
            if not self.actions:
                raise _Untranslatable("to_have_url before any page was opened")
            self._add({"expect_url": f"**{path}" if path.startswith("/") else path})
            self.page_path, self.on_page = urllib.parse.urlsplit(path).path or path, False
            return
        selector = _selector(subject)
        if method == "to_contain_text" and len(args) == 1 and isinstance(args[0], str):
            self._add({"expect_text": args[0], "selector": selector})
        elif method == "to_be_visible" and not args:
            self._add({"wait_for": selector})
        else:
            raise _Untranslatable(f"expect(...).{method}() has no YAML equivalent "
                                  "(to_contain_text, to_be_visible, expect(page).to_have_url)")


def _is_boilerplate(stmt: ast.stmt) -> bool:
    """Imports, `browser = playwright.chromium.launch(...)`, `context.close()`, `with sync_playwright()…`."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return True
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr)) else None
    if isinstance(value, ast.Call) and _name(value) in BOILERPLATE_CALLS:
        receiver = value.func.value if isinstance(value.func, ast.Attribute) else None
        root = receiver
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(stmt, ast.Assign) or (isinstance(root, ast.Name) and root.id in ("context", "browser")) \
                or (receiver is None and _name(value) == "run"):
            return True
    if isinstance(stmt, ast.With):
        return all(isinstance(i.context_expr, ast.Call) and _name(i.context_expr) == "sync_playwright"
                   for i in stmt.items) and all(_is_boilerplate(s) for s in stmt.body)
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)  # a docstring or a comment string


def _journey_body(tree: ast.Module, problems: list[tuple[int, str]]) -> tuple[list[ast.stmt], str]:
    """The statements of `def run(playwright)` (--target python) or of the test (--target python-pytest)."""
    functions = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    journeys = [f for f in functions if f.name == "run" or f.name.startswith("test")]
    if len(journeys) != 1:
        found = ", ".join(f.name for f in functions) or "none"
        raise BadInput(f"expected one recorded journey (def run(playwright) or def test_…(page)); functions: {found}")
    for stmt in tree.body:
        if stmt is not journeys[0] and not _is_boilerplate(stmt):
            problems.append((stmt.lineno, f"`{ast.unparse(stmt).splitlines()[0]}` is not part of a recording"))
    kind = "python" if journeys[0].name == "run" else "python-pytest"
    return [s for s in journeys[0].body if not _is_boilerplate(s)], kind


def import_codegen(source: str, path: str, base_url: str | None = None, name: str | None = None) -> Imported:
    """Translate a codegen script; raises ImportProblems listing every statement it cannot translate."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise BadInput(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    problems: list[tuple[int, str]] = []
    body, kind = _journey_body(tree, problems)
    tr = _Translator(None)
    for stmt in body:
        try:
            tr.statement(stmt)
        except (_Untranslatable, ValueError) as e:
            problems.append((stmt.lineno, f"cannot translate `{ast.unparse(stmt).splitlines()[0]}`: {e}"))
    if problems:
        raise ImportProblems(path, problems)
    if not tr.actions:
        raise BadInput(f"{path}: the recording has no browser actions")
    target = base_url or tr.base_url
    if not target:
        raise BadInput(f"{path}: no page.goto() with a full URL: pass --base-url URL (or demo)")
    scenario_name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).stem).strip("-.") or "imported"
    return Imported(_render(tr, kind, Path(path).name, scenario_name, target), [a.name for a in tr.actions],
                    target, bool(tr.passwords))


def _render(tr: _Translator, kind: str, source_name: str, name: str, base_url: str) -> str:
    steps_text = "\n".join(str(s) for a in tr.actions for s in a.steps)
    lines = [f"# Imported by `uxchaos import` from {source_name} (playwright codegen --target {kind}).",
             f"name: {name}", f"description: {_q(f'Recorded journey from {source_name}')}", "target:",
             f"  base_url: {_q(base_url)}"]
    creds = []
    if base_url != "demo":  # the demo brings its own credentials
        if "{{ username }}" in steps_text:
            creds.append(f"    username: ${{UXCHAOS_USERNAME:-{tr.username}}}")
        if "{{ password }}" in steps_text:
            creds.append("    password: ${UXCHAOS_PASSWORD}     # the recorded password is never written")
    if creds:
        lines += ["  credentials:", *creds]
    lines.append("journey:")
    for action in tr.actions:
        lines += [f"  - action: {_q(action.name)}", "    steps:"]
        for step in action.steps:
            (kind_key, main), *rest = step.items()
            lines.append(f"      - {kind_key}: {_q(str(main))}")
            lines += [f"        {k}: {_q(str(v))}" for k, v in rest]
    lines += [
        "# fault:                      # add the fault to measure under, e.g.",
        "#   driver: proxy",
        "#   kind: delay",
        "#   target: database",
        "#   params: {delay: 2000ms}",
        "phases:",
        "  before: {attempts: 3}",
        "  during: {attempts: 3}",
        "  after: {attempts: 3}",
        "",
    ]
    return "\n".join(lines)

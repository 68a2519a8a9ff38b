"""Expectations: small readable expressions over phases, actions and statistics, e.g.

    during["Logging in"].p50 < 30s
    after["Logging in"].p50 <= 1.5 * before["Logging in"].p50
    during.failures == 0
    recovery["Logging in"] < 20s
    during["Logging in"].lcp_p75 < 4s          (Web Vitals: ttfb fcp lcp cls inp × p50 p75)
    during.load.failure_rate < 1%              (the Locust load: n rps failures failure_rate p50 p95 max users)
    during.load["GET /login"].p95 < 2s

Parsed with Python's `ast` into a whitelisted tree (numbers, durations, + - * /, comparisons,
and/or/not, phase["Action"].stat, phase.stat, recovery["Action"], and for a swept fault
slope["Action"] and threshold["Action"]) and evaluated by walking it —
user text is never `eval`'d."""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uxchaos.results.vitals import STATS as VITALS_STATS

PHASE_NAMES = ("before", "during", "after")
ACTION_STATS = {"n", "failures", "p50", "median", "p90", "p95", "min", "max", "mean", "std"} | VITALS_STATS
PHASE_STATS = {"n", "failures", "straddled", "fault_missing"}
# Per-action values that are not a phase's statistic, with an example of their use.
PER_ACTION = {
    "recovery": "< 20s",  # seconds from the revert until back near the baseline
    "slope": "<= 12",  # a swept fault: action seconds per unit of the parameter (round trips, for a delay)
    "threshold": ">= 500ms",  # a swept fault: the level at which the action crosses its limit
}
# The Locust load per phase (uxchaos/load/stats.py): during.load.failure_rate < 1%, during.load["GET /x"].p95 < 2s
LOAD_STATS = {"n", "rps", "failures", "failure_rate", "p50", "p95", "max", "users"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_ARITH: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class ExpectationError(ValueError):
    pass


class NoData(Exception):
    """A value the expression needs was not measured (e.g. no successful attempt)."""


def _durations_to_seconds(text: str) -> str:
    """`30s` is not Python: turn duration literals (outside strings) into seconds."""
    out = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError) as e:
        raise ExpectationError(f"cannot read expression: {e.args[0]}") from None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.type == tokenize.NUMBER and nxt is not None and nxt.string == "%" and nxt.start == tok.end:
            out.append((tokenize.NUMBER, repr(float(tok.string) / 100)))  # 1% is 0.01 (there is no modulo)
            i += 2
            continue
        if (tok.type == tokenize.NUMBER and nxt is not None and nxt.type == tokenize.NAME
                and nxt.start == tok.end and _DURATION.match(tok.string + nxt.string)):
            m = _DURATION.match(tok.string + nxt.string)
            assert m is not None
            out.append((tokenize.NUMBER, repr(float(m.group(1)) * _UNIT_S[m.group(2)])))
            i += 2
            continue
        out.append((tok.type, tok.string))
        i += 1
    return tokenize.untokenize(out)


@dataclass
class Expectation:
    text: str
    tree: ast.expr

    @classmethod
    def parse(cls, text: str, actions: list[str] | None = None) -> Expectation:
        try:
            tree = ast.parse(_durations_to_seconds(text.strip()), mode="eval").body
        except SyntaxError as e:
            raise ExpectationError(f"cannot read expression {text!r}: {e.msg}") from None
        _check(tree, actions)
        if not isinstance(tree, (ast.Compare, ast.BoolOp)) and not (
                isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)):
            raise ExpectationError(f"{text!r} is not a comparison (write e.g. 'during.failures == 0')")
        return cls(text, tree)


def _check(node: ast.AST, actions: list[str] | None) -> None:
    """Allow only the little language; say what is allowed otherwise."""
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ExpectationError(f"comparison {type(op).__name__} not allowed; use < <= > >= == !=")
        for child in [node.left, *node.comparators]:
            _check(child, actions)
    elif isinstance(node, ast.BoolOp):
        for child in node.values:
            _check(child, actions)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand, actions)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        _check(node.left, actions)
        _check(node.right, actions)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        pass
    elif isinstance(node, (ast.Attribute, ast.Subscript, ast.Name)):
        _reference(node, actions)
    else:
        raise ExpectationError(
            f"'{ast.unparse(node)}' is not allowed: use numbers, durations (30s, 2000ms), + - * /, comparisons, "
            "and/or/not, and phase[\"Action\"].stat, phase.stat, phase.load.stat, phase.load[\"GET /path\"].stat, "
            "recovery[\"Action\"], slope[\"Action\"] or threshold[\"Action\"]"
        )


def _reference(node: ast.AST, actions: list[str] | None) -> tuple[str, str | None, str | None]:
    """(phase or 'recovery', action or None, stat or None)."""
    stat = None
    if isinstance(node, ast.Attribute):
        stat, node = node.attr, node.value
    load = _load_reference(node, stat)
    if load is not None:
        return load
    action = None
    if isinstance(node, ast.Subscript):
        if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            raise ExpectationError('an action is named in quotes: during["Logging in"]')
        action, node = node.slice.value, node.value
    if not isinstance(node, ast.Name):
        raise ExpectationError(f"'{ast.unparse(node)}' is not a phase")
    name = node.id
    if name in PER_ACTION:
        if action is None or stat is not None:
            raise ExpectationError(f'{name} is per action: {name}["Logging in"] {PER_ACTION[name]}')
    elif name in PHASE_NAMES:
        allowed = ACTION_STATS if action is not None else PHASE_STATS
        if stat not in allowed:
            where = f'{name}["{action}"]' if action is not None else name
            raise ExpectationError(f"{where}.{stat}: unknown statistic; allowed: {', '.join(sorted(allowed))}")
    else:
        raise ExpectationError(f"unknown name {name!r}; allowed: before, during, after, {', '.join(PER_ACTION)}")
    if action is not None and actions is not None and action not in actions:
        raise ExpectationError(f"no action named {action!r} in the journey; actions: {', '.join(actions)}")
    return name, action, stat


def _load_reference(node: ast.AST, stat: str | None) -> tuple[str, str | None, str] | None:
    """`during.load.failure_rate` or `during.load["GET /login"].p95`: (phase, request name, "load.STAT")."""
    name = None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "load":
        if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            raise ExpectationError('a request is named in quotes, as Locust shows it: during.load["GET /login"]')
        name, node = node.slice.value, node.value
    if not (isinstance(node, ast.Attribute) and node.attr == "load"):
        return None
    if not (isinstance(node.value, ast.Name) and node.value.id in PHASE_NAMES):
        raise ExpectationError(f"'{ast.unparse(node)}': the load is per phase, e.g. during.load.failure_rate")
    if stat not in LOAD_STATS:
        raise ExpectationError(f"{ast.unparse(node)}.{stat}: unknown statistic of the load; allowed: "
                               f"{', '.join(sorted(LOAD_STATS))}")
    return node.value.id, name, f"load.{stat}"


Lookup = Callable[[str, str | None, str | None], float | None]


def evaluate(expectation: Expectation, lookup: Lookup) -> tuple[bool, dict[str, float | None]]:
    """Return (passed, the measured values used). Missing data raises NoData."""
    used: dict[str, float | None] = {}

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Name)):
            phase, action, stat = _reference(node, None)
            result = lookup(phase, action, stat)
            used[ast.unparse(node)] = result
            if result is None:
                raise NoData(f"{ast.unparse(node)} was not measured")
            return result
        if isinstance(node, ast.BinOp):
            return _ARITH[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp):
            return (not value(node.operand)) if isinstance(node.op, ast.Not) else -value(node.operand)
        if isinstance(node, ast.BoolOp):
            results = [value(v) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.Compare):
            left = value(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = value(right_node)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise ExpectationError(f"cannot evaluate {ast.unparse(node)}")

    return bool(value(expectation.tree)), used

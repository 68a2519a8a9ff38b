"""Safe YAML loading that remembers line numbers, and ${VAR} / ${VAR:-default} expansion.

Mappings load as `LDict` and sequences as `LList`; both know the line of each entry, so every
validation message can name the file and line. Only plain data is built (no Python objects).

Hostile input is bounded: a file that is not UTF-8, larger than MAX_BYTES, nested deeper than
MAX_DEPTH or that expands (through aliases: the "billion laughs") to more than MAX_NODES nodes
gives one Problem with a line instead of a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 512 * 1024  # a scenario is a few KB
MAX_NODES = 10_000  # values built, counting every expansion of an alias; a scenario has hundreds
MAX_DEPTH = 64  # nesting of mappings and sequences; a scenario needs five


@dataclass
class Problem:
    line: int
    where: str  # key path such as journey[1].steps[0].fill
    message: str

    def format(self, path: str) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{path}:{self.line}:{where} {self.message}"


def decode(data: bytes) -> str | Problem:
    """The file's text, or a Problem on the line of the first byte that is not UTF-8."""
    if len(data) > MAX_BYTES:
        return Problem(1, "", f"the file is larger than {MAX_BYTES} bytes: a scenario is a few KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return Problem(line, "", f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} "
                                 "(a scenario is a UTF-8 YAML file)")


def read_source(path: Path) -> str | Problem:
    """Read at most MAX_BYTES (+1, to notice more) and decode; OSError if it cannot be read."""
    with path.open("rb") as f:
        return decode(f.read(MAX_BYTES + 1))


class LDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: dict[str, str], used: set[str]) -> str:
    """Replace ${VAR} and ${VAR:-default}; a missing VAR without default raises KeyError(VAR)."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        used.add(name)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise KeyError(name)
            return default
        return value

    return _ENV.sub(sub, text)


def _unsupported_tag(tag: str) -> str:
    return f"unsupported YAML tag {tag!r}: only plain values are allowed"


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _TooBig(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(line, "", message)


class _Builder:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.env_used: set[str] = set()
        self.loader = yaml.SafeLoader("")
        self.nodes = 0
        self.seen: set[int] = set()  # collection nodes built once: seeing one again is an alias
        self.aliased = False

    def build(self, node: yaml.Node, where: str, depth: int = 0) -> Any:
        line = node.start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_NODES:
            what = "after expanding aliases " if self.aliased else ""
            raise _TooBig(line, f"too many nodes {what}(limit {MAX_NODES}): a scenario is much smaller")
        if depth > MAX_DEPTH:
            raise _TooBig(line, f"nested deeper than {MAX_DEPTH} levels: a scenario is much flatter")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if id(node) in self.seen:
                self.aliased = True
            self.seen.add(id(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            self.problems.append(Problem(line, where, _unsupported_tag(node.tag)))
            return None
        if isinstance(node, yaml.MappingNode):
            out = LDict()
            out.line, out.key_lines = line, {}
            for key_node, value_node in node.value:
                key = self.build(key_node, where, depth + 1)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    self.problems.append(Problem(key_node.start_mark.line + 1, where, f"duplicate key {key!r}"))
                out.key_lines[key] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, f"{where}.{key}" if where else key, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = LList()
            items.line, items.item_lines = line, []
            for i, child in enumerate(node.value):
                items.item_lines.append(child.start_mark.line + 1)
                items.append(self.build(child, f"{where}[{i}]", depth + 1))
            return items
        assert isinstance(node, yaml.ScalarNode)
        try:  # safe scalars only: str, int, float, bool, None
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            self.problems.append(Problem(line, where, _unsupported_tag(node.tag)))
            return None
        if isinstance(value, str) and "${" in value:
            try:
                value = expand_env(value, self.env, self.env_used)
            except KeyError as e:
                self.problems.append(Problem(line, where, f"environment variable {e.args[0]} is not set "
                                             f"(set it, or give a default: ${{{e.args[0]}:-value}})"))
        return value


def load_yaml(text: str, env: dict[str, str] | None = None) -> tuple[Any, list[Problem], set[str]]:
    """Parse text; return (data, problems, names of environment variables used)."""
    if len(text) > MAX_BYTES:
        return None, [Problem(1, "", f"the text is longer than {MAX_BYTES} characters: a scenario is a few KB")], set()
    try:
        too_big = _too_big(text)
        if too_big is not None:
            return None, [too_big], set()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        return None, [Problem(line, "", f"YAML syntax error: {problem}")], set()
    if node is None:
        return None, [Problem(1, "", "the file is empty")], set()
    builder = _Builder(dict(os.environ) if env is None else env)
    try:
        data = builder.build(node, "")
    except _TooBig as e:
        return None, [e.problem], builder.env_used
    return data, builder.problems, builder.env_used


def _too_big(text: str) -> Problem | None:
    """Refuse deep nesting (PyYAML's composer recurses once per level) and too many nodes from the
    (iterative) event stream, before anything is composed, stopping at the first event too many.
    Raises yaml.YAMLError on bad syntax."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:
                return Problem(_line(event), "", f"too many nodes (limit {MAX_NODES}): a scenario is much smaller")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(_line(event), "", f"nested deeper than {MAX_DEPTH} levels: a scenario is much flatter")
    return None


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1

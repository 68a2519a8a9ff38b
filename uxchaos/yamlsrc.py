"""Safe YAML loading that remembers line numbers, and ${VAR} / ${VAR:-default} expansion.

Mappings load as `LDict` and sequences as `LList`; both know the line of each entry, so every
validation message can name the file and line. Only plain data is built (no Python objects)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass
class Problem:
    line: int
    where: str  # key path such as journey[1].steps[0].fill
    message: str

    def format(self, path: str) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{path}:{self.line}:{where} {self.message}"


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


class _Builder:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.env_used: set[str] = set()
        self.loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, where: str) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            self.problems.append(Problem(line, where, _unsupported_tag(node.tag)))
            return None
        if isinstance(node, yaml.MappingNode):
            out = LDict()
            out.line, out.key_lines = line, {}
            for key_node, value_node in node.value:
                key = self.build(key_node, where)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    self.problems.append(Problem(key_node.start_mark.line + 1, where, f"duplicate key {key!r}"))
                out.key_lines[key] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, f"{where}.{key}" if where else key)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = LList()
            items.line, items.item_lines = line, []
            for i, child in enumerate(node.value):
                items.item_lines.append(child.start_mark.line + 1)
                items.append(self.build(child, f"{where}[{i}]"))
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
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        return None, [Problem(line, "", f"YAML syntax error: {problem}")], set()
    if node is None:
        return None, [Problem(1, "", "the file is empty")], set()
    builder = _Builder(dict(os.environ) if env is None else env)
    data = builder.build(node, "")
    return data, builder.problems, builder.env_used

"""Load YAML and remember the line of every key, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[Any, ...]


def load_with_lines(text: str, source: str) -> tuple[Any, dict[Path_, int], list[str]]:
    """Return (data, {path: line}, problems). Duplicate keys are reported as problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        return None, {}, [f"{where}: YAML syntax error: {problem}"]
    lines: dict[Path_, int] = {}
    problems: list[str] = []
    if node is not None:
        _walk(node, (), lines, problems, source)
    return data, lines, problems


def _walk(node: yaml.Node, path: Path_, lines: dict, problems: list[str], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(p) for p in (*path, key))
                problems.append(f"{source}:{line}: {dotted}: duplicate key")
            seen.add(key)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems, source)

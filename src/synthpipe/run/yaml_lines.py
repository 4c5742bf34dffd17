"""Load YAML and remember the line of every key, so errors can point at it.

Recipes are small, but a YAML file can be hostile: an alias that contains itself makes an
infinite structure, and nested aliases ("billion laughs": 9 levels of 9 aliases) expand to
hundreds of millions of nodes from a few hundred bytes. The loader refuses both while it
composes the document, before anything walks or copies it, and names the alias's line.
"""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[Any, ...]

MAX_ALIAS_NODES = 100_000  # nodes that aliases add when expanded; real recipes add a few dozen
MAX_DEPTH = 200  # nesting of mappings and sequences; real recipes nest about 6 deep


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts the nodes aliases add when expanded, and refuses recursive
    aliases, too much expansion and too deep nesting with a marked error."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._open_anchors: set[str] = set()  # anchors whose node is still being composed
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, for finished nodes
        self._alias_nodes = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _error(f"recursive alias *{event.anchor} (the anchor contains itself)", event)
            node = super().compose_node(parent, index)
            self._alias_nodes += _expanded_size(node, self._sizes)
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise _error(
                    f"alias *{event.anchor} takes the aliases past {MAX_ALIAS_NODES:,} expanded "
                    "nodes (aliases nested inside aliases?); write the values out instead",
                    event,
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _error(f"nested more than {MAX_DEPTH} levels deep", event)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)


class RefusedYAML(yaml.composer.ComposerError):
    """Valid YAML the loader will not build (recursive, exploding or too deep)."""


def _error(problem: str, event: yaml.Event) -> RefusedYAML:
    return RefusedYAML(None, None, problem, event.start_mark)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in `node` with aliases expanded (memoised: shared nodes are sized once)."""
    if id(node) not in sizes:
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def safe_load_bounded(text: str) -> Any:
    """`yaml.safe_load` that refuses recursive aliases, alias bombs and deep nesting
    (raises yaml.YAMLError like any other YAML problem)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _compose_bounded(text: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_with_lines(text: str, source: str) -> tuple[Any, dict[Path_, int], list[str]]:
    """Return (data, {path: line}, problems). Duplicate keys are reported as problems."""
    try:
        # composed twice: constructing flattens `<<` merge keys in the node tree, and the
        # line walk below must see the keys as written
        node = _compose_bounded(text)
        data = safe_load_bounded(text)
    except yaml.YAMLError as exc:
        return None, {}, [_describe_error(exc, text, source)]
    lines: dict[Path_, int] = {}
    problems: list[str] = []
    if node is not None:
        _walk(node, (), lines, problems, source)
    return data, lines, problems


def _describe_error(exc: yaml.YAMLError, text: str, source: str) -> str:
    """'source:line: YAML ...: problem' for a YAML error (reader errors carry an offset)."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or b"\0")
        return f"{source}:{line}: YAML syntax error: unacceptable character #x{char:04x}: {exc.reason}"
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark else source
    problem = getattr(exc, "problem", None) or str(exc)
    kind = "YAML refused" if isinstance(exc, RefusedYAML) else "YAML syntax error"
    return f"{where}: {kind}: {problem}"


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

"""`-s key.path=value` overrides, read as the type the recipe schema expects at that path.

A shell argument is text, and most text is not YAML: `-s 'steps.x.prompt=Other prompt:
{{ text }}'` is a prompt, not a mapping. So the schema decides: a string field takes the text
as written; a number, bool, list or mapping field reads it as YAML; a field that takes a string
or something else (`str | None`, `str | list[str]`) reads YAML when that gives one of its other
types and keeps the text otherwise. A path the schema does not know (an unknown key, a step
whose type is unknown) is read as YAML when it can be, else as text, and validation then says
what is wrong with it. Every error names the override.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import get_step_class, suggest
from synthpipe.run.yaml_lines import safe_load_bounded

_ANY = frozenset({str, int, float, bool, list, dict, type(None)})
_NAMES = {str: "text", int: "an integer", float: "a number", bool: "true or false",
          list: "a list", dict: "a mapping", type(None): "null"}  # fmt: skip


def apply_override(data: dict, item: str, schema: type[BaseModel]) -> tuple[str, ...]:
    """Apply `a.b.c=value` to the recipe mapping `data` (validated later by `schema`, the
    recipe model) and return the key path. Raises UsageError naming the override."""
    keys, raw = split_override(item)
    _check_step_name(data, keys, item)
    kinds = accepted_kinds(expected_annotation(data, keys, schema))
    _set(data, keys, parse_value(raw, kinds, item), item)
    return keys


def config_value(config: type[BaseModel], key: str, raw: str, item: str) -> Any:
    """`raw` read as the type of `config`'s field `key` (dotted for nested models), for
    one-shot commands' `--set NAME.KEY=VALUE`; raises UsageError naming `item`."""
    keys = tuple(k for k in key.split(".") if k)
    return parse_value(raw, accepted_kinds(annotation_at(config, keys) if keys else None), item, flag="--set")


def split_override(item: str) -> tuple[tuple[str, ...], str]:
    """('a', 'b', 'c'), 'value' from 'a.b.c=value'."""
    if "=" not in item:
        raise UsageError(f"override {item!r} must look like key.path=value (e.g. steps.generate.n=500)")
    dotted, raw = item.split("=", 1)
    keys = tuple(k for k in dotted.strip().split(".") if k)
    if not keys:
        raise UsageError(f"override {item!r} has an empty key path")
    return keys, raw


def parse_value(raw: str, kinds: frozenset[type], item: str, flag: str = "-s") -> Any:
    """`raw` as one of the Python types `kinds` (see the module docstring)."""
    if not raw.strip():
        return ""
    if kinds == {str}:
        return raw
    try:
        value = safe_load_bounded(raw)
    except yaml.YAMLError as exc:
        if str in kinds:
            return raw
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"override `{flag} {item}`: {raw!r} is not {_describe(kinds)} ({problem}); quote a list "
            "or mapping whole, e.g. -s 'steps.dedup.fields=[text, label]'"
        ) from None
    if str in kinds and (isinstance(value, str) or _kind(value) not in kinds):
        return raw  # text as written: `prompt=yes` stays "yes", `x="a"` keeps its quotes
    return value


def expected_annotation(data: Mapping, keys: tuple[str, ...], schema: type[BaseModel]) -> Any:
    """The type annotation at `keys` (steps are typed by their step's config), or None if unknown."""
    if keys[0] != "steps":
        return annotation_at(schema, keys)
    if len(keys) < 3:
        return dict
    if keys[2] == "step":
        return str if len(keys) == 3 else None
    steps = data.get("steps")
    spec = steps.get(keys[1]) if isinstance(steps, Mapping) else None  # not a mapping: the schema says so
    try:
        cls = get_step_class(str(spec["step"]))
    except (UsageError, KeyError, TypeError):
        return None
    return annotation_at(cls.Config, keys[2:])


def annotation_at(annotation: Any, keys: tuple[str, ...]) -> Any:
    """Follow `keys` through pydantic models and `dict[str, X]` values; None where unknown."""
    for key in keys:
        annotation = _strip(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(key)
            annotation = field.annotation if field is not None else None
        elif get_origin(annotation) is dict:
            args = get_args(annotation)
            annotation = args[1] if args else Any
        elif annotation is Any:
            return Any
        else:
            return None
    return annotation


def accepted_kinds(annotation: Any) -> frozenset[type]:
    """The plain Python types (str, int, float, bool, list, dict, NoneType) a value may take."""
    if annotation is None or annotation is Any:
        return _ANY
    origin = get_origin(annotation)
    if origin is Annotated:
        return accepted_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return frozenset().union(*(accepted_kinds(a) for a in get_args(annotation)))
    if origin is Literal:
        return frozenset(_kind(v) for v in get_args(annotation))
    target = origin or annotation
    if not isinstance(target, type):
        return _ANY
    if target is type(None):
        return frozenset({type(None)})
    if issubclass(target, BaseModel) or issubclass(target, Mapping):
        return frozenset({dict})
    if issubclass(target, str | PurePath):
        return frozenset({str})
    if issubclass(target, bool):
        return frozenset({bool})
    if issubclass(target, int):
        return frozenset({int})
    if issubclass(target, float):
        return frozenset({float, int})
    if issubclass(target, list | tuple | set | frozenset):
        return frozenset({list})
    return _ANY


def _strip(annotation: Any) -> Any:
    """`X` from `X | None` and `Annotated[X, ...]` (the types a path can go through)."""
    if get_origin(annotation) is Annotated:
        return _strip(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _strip(args[0]) if len(args) == 1 else annotation
    return annotation


def _kind(value: Any) -> type:
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind
    return type(None) if value is None else type(value)


def _describe(kinds: frozenset[type]) -> str:
    names = [_NAMES[k] for k in (int, float, bool, list, dict, str, type(None)) if k in kinds]
    return " or ".join(names) or "a valid value"


def _check_step_name(data: Mapping, keys: tuple[str, ...], item: str) -> None:
    """`steps.filtr.min_words=3` is a typo, not a new step (a new step starts with `.step=`)."""
    steps = data.get("steps")
    if keys[0] != "steps" or len(keys) < 3 or keys[2] == "step" or not isinstance(steps, dict):
        return
    if keys[1] not in steps:
        raise UsageError(
            f"override `-s {item}`: the recipe has no step {keys[1]!r}{suggest(keys[1], list(steps))}"
        )


def _set(data: dict, keys: tuple[str, ...], value: Any, item: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise UsageError(f"override {item!r}: {key!r} is not a mapping")
        node = child
    node[keys[-1]] = value

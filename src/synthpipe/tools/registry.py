"""A library of tools described by JSON schemas, optionally backed by Python functions.

Tools use the OpenAI function format, ``{"type": "function", "function": {"name",
"description", "parameters"}}``, or its bare inner object (``"type": "function"`` beside the
name, as in the Responses API, is accepted too). A tool is registered as

- a plain schema: the calls are validated but cannot be executed;
- a Python function with ``@registry.tool``: the schema is derived from the signature and type
  hints (int, float, str, bool, None, list[...], dict[...], Literal, Optional/unions, defaults),
  the docstring's first line is the description and a Google-style ``Args:`` section gives the
  parameter descriptions; or pass ``schema=`` to state it yourself;
- a file of schemas (JSON or YAML: a list, or ``{"tools": [...], "implementations": "mod"}``)
  whose functions live in a module, ``ToolRegistry.from_file(path, implementations="pkg.mod")``.

Every parameters schema is checked against the JSON Schema Draft 2020-12 meta-schema when it
is registered, and an implementation must accept the schema's properties, so a broken library
fails at load time with the tool's name rather than later as a misleading per-record failure.
"""

from __future__ import annotations

import difflib
import importlib.resources
import inspect
import json
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from synthpipe.data.paths import BUNDLED_PREFIX, resolve_data_path
from synthpipe.errors import UsageError
from synthpipe.importing import load_object

BUNDLED_TOOLS = Path(str(importlib.resources.files("synthpipe") / "resources" / "tools"))
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the OpenAI function-name rule
_SCHEMA_KEYS = {"name", "description", "parameters", "strict", "returns"}
_SCALARS: dict[Any, str] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    type(None): "null",
}
_ARG_LINE = re.compile(r"^\s+\**(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:\s*$")


@dataclass(frozen=True)
class Tool:
    """One tool: its name, description, parameters JSON schema and optional implementation."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] | None = field(default=None, compare=False)

    @cached_property
    def validator(self) -> Draft202012Validator:
        """Checks arguments; `format` keywords (date, email, ...) are checked too."""
        return Draft202012Validator(self.parameters, format_checker=FormatChecker())

    def openai_schema(self) -> dict[str, Any]:
        """The tool in the OpenAI ``tools`` format, ready to put in a request."""
        spec = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": spec}


class ToolRegistry:
    """Tools by name. Build one in code, with ``@registry.tool``, or with :meth:`from_file`."""

    def __init__(self, tools: Sequence[Mapping[str, Any]] = ()):
        self._tools: dict[str, Tool] = {}
        for schema in tools:
            self.add_schema(schema)

    # -- registration -----------------------------------------------------------------------
    def add_schema(
        self, schema: Mapping[str, Any], function: Callable[..., Any] | None = None
    ) -> Tool:
        """Register a tool from its schema (OpenAI or bare form); `function` implements it."""
        name, description, parameters = _normalise(schema)
        if name in self._tools:
            raise UsageError(f"tool {name!r} is registered twice")
        if function is not None:
            _check_implementation(name, parameters, function)
        tool = Tool(name, description, parameters, function)
        self._tools[name] = tool
        return tool

    def add(self, tool: Tool) -> Tool:
        """Register a tool already checked by another registry (its validator is reused)."""
        if tool.name in self._tools:
            raise UsageError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        return tool

    def tool(
        self,
        function: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Any:
        """Decorator registering a function: ``@registry.tool`` or ``@registry.tool(name=...)``.

        Without `schema` the parameters schema comes from the signature; the function is
        returned unchanged so it stays callable and importable.
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            spec = dict(schema) if schema is not None else schema_from_function(func)
            if "function" in spec and spec.get("type") == "function":
                spec = dict(spec["function"])
            spec.setdefault("name", func.__name__)
            if name is not None:
                spec["name"] = name
            if description is not None:
                spec["description"] = description
            self.add_schema(spec, function=func)
            return func

        return register(function) if function is not None else register

    def implement(self, name: str, function: Callable[..., Any]) -> None:
        """Attach an implementation to a tool registered from its schema alone."""
        tool = self[name]
        _check_implementation(name, tool.parameters, function)
        self._tools[name] = Tool(tool.name, tool.description, tool.parameters, function)

    @classmethod
    def from_file(cls, path: str | Path, implementations: str | None = None) -> ToolRegistry:
        """Load schemas from a JSON/YAML file; functions come from `implementations`
        (``"pkg.mod"`` or ``"pkg.mod:attr"``, attr being a dict or object of functions), else
        from the file's own ``implementations`` key, else the tools are validate-only.

        A string path may be ``bundled:example_tools.json`` (see :func:`resolve_tools_path`).
        """
        path = resolve_tools_path(path) if isinstance(path, str) else Path(path)
        schemas, file_module = read_library(path)
        module = implementations or file_module
        source = load_implementations(module) if module else None
        registry = cls()
        missing = []
        for index, schema in enumerate(schemas):
            name = _schema_name(schema)
            func = _lookup(source, name) if source is not None and isinstance(name, str) else None
            if source is not None and func is None:
                missing.append(str(name))
            try:
                registry.add_schema(schema, function=func)
            except UsageError as exc:
                raise UsageError(f"{path}: tools[{index}]: {exc}") from None
        if missing:
            raise UsageError(
                f"{path}: {module} implements no function for tool(s) {', '.join(missing)}"
            )
        return registry

    # -- lookup ------------------------------------------------------------------------------
    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        if name not in self._tools:
            raise UsageError(f"unknown tool {name!r}{self.suggestion(name)}")
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """All tools in the OpenAI ``tools`` format (what a generator prompts a model with)."""
        return [tool.openai_schema() for tool in self]

    def suggestion(self, name: str) -> str:
        """``"; did you mean 'x'?"`` for a near name, else the known names (for messages)."""
        close = difflib.get_close_matches(name, self.names, n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]!r}?"
        known = ", ".join(self.names[:12]) + (", ..." if len(self) > 12 else "")
        return f"; known tools: {known or 'none'}"


# -- schema derivation ----------------------------------------------------------------------------
def schema_from_function(func: Callable[..., Any]) -> dict[str, Any]:
    """The bare tool schema (name, description, parameters) of a function's signature."""
    try:
        hints = get_type_hints(func)
    except NameError as exc:  # e.g. a hint imported under TYPE_CHECKING or inside a function
        raise UsageError(
            f"tool {func.__name__!r}: cannot resolve its type hints ({exc}); pass schema= instead"
        ) from None
    doc = inspect.getdoc(func) or ""
    arg_docs = _docstring_args(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for param in inspect.signature(func).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise UsageError(
                f"tool {func.__name__!r}: parameter {param.name!r} cannot be passed by keyword; "
                "tools are called with keyword arguments"
            )
        try:
            prop = type_schema(hints.get(param.name, Any))
        except TypeError as exc:
            raise UsageError(
                f"tool {func.__name__!r}: parameter {param.name!r}: {exc}; pass schema= instead"
            ) from None
        if param.name in arg_docs:
            prop["description"] = arg_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json(param.default):
            prop["default"] = param.default
        properties[param.name] = prop
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if not open_ended:
        parameters["additionalProperties"] = False  # an invented argument is a format error
    description = doc.split("\n\n")[0].strip().splitlines()[0] if doc.strip() else ""
    return {"name": func.__name__, "description": description, "parameters": parameters}


def type_schema(hint: Any) -> dict[str, Any]:
    """JSON schema of one type hint; TypeError for types JSON cannot carry."""
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        schema: dict[str, Any] = {"enum": list(args)}
        kinds = {_SCALARS.get(type(value)) for value in args}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin in (Union, types.UnionType):
        return {"anyOf": [type_schema(arg) for arg in args]}
    if hint is list or origin in (list, Sequence):
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if hint is dict or origin in (dict, Mapping):
        if args and args[0] is not str:
            raise TypeError(f"JSON object keys are strings, not {args[0]!r}")
        return (
            {"type": "object", "additionalProperties": type_schema(args[1])}
            if args
            else {"type": "object"}
        )
    raise TypeError(f"no JSON schema for type {hint!r}")


def _docstring_args(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    found: dict[str, str] = {}
    in_section, current = False, None
    for line in doc.splitlines():
        if _SECTION.match(line):
            in_section = True
            continue
        if not in_section:
            continue
        if not line.strip() or not line[:1].isspace():
            break  # a blank line or the next section ends it
        if match := _ARG_LINE.match(line):
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current:
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


# -- validation of schemas and implementations -----------------------------------------------
def _normalise(schema: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(name, description, parameters) of an OpenAI-form or bare schema, after checking it."""
    if not isinstance(schema, Mapping):
        raise UsageError(f"a tool schema must be an object, got {type(schema).__name__}")
    if schema.get("type") == "function" and isinstance(schema.get("function"), Mapping):
        schema = schema["function"]
    name = schema.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"tool schema has no valid 'name' (1-64 letters, digits, _ . -): {name!r}")
    for key in schema:
        if key not in _SCHEMA_KEYS and not (key == "type" and schema[key] == "function"):
            close = difflib.get_close_matches(key, sorted(_SCHEMA_KEYS), n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; allowed: {', '.join(sorted(_SCHEMA_KEYS))}"
            )
            raise UsageError(f"tool {name!r}: unknown key {key!r}{hint}")
    description = schema.get("description", "")
    if not isinstance(description, str):
        raise UsageError(f"tool {name!r}: 'description' must be a string")
    parameters = schema.get("parameters", {"type": "object", "properties": {}})
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        where = ".".join(["parameters", *map(str, exc.absolute_path)])
        raise UsageError(f"tool {name!r}: invalid JSON schema at {where}: {exc.message}") from None
    if not isinstance(parameters, Mapping) or parameters.get("type") != "object":
        raise UsageError(
            f"tool {name!r}: 'parameters' must be a schema of type 'object' (the arguments)"
        )
    return name, description, dict(parameters)


def _check_implementation(
    name: str, parameters: Mapping[str, Any], func: Callable[..., Any]
) -> None:
    """The function must accept every schema property and need no argument the schema lacks."""
    if not callable(func):
        raise UsageError(f"tool {name!r}: implementation {func!r} is not callable")
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return  # builtins without a signature: trust the schema
    properties = set(parameters.get("properties", {}))
    keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    label = getattr(func, "__qualname__", repr(func))
    if not any(p.kind is p.VAR_KEYWORD for p in params) and (extra := sorted(properties - keyword)):
        raise UsageError(
            f"tool {name!r}: implementation {label} has no parameter(s) {', '.join(extra)}"
        )
    needed = sorted(
        p.name
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in properties
    )
    if needed:
        raise UsageError(
            f"tool {name!r}: implementation {label} needs {', '.join(needed)}, "
            "which the schema does not define"
        )


# -- files and modules ------------------------------------------------------------------------
def resolve_tools_path(path: str, base_dir: Path | None = None) -> Path:
    """A registry file path: ``bundled:NAME`` is looked up among the tool libraries shipped in
    ``resources/tools`` and then, like every other path, by :func:`resolve_data_path`."""
    if not path.startswith(BUNDLED_PREFIX):
        return resolve_data_path(path, base_dir)
    relative = path[len(BUNDLED_PREFIX) :].strip("/")
    candidate = BUNDLED_TOOLS / relative
    if (
        relative
        and candidate.is_file()
        and candidate.resolve().is_relative_to(BUNDLED_TOOLS.resolve())
    ):
        return candidate
    try:
        return resolve_data_path(path)  # a tool file among the bundled data files
    except UsageError:
        shipped = sorted(p.name for p in BUNDLED_TOOLS.glob("*.json"))
        listing = ", ".join(f"bundled:{name}" for name in shipped) or "none"
        raise UsageError(
            f"no bundled tool library {relative!r}; bundled ones are: {listing}"
        ) from None


def read_library(path: Path) -> tuple[list[Any], str | None]:
    """(tool schemas, implementations module named in the file) of a registry file."""
    if not path.is_file():
        raise UsageError(f"tool registry file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"tool registry file {path} does not parse: {exc}") from None
    if isinstance(data, Mapping) and "tools" in data:
        module = data.get("implementations")
        if module is not None and not isinstance(module, str):
            raise UsageError(f"{path}: 'implementations' must be a module path string")
        data, file_module = data["tools"], module
    else:
        file_module = None
    if isinstance(data, Mapping):
        data = [data]  # a file holding one tool
    if not isinstance(data, list) or not data:
        raise UsageError(
            f'{path}: expected a non-empty list of tool schemas (or {{"tools": [...]}})'
        )
    return data, file_module


def load_implementations(spec: str) -> Any:
    """The module (or its attribute, for ``"pkg.mod:attr"``) that holds tool functions."""
    return load_object(spec, what="tool implementations")


def _schema_name(schema: Any) -> Any:
    if isinstance(schema, Mapping) and isinstance(schema.get("function"), Mapping):
        schema = schema["function"]
    return schema.get("name") if isinstance(schema, Mapping) else None


def _lookup(source: Any, name: str) -> Callable[..., Any] | None:
    func = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    return func if callable(func) else None

"""Before a run: does every prompt template use only variables its step gives it?

A template with a typo (`{{ questoin }}`) renders fine until the first request, and then every
record fails. So at load, each template a recipe sets (an inline `prompt:`/`system:`, or a
file given by `template:`, `templates: {role: file}` or `<role>_template:`) is parsed and its
free variables are compared with what the step renders it with:

- a step that renders the record itself (`llm_generate`: every field plus `config`) gives the
  fields records may carry at that step (`run.columns`); unknown fields turn the check off;
- a step may declare the names it gives each role in a class attribute
  ``template_variables = {role: (name, ...)}``, where the name ``"**record"`` stands for the
  record's fields;
- any other template is not checked: a false alarm costs more than a missed one.

Names the template defines itself (`{% set %}`, loop variables, macros) and names it guards
(`x is defined`, `x | default(...)`) are never reported. Bundled templates are trusted. A
syntax error in a template is reported too, with its line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from synthpipe.generate.task import LLMCalls, LLMTask
from synthpipe.pipeline.step import Step
from synthpipe.run.columns import MissingColumn, columns_before

RECORD_FIELDS = "**record"  # in `template_variables`: the record's fields are given too
INLINE_KEYS = ("system", "prompt")  # config options holding the main role's template text


@dataclass(frozen=True)
class TemplateSource:
    """One template a recipe sets: its text, the recipe key that sets it, and its file (if any)."""

    role: str
    text: str
    key: tuple[str, ...]
    file: Path | None = None


def template_problems(
    specs: Mapping[str, Mapping[str, Any]], steps: Mapping[str, Step], where: Callable[[tuple], str]
) -> list[str]:
    """One message per undefined variable or syntax error in a template the recipe sets."""
    problems = []
    for name, fields in columns_before(steps).items():
        step = steps[name]
        if not isinstance(step, LLMCalls):
            continue
        for source in recipe_templates(step):
            located = where(("steps", name, *source.key))
            problems += _check(name, specs[name], step, source, fields, located)
    return problems


def recipe_templates(step: LLMCalls) -> list[TemplateSource]:
    """The templates the step's config sets (not the bundled ones), readable ones only."""
    cfg = step.config
    found = []
    inline = [k for k in INLINE_KEYS if isinstance(getattr(cfg, k, None), str)]
    for key in inline:
        found.append(TemplateSource(step.main_role, getattr(cfg, key), (key,)))
    for role in step.template_roles():
        key = _override_key(step, role)
        if key is None or (role == step.main_role and "prompt" in inline):
            continue
        path = step.template_path(role)
        try:
            found.append(TemplateSource(role, path.read_text(encoding="utf-8"), key, path))
        except (OSError, UnicodeDecodeError):
            continue  # a missing file is reported when the step reads it
    return found


def provided_names(step: LLMCalls, role: str, fields: frozenset[str] | None) -> set[str] | None:
    """The names `step` renders the template of `role` with, or None if unknown."""
    declared = (getattr(step, "template_variables", None) or {}).get(role)
    if declared is None and role == step.main_role and _renders_record(step):
        declared = (RECORD_FIELDS, "config")
    if declared is None:
        return None
    names = set(declared) - {RECORD_FIELDS}
    if RECORD_FIELDS in declared:
        if fields is None:
            return None
        names |= fields
    return names


def undefined_names(text: str) -> dict[str, int]:
    """Free variables of a Jinja2 template -> the line each first appears on (see the module
    docstring for the names left out). Raises jinja2.TemplateSyntaxError."""
    from jinja2 import meta, nodes

    env = _environment()
    tree = env.parse(text)
    free = meta.find_undeclared_variables(tree)  # scoping as Jinja2 sees it (`loop` ...)
    defined = {n.name for n in tree.find_all(nodes.Name) if n.ctx != "load"}
    defined |= {n.name for n in tree.find_all(nodes.Macro)}
    defined |= {t.node.name for t in tree.find_all(nodes.Test) if t.name in ("defined", "undefined")
                and isinstance(t.node, nodes.Name)}  # fmt: skip
    defined |= {f.node.name for f in tree.find_all(nodes.Filter) if f.name in ("default", "d")
                and isinstance(f.node, nodes.Name)}  # fmt: skip
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in free and node.name not in defined and node.name not in env.globals:
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    return lines


def _check(
    name: str, spec: Mapping[str, Any], step: LLMCalls, source: TemplateSource,
    fields: frozenset[str] | None, located: str,
) -> list[str]:  # fmt: skip
    from jinja2 import TemplateSyntaxError

    try:
        used = undefined_names(source.text)
    except TemplateSyntaxError as exc:
        return [f"{_at(source, located, exc.lineno)}: template syntax error: {exc.message}"]
    given = provided_names(step, source.role, fields)
    if given is None:
        return []
    problems = []
    for variable, line in sorted(used.items(), key=lambda kv: kv[1]):
        if variable in given:
            continue
        what = f"step {name!r} ({spec.get('step')})"
        problems.append(
            f"{_at(source, located, line)}: the template uses {{{{ {variable} }}}}, which {what} "
            f"does not give it{_hint(step, source.role, variable, given, fields)}"
        )
    return problems


def _at(source: TemplateSource, located: str, line: int | None) -> str:
    """'file:line (template of: recipe location)' for a file; the recipe location otherwise."""
    if source.file is not None:
        return f"{source.file}:{line or 1} (set at {located})"
    several = source.text.count("\n") > 0
    return f"{located} (line {line} of the template)" if several and line else located


def _hint(step: LLMCalls, role: str, variable: str, given: set[str], fields: frozenset[str] | None) -> str:
    declared = (getattr(step, "template_variables", None) or {}).get(role)
    if fields is not None and (declared is None or RECORD_FIELDS in declared):
        gap = MissingColumn("", variable, fields | (given - fields))
        return f": no earlier step provides a field {variable!r}{gap.hint()}"
    shown = ", ".join(sorted(given))
    return f" (it gives: {shown})"


def _override_key(step: LLMCalls, role: str) -> tuple[str, ...] | None:
    """The config key replacing `role`'s bundled template (as `LLMCalls.template_path` reads it)."""
    cfg = step.config
    if (getattr(cfg, "templates", None) or {}).get(role):
        return ("templates", role)
    if getattr(cfg, f"{role}_template", None):
        return (f"{role}_template",)
    if role == step.main_role and getattr(cfg, "template", None):
        return ("template",)
    return None


def _renders_record(step: LLMCalls) -> bool:
    """Does the step render its main template with the record's fields (and `config`)?"""
    return isinstance(step, LLMTask) and type(step).format_input is LLMTask.format_input


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment

    return Environment(trim_blocks=True, lstrip_blocks=True)

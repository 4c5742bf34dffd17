"""Reading a plan out of model output: PDDL-style lines or plain English, numbered or not.

Accepted, one action per line (several PDDL actions may share a line)::

    (unstack b a)                      PDDL style, as PlanBench's ground-truth plans
    1. unstack the b block from on top of the a block
    - drive t1 from l1-1 to l1-2 in c1

Text inside ``[PLAN]`` ... ``[PLAN END]`` is read when those markers are present (PlanBench's
prompt format); code fences are ignored. Prose before the first action and after the last one
is skipped (an intro, a closing remark), but a line between two actions must be an action: a
plan with an unreadable step is rejected rather than silently shortened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from synthpipe.tools.planning.domain import Action, Domain, Problem
from synthpipe.tools.planning.domains import get_domain

_PDDL = re.compile(r"\(([^()]*)\)")
_BULLET = re.compile(r"^\s*(?:step\s*\d+\s*[:.)-]?|\d+\s*[.):-]|[-*\u2022]|#+)\s*", re.IGNORECASE)
_LEAD = ("then", "next", "first", "finally", "and", "now", "lastly", "after", "that")
_MARKED = re.compile(r"\[PLAN\](.*?)(?:\[PLAN END\]|\Z)", re.DOTALL | re.IGNORECASE)


class PlanParseError(ValueError):
    """The text is not a plan: `message` says why, `line` (1-based) where, or 0 for the whole."""

    def __init__(self, message: str, line: int = 0, text: str = ""):
        super().__init__(f"line {line}: {message}" if line else message)
        self.message, self.line, self.text = message, line, text

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "text": self.text, "error": self.message}


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    actions: list[Action] | None  # None: not an action line; []: a blank or fence line
    error: str | None = None  # an action line that names a wrong action or object


def parse_plan(text: str, problem: Problem) -> list[Action]:
    """The actions `text` states, checked against the problem's action names, arities, objects
    and types (not against preconditions: that is the validator's job)."""
    if not isinstance(text, str) or not text.strip():
        raise PlanParseError("the plan is empty")
    marked = _MARKED.search(text)
    body = marked.group(1) if marked else text
    first = text[: marked.start(1)].count("\n") + 1 if marked else 1  # line numbers of `text`
    domain = get_domain(problem.domain)
    lines = [_read_line(n, raw, problem, domain) for n, raw in enumerate(body.splitlines(), first)]
    steps = [i for i, line in enumerate(lines) if line.actions]
    if not steps:
        raise PlanParseError(f"no {problem.domain} action found (e.g. {_example(problem)})")
    actions: list[Action] = []
    for line in lines[steps[0] : steps[-1] + 1]:
        if line.error:
            raise PlanParseError(line.error, line.number, line.text)
        if line.actions is None:
            raise PlanParseError("not an action, between two actions", line.number, line.text)
        actions.extend(line.actions)
    return actions


def _read_line(number: int, raw: str, problem: Problem, domain: Domain) -> _Line:
    stripped = raw.strip()
    if not stripped or stripped.startswith("```"):  # blank and fence lines may go anywhere
        return _Line(number, stripped, [])
    body = _BULLET.sub("", stripped.replace("**", "").replace("__", ""), count=1)
    body = body.strip().rstrip(".;,")
    # "(unstack b a)", also after a label ("1) Unstack: (unstack b a)"); else plain English
    pddl = [a for a in (_pddl(g, problem, domain) for g in _PDDL.findall(body)) if a]
    action = None if pddl else domain.read_text(_words(body), problem)
    if not pddl and action is None:  # prose, or a verb the domain does not have
        return _Line(number, stripped, None)
    actions = pddl or [action]
    for action in actions:
        problem_text = domain.check_args(problem, action)
        if problem_text:
            return _Line(number, stripped, actions, problem_text)
    return _Line(number, stripped, actions)


def _pddl(group: str, problem: Problem, domain: Domain) -> Action | None:
    tokens = group.lower().replace(",", " ").split()
    if not tokens:
        return None
    verb = domain.aliases().get(tokens[0], tokens[0].replace("_", "-"))
    if verb in domain.signatures:
        return Action(verb, tuple(tokens[1:]))
    return domain.read_text(tokens, problem)  # "(pick up a)", "(load p1 t1 l1-1)"


def _words(body: str) -> list[str]:
    words = [w.strip(".,;:!?\"'`*()") for w in body.lower().split()]
    words = [w for w in words if w]
    while words and words[0] in _LEAD:  # "then stack ...", "after that, ..."
        words.pop(0)
    return words


def _example(problem: Problem) -> str:
    return "(unstack b a)" if problem.domain == "blocksworld" else "(load-truck p1 t1 l1-1)"

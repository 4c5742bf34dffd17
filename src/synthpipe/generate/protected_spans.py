"""Spans a translation must not touch, swapped for sentinel tokens around the LLM call.

Code, placeholders and numbers are not language: a translator that "translates" ``{name}``
into ``{nom}`` or rewrites ``3.5`` as ``3,5`` breaks the data. :func:`protect` replaces each
protected span with a numbered sentinel (``⟦1⟧``, ``⟦2⟧`` ...; rare brackets that models copy
through), the prompt asks to copy the sentinels unchanged, and :func:`restore` puts the spans
back, reporting every sentinel the reply lost, repeated or invented.

Kinds (``PATTERNS``, matched in this order, the first match wins):

- ``code``: fenced blocks (```` ``` ... ``` ````) and inline code (`` `x` ``);
- ``urls``: ``http(s)://`` links (trailing punctuation left out);
- ``placeholders``: ``{{ x }}`` / ``{% x %}`` (Jinja, Mustache), ``{name}``, ``{0}``, ``{}``,
  ``${VAR}``, printf ``%s`` / ``%(name)s`` / ``%.2f``;
- ``tags``: HTML/XML tags such as ``<b>``, ``</b>``, ``<br/>``, ``<a href="...">``;
- ``numbers``: digit groups such as ``42``, ``3.5``, ``1,000``, ``12:30`` not glued to letters.

Text that already contains something shaped like a sentinel has it protected too, so it can
never be confused with ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATTERNS: dict[str, str] = {
    "code": r"```.*?(?:```|\Z)|`[^`\n]+`",
    "urls": r"https?://[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]]",
    "placeholders": (
        r"\{\{.*?\}\}|\{%.*?%\}|\$\{[^{}\s]+\}|\{(?:[A-Za-z_][\w.]*|\d*)(?:![rsa])?(?::[^{}\s]*)?\}"
        r"|%(?:\([\w]+\))?[-+#0]*\d*(?:\.\d+)?[sdifgeExXoc]"
    ),
    "tags": r"</?[A-Za-z][\w:-]*(?:\s+[^<>]*?)?\s*/?>",
    "numbers": r"(?<![^\W\d_])(?<![\d.,])\d+(?:[.,:/]\d+)*(?![^\W\d_])",
}
KINDS = tuple(PATTERNS)
_SENTINEL_SHAPE = r"⟦\s*\d+\s*⟧"
_SENTINEL = re.compile(r"⟦\s*(\d+)\s*⟧")


def sentinel(number: int) -> str:
    return f"⟦{number}⟧"


@dataclass(frozen=True)
class Protected:
    """A text with its protected spans replaced: ``text`` holds ``⟦1⟧``... for ``spans``."""

    text: str
    spans: tuple[str, ...]

    @property
    def has_prose(self) -> bool:
        """True if anything but sentinels, spaces and punctuation is left to translate."""
        return any(ch.isalpha() for ch in _SENTINEL.sub(" ", self.text))


def _pattern(kinds: tuple[str, ...]) -> re.Pattern[str]:
    unknown = sorted(set(kinds) - set(PATTERNS))
    if unknown:
        raise ValueError(f"unknown protected kind(s) {unknown}; kinds are {list(KINDS)}")
    parts = [_SENTINEL_SHAPE, *(PATTERNS[k] for k in KINDS if k in kinds)]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL)


def protect(text: str, kinds: tuple[str, ...] = KINDS) -> Protected:
    """`text` with every span of `kinds` replaced by a numbered sentinel."""
    spans: list[str] = []

    def swap(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return sentinel(len(spans))

    return Protected(_pattern(tuple(kinds)).sub(swap, text), tuple(spans))


def restore(reply: str, spans: tuple[str, ...]) -> tuple[str, list[str]]:
    """(`reply` with the spans back in place of their sentinels, problems).

    A problem is a sentinel the reply lost (unless the span itself is there verbatim: the model
    restored it), repeated, or that was never sent; each names the sentinel and its span.
    Unknown sentinels are left as they are.
    """
    seen: dict[int, int] = {}
    for match in _SENTINEL.finditer(reply):
        number = int(match.group(1))
        seen[number] = seen.get(number, 0) + 1
    problems = []
    bare = _SENTINEL.sub(" ", reply)
    for number, span in enumerate(spans, start=1):
        count = seen.get(number, 0)
        if count == 0 and span not in bare:
            problems.append(f"lost {sentinel(number)} ({span[:80]!r})")
        elif count > 1:
            problems.append(f"repeated {sentinel(number)} ({span[:80]!r}) {count} times")
    problems += [f"invented {sentinel(n)}" for n in sorted(seen) if not 1 <= n <= len(spans)]

    def back(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return spans[number - 1] if 1 <= number <= len(spans) else match.group(0)

    return _SENTINEL.sub(back, reply), problems


def prose(text: str, kinds: tuple[str, ...] = KINDS) -> str:
    """`text` without its protected spans (what a round-trip score should compare)."""
    return " ".join(_SENTINEL.sub(" ", protect(text, kinds).text).split())

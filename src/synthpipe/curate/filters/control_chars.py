"""Escape and control characters that leaked into text (AlpacaDataCleaned's "extraneous escape
and control characters").

:func:`control_char_finding` returns what it found, or None:

- C0 and C1 control characters other than tab, newline and carriage return (BEL ``\\x07``,
  backspace, ``\\x1b`` escape sequences...), and DEL;
- invisible format characters: zero-width space (U+200B), word joiner (U+2060), byte-order mark
  (U+FEFF), bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069). A zero-width
  joiner or non-joiner (U+200D, U+200C) counts only between two ASCII letters: in emoji
  sequences and in Persian or Indic script they are part of the text;
- escape sequences written out in prose, where a JSON or Python string was pasted twice:
  ``\\n``, ``\\t`` or ``\\r`` followed by another escape, a capital, a digit, a list marker or
  the end of the text (``"First.\\nThe next"``), three or more of them anywhere, or ``\\uXXXX``
  / ``\\xXX`` codes. Code is left out first (fenced blocks, inline code, and the whole text
  when it is bare code, see :mod:`.code_text`), since ``print("a\\nb")`` is correct there;
  a lone ``\\n`` before a lower-case word is not counted either (``\\neq``, ``\\nabla``: LaTeX).
"""

from __future__ import annotations

import re
import unicodedata

from synthpipe.curate.filters.code_text import is_bare_code, prose_part

_INVISIBLE = {
    "\u200b": "zero-width space",
    "\u2060": "word joiner",
    "\ufeff": "byte-order mark",
    **{chr(c): "bidirectional control" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}
_JOINER_IN_LATIN = re.compile(r"[A-Za-z][\u200c\u200d][A-Za-z]")
_LINE_BREAK_ESCAPE = re.compile(r"\\[ntr](?=\\[ntr\"']|[A-Z0-9\-*•#(\[]|\s*$)")
_ANY_ESCAPE = re.compile(r"\\[ntr](?![a-z])")  # not LaTeX: \\neq, \\times, \\rho
_CODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}")
_MANY_ESCAPES = 3


def control_char_finding(text: str, code: bool | None = None) -> str | None:
    """What leaked into `text` (e.g. ``"U+0007 BEL"``, ``"literal '\\\\n' in prose"``), or None.

    `code`: True if `text` is code (only characters are checked, not escapes); None decides
    with :func:`~synthpipe.curate.filters.code_text.is_bare_code`.
    """
    found = _control_character(text) or _invisible_character(text)
    if found:
        return found
    if code is None:
        code = is_bare_code(text)
    return None if code else _escape_in_prose(prose_part(text))


def _control_character(text: str) -> str | None:
    for char in text:
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) == "Cc":
            name = unicodedata.name(char, None) or _C0_NAMES.get(ord(char), "control")
            return f"U+{ord(char):04X} {name}"
    return None


def _invisible_character(text: str) -> str | None:
    for char, name in _INVISIBLE.items():
        if char in text:
            return f"U+{ord(char):04X} {name}"
    match = _JOINER_IN_LATIN.search(text)
    if match:
        return f"U+{ord(match.group(0)[1]):04X} zero-width joiner inside a word"
    return None


def _escape_in_prose(prose: str) -> str | None:
    match = _LINE_BREAK_ESCAPE.search(prose) or _CODE_ESCAPE.search(prose)
    if match:
        return f"literal {match.group(0)!r} in prose"
    escapes = _ANY_ESCAPE.findall(prose)
    if len(escapes) >= _MANY_ESCAPES:
        return f"{len(escapes)} literal escapes ({escapes[0]!r}) in prose"
    return None


_C0_NAMES = {
    0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED",
    0x1B: "ESCAPE", 0x7F: "DELETE",
}  # fmt: skip

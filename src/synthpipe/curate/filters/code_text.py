"""Telling code from prose, for the filters that must treat them differently.

Code is not symbol soup and a ``"\\n"`` inside a string literal is not an escape leak, so the
instruction-data checks first take code out: fenced blocks (```` ``` ```` / ``~~~``), inline
code spans, and, for a response written as bare code (MBPP's ``code`` field, a function with no
fence), the whole text when most of its lines look like code.

A line *looks like code* when it has one of the marks programming languages share and prose
rarely has: a keyword that opens a definition or statement (``def``, ``class``, ``return``,
``import``, ``function``, ``#include``, ``public``...), a line ending in ``;``, ``{`` or ``}``,
an assignment or comparison between identifiers (``x = 3``, ``a == b``), a call with brackets
(``print(x)``), an HTML/XML tag, or a SQL clause (``SELECT ... FROM``).
"""

from __future__ import annotations

import re

FENCED_BLOCK = re.compile(r"^[ \t]*(```|~~~)([^\n]*)\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_OPEN_FENCE_TO_END = re.compile(r"^[ \t]*(?:```|~~~).*\Z", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_CODE_LINE = re.compile(
    r"^\s*(?:def|class|return|import|from\s+\S+\s+import|function|var|let|const|public|private|"
    r"static|void|int|float|double|char|bool|string|package|func|fn|impl|struct|enum|#include|"
    r"#define|using|namespace|if\s*\(|for\s*\(|while\s*\(|elif|else:|try:|except|catch|"
    r"print\(|console\.|echo\s|SELECT\s|INSERT\s|UPDATE\s|DELETE\s|CREATE\s+TABLE)\b"
    r"|[;{}]\s*$|^\s*[}\])]"
    r"|^\s*[A-Za-z_][\w.\[\]]*\s*(?:[-+*/%]?=|==|!=|<=|>=|:=|\+\+|--)\s*\S"
    r"|\b[A-Za-z_]\w*\([^()\n]*\)\s*(?::|;|$)"
    r"|^\s*</?[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>"
    r"|^\s*(?:@\w+|\$\s\w|>>>\s)",
    re.IGNORECASE,
)

_SYMBOL_DENSE = re.compile(r"(?:^|\s)(?=\S*[\\^$*+?|\[\]{}()])(?:\S*?[\\^$*+?|\[\]{}()./]){4,}\S*")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of each closed fenced block, e.g. ``("python", "print(1)\\n")``."""
    return [(m.group(2).strip(), m.group(3)) for m in FENCED_BLOCK.finditer(text)]


def code_line_fraction(text: str) -> float:
    """Share of non-blank lines that look like code (see the module docstring)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return 0.0
    return sum(bool(_CODE_LINE.search(line)) for line in lines) / len(lines)


def has_code(text: str) -> bool:
    """True if `text` holds a fenced block, inline code, a line that looks like code, or a
    symbol-dense token such as a regex (``^[0-9].*\\s$``)."""
    if FENCED_BLOCK.search(text) or _INLINE_CODE.search(text):
        return True
    lines = [line for line in text.splitlines() if line.strip()]
    return any(_CODE_LINE.search(line) for line in lines) or any(map(_SYMBOL_DENSE.search, lines))


def is_bare_code(text: str, min_fraction: float = 0.5) -> bool:
    """True if `text` is code without a fence: at least `min_fraction` of its lines look like code."""
    return code_line_fraction(text) >= min_fraction


def prose_part(text: str) -> str:
    """`text` without fenced blocks (closed, or open to the end) and inline code spans."""
    text = FENCED_BLOCK.sub(" ", text)
    text = _OPEN_FENCE_TO_END.sub(" ", text)
    return _INLINE_CODE.sub(" ", text)

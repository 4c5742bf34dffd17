"""Final-answer extraction from free text, and plain-number parsing.

`extract_answer` looks for, in this order, and takes the last occurrence of the first kind
found:

1. ``gsm8k``: a GSM8K-style ``#### 42`` line (Cobbe et al. 2021, "Training Verifiers to
   Solve Math Word Problems");
2. ``boxed``: LaTeX ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces (the MATH
   convention, Hendrycks et al. 2021);
3. ``answer_phrase``: "the answer is X", "final answer: X", "Answer: X" (to the end of
   the sentence; a number followed by words keeps the number);
4. ``last_number``: the last number in the text (callers can turn this off; it is the
   usual GSM8K fallback but guesses on texts that never state an answer).

Answers that are plain numbers are normalised so equal numbers read the same: "1,000" ->
"1000", "$18.00" -> "18", "-0.50" -> "-0.5", "18 dollars" -> "18"; fractions keep their form
("3/4"), percentages keep their sign ("25%"; `answers_match` decides what a percentage
equals). Anything else (LaTeX, expressions, words) is returned stripped of ``$...$``
delimiters and a trailing period, for the symbolic check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["ExtractedAnswer", "ParsedNumber", "clean_answer", "extract_answer", "parse_number"]


@dataclass(frozen=True)
class ExtractedAnswer:
    """An answer found in a text: its normalised `text` and how it was found (`method`)."""

    text: str
    method: str  # gsm8k | boxed | answer_phrase | last_number


@dataclass(frozen=True)
class ParsedNumber:
    """A plain number as written: its value, whether it carried ``%``, and canonical text."""

    value: Fraction
    percent: bool
    text: str


# -- numbers --------------------------------------------------------------------------------
_MAGNITUDE = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_NUMBER_RE = re.compile(
    r"""^(?P<sign1>[-+−])?\s*(?P<currency>[$£€])?\s*(?P<sign2>[-+−])?\s*
    (?:(?P<whole>\d+)[ \t]+(?=\d+\s*/\s*\d))?(?P<num>MAG)(?P<exp>[eE][-+]?\d+)?
    (?:\s*/\s*(?P<den>MAG))?
    \s*(?P<pct>%)?
    (?P<unit>\s*[A-Za-z][A-Za-z .'/-]*?(?:\^\{?[23]\}?)?)?$""".replace("MAG", _MAGNITUDE),
    re.X,
)
# words that make "2 pi" or "3 times 4" an expression, not a number with a unit
_NOT_UNITS = {
    "pi", "sqrt", "e", "i", "ln", "log", "sin", "cos", "tan", "x", "y", "z", "n", "times",
    "plus", "minus", "over", "divided", "multiplied", "squared", "cubed", "and", "or", "to",
}  # fmt: skip
_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|mathbf|operatorname)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°")


def _unlatex_number(text: str) -> str:
    """Undo the LaTeX that dresses up plain numbers: \\$, \\%, {,}, \\text{ units}, ^\\circ."""
    text = _LATEX_WRAPPERS.sub(r" \1", text)
    text = _DEGREES.sub("", text)
    for old, new in (("{,}", ","), ("\\,", ""), ("\\!", ""), ("\\ ", " "), ("\\$", "$"),
                     ("\\%", "%"), ("\\left", ""), ("\\right", "")):  # fmt: skip
        text = text.replace(old, new)
    return text.strip()


def _format_decimal(d: Decimal) -> str:
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def parse_number_full(text: str) -> ParsedNumber | None:
    """Parse `text` if it is one plain number (with optional sign, currency, %, unit words)."""
    s = _unlatex_number(strip_delimiters(text))
    match = _NUMBER_RE.match(s)
    if match is None:
        return None
    unit = (match["unit"] or "").strip()
    if unit and (unit.split()[0].lower() in _NOT_UNITS or
                 any(w.lower() in _NOT_UNITS for w in unit.split()[1:])):  # fmt: skip
        return None
    if unit and not match["unit"][0].isspace() and len(unit) < 2:  # "2x", "3i": not units
        return None
    try:
        num = Decimal(match["num"].replace(",", "") + (match["exp"] or ""))
        den = Decimal(match["den"].replace(",", "")) if match["den"] else None
    except InvalidOperation:
        return None
    if den == 0:
        return None
    negative = sum(1 for g in (match["sign1"], match["sign2"]) if g in ("-", "−")) % 2 == 1
    value = Fraction(num) / (Fraction(den) if den is not None else 1) + int(match["whole"] or 0)
    value = -value if negative else value
    body = _format_decimal(num) + (f"/{_format_decimal(den)}" if den is not None else "")
    if match["whole"]:  # mixed number "2 1/2"
        body = f"{int(match['whole'])} {body}"
    sign = "-" if negative and value != 0 else ""
    return ParsedNumber(value, bool(match["pct"]), sign + body + ("%" if match["pct"] else ""))


def parse_number(text: str) -> Fraction | None:
    """The exact value of a plain-number answer, or None if `text` is not one.

    Handles thousands commas, currency ($ £ €), signs (also U+2212), decimals, exponents,
    fractions ("3/4"), trailing unit words ("18 dollars", "5 cm") and LaTeX dressing
    (``\\$18``, ``1{,}000``, ``\\text{ cm}``). A trailing ``%`` is read like a unit:
    "25%" -> 25 (see `answers_match` for how percentages compare).
    """
    parsed = parse_number_full(text)
    return None if parsed is None else parsed.value


# -- cleaning ---------------------------------------------------------------------------------
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"))


def strip_delimiters(text: str) -> str:
    """Strip whitespace, a trailing period, and paired $..$, \\(..\\), \\[..\\], **..** around."""
    s = text.strip()
    changed = True
    while changed and s:
        changed = False
        if s.endswith(".") and not s.endswith(".."):
            s, changed = s[:-1].rstrip(), True
        for left, right in _DELIMS:
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left) : -len(right)]
                if left == "$" and "$" in inner:  # "$5 and $6": currency, not delimiters
                    continue
                s, changed = inner.strip(), True
    return s


def clean_answer(raw: str) -> str:
    """Normalise one answer string: unwrap delimiters and \\boxed, canonical text for numbers."""
    s = strip_delimiters(raw)
    while (inner := _whole_box(s)) is not None:  # "\boxed{\boxed{5}}" happens
        s = strip_delimiters(inner)
    number = parse_number_full(s)
    return number.text if number is not None else s


# -- extraction -------------------------------------------------------------------------------
_GSM8K_RE = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.M)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*(\{)|\\boxed[ \t]+([^\s${}]+)")
_PHRASE_RE = re.compile(
    r"\b(?:final\s+answer|the\s+answer|answer)\s*(?:is\s*[:=]?|[:=])", re.IGNORECASE
)
_MIXED = r"(?:\d+[ \t]+(?=\d+/\d))?"  # the "2 " of "2 1/2"
_LEADING_NUMBER = re.compile(
    rf"^[-−]?\s*[$£€]?\s*{_MIXED}(?:{_MAGNITUDE})(?:\s*/\s*\d+)?\s*%?(?![\w/^])"
)
_NUMBER_TOKEN = re.compile(rf"(?<![\w.])[-−]?[$£€]?{_MIXED}(?:{_MAGNITUDE})(?:/\d+)?%?(?!\d)")


def _balanced(text: str, open_at: int) -> str | None:
    """The content of the brace group opening at `open_at`, or None if it never closes."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def _whole_box(text: str) -> str | None:
    """The content of `text` if all of it is one \\boxed{...} / \\fbox{...}, else None."""
    match = _BOX_RE.match(text)
    if match is None or match.group(1) is None:
        return None
    inner = _balanced(text, match.start(1))
    if inner is None or match.start(1) + len(inner) + 2 != len(text):
        return None
    return inner


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOX_RE.finditer(text))):
        if match.group(2) is not None:  # "\boxed 5"
            return match.group(2)
        inner = _balanced(text, match.start(1))
        if inner is not None:
            return inner
    return None


def _number_first(answer: str) -> str:
    """`answer`, or the number it starts with when it is a number plus words ("42 (it is)")."""
    if parse_number_full(answer) is None:
        leading = _LEADING_NUMBER.match(answer)
        if leading is not None:
            return leading.group(0)
    return answer


def _from_gsm8k(text: str) -> str | None:
    for match in reversed(list(_GSM8K_RE.finditer(text))):
        if match.group(1).strip():
            return _number_first(match.group(1))
    return None


def _first_clause(text: str) -> str:
    """`text` up to the first . , ; ! ? that ends a clause outside brackets and $...$."""
    depth, in_math = 0, False
    for i, ch in enumerate(text):
        if ch == "$":
            in_math = not in_math
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch in ".,;!?" and not (depth or in_math or text[i + 1 : i + 2].strip()):
            return text[:i]  # punctuation followed by a space or the end
    return text


def _from_phrase(text: str) -> str | None:
    matches = list(_PHRASE_RE.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].split("\n", 1)[0].strip()
    if not rest:
        return None
    if parse_number_full(rest) is None:
        rest = _first_clause(rest)  # "42. Next we..." / "7, because ..."
    return _number_first(rest) or None  # "42 because we add" -> 42


def _last_number(text: str) -> str | None:
    tokens = _NUMBER_TOKEN.findall(text)
    return tokens[-1] if tokens else None


def extract_answer(text: str, *, fallback_last_number: bool = True) -> ExtractedAnswer | None:
    """The final answer stated in `text`, or None (see the module docstring for the order)."""
    if not isinstance(text, str) or not text.strip():
        return None
    finders = [("gsm8k", _from_gsm8k), ("boxed", _last_boxed), ("answer_phrase", _from_phrase)]
    if fallback_last_number:
        finders.append(("last_number", _last_number))
    for method, find in finders:
        raw = find(text)
        if raw is None:
            continue
        answer = clean_answer(raw)
        if answer:
            return ExtractedAnswer(answer, method)
    return None

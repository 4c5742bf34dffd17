"""Reply parsers shared by the LLM techniques.

Models wrap what was asked for in chatter: code fences, "Sure! Here is ...:" lines, labels
("Instruction:", "**Critique:**"), quotes, numbered or bulleted lists, scores written as
"Score: 4", "8/10" or "80%", and yes/no answers. The helpers here take those apart; each
technique combines them with its own rules (and raises `ParseError` where a reply is unusable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from synthpipe.generate.task import ParseError

# -- fences, preambles, labels, quotes ------------------------------------------------------------
_FENCE_LINE = re.compile(r"^\s*```")
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)
PREAMBLE = re.compile(  # chatter before the text: "Sure! Here's the paraphrase:" (a line ending in ':')
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|absolutely)\b[^\n]*[:：]|(?:here(?:'s| is| are)|below is)\b[^\n]*[:：]"
    r"|(?:sure|certainly|of course|absolutely)[!.]?)\s*\n",
    re.IGNORECASE,
)
QUOTE_PAIRS = (('"', '"'), ("“", "”"), ("'", "'"), ("`", "`"))


def code_lines(text: str) -> list[str]:
    """The lines of `text`, without code-fence lines (```` ``` ```` or ```` ```json ````)."""
    return [line for line in text.splitlines() if not _FENCE_LINE.match(line)]


def strip_fences(text: str) -> str:
    """The reply without any code-fence line, and without surrounding whitespace."""
    return "\n".join(code_lines(text.strip())).strip()


def unwrap_fence(text: str) -> str:
    """The inside of a code fence around the whole reply, else the stripped reply (fences
    inside the text are kept)."""
    text = text.strip()
    if fenced := _FENCE.match(text):
        text = fenced.group(1).strip()
    return text


def strip_preamble(text: str, pattern: re.Pattern[str] = PREAMBLE) -> str:
    """`text` without a first line of chatter: `pattern` matches that line with its newline
    (default: "Sure! Here's the paraphrase:", "Certainly.", "Below is the text:"). The end of
    the text counts as a newline, so a reply that is only chatter becomes empty."""
    return pattern.sub("", text.strip() + "\n", count=1).strip()


@lru_cache(maxsize=64)
def _label_pattern(label: str) -> re.Pattern[str]:
    return re.compile(
        rf"^\s*(?:#+\s*)?(?:\*\*|__)?\s*(?:{label})\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*", re.IGNORECASE
    )


def strip_label(text: str, label: str | re.Pattern[str]) -> str:
    """`text` without a leading "<label>:" (any case; markdown heading or bold marks around the
    label allowed, e.g. "**Critique:** ..."). A `str` label is literal, a compiled pattern is a
    regular expression for the label (e.g. ``re.compile("(?:test )?prompt")``)."""
    source = label.pattern if isinstance(label, re.Pattern) else re.escape(label)
    return _label_pattern(source).sub("", text, count=1).strip()


def strip_quotes(text: str, pairs: Iterable[tuple[str, str]] = QUOTE_PAIRS) -> str:
    """`text` without quotes around all of it: each pair in turn is removed when it encloses
    the text and its opening quote does not occur inside ('"Say 'hi'"' -> "Say 'hi'")."""
    for left, right in pairs:
        if len(text) > 1 and text.startswith(left) and text.endswith(right) and left not in text[1:-1]:
            text = text[1:-1].strip()
    return text


# -- lists ----------------------------------------------------------------------------------------
_NUMBERED = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\*\*|__)?\s*(?:(?:task|example|item|question|instruction|sample)\s*)?#?"
    r"(\d{1,4})\s*(?:[.):\]]|\s-\s|-\s)\s*(?:\*\*|__)?\s*(.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")
_ITEM_LABEL = re.compile(
    r"(?:new\s+)?(?:task|instruction|question|example|prompt|text|sentence)", re.IGNORECASE
)
_LIST_QUOTES = ('"', "'", "“", "”", "‘", "’", "«", "»")


def collect_items(
    lines: Iterable[str], marker: re.Pattern[str], group: int = 1, *, indented: bool = False
) -> list[list[str]]:
    """The items of a list, each as its stripped lines: a line matching `marker` starts an item
    (its text is `group`). A non-empty line continues the open item if it is indented
    (`indented`) or else if it follows without a blank line; any other line closes the item."""
    items: list[list[str]] = []
    open_item, blank = False, False
    for line in lines:
        match = marker.match(line)
        if match:
            items.append([match.group(group).strip()])
            open_item, blank = True, False
        elif not line.strip():
            blank = True
        elif open_item and (line[:1].isspace() if indented else not blank):
            items[-1].append(line.strip())
        else:
            open_item = False
    return items


def clean_item(text: str) -> str:
    """Strip an item's label ("Instruction:"), bold markers, surrounding quotes and spaces."""
    text = strip_label(text.strip(), _ITEM_LABEL)
    for mark in ("**", "__"):
        if text.startswith(mark) and text.endswith(mark) and len(text) > 4:
            text = text[2:-2].strip()
        elif text.count(mark) % 2 == 1 and text.endswith(mark):  # "**" opened before the number
            text = text[:-2].strip()
        elif text.count(mark) % 2 == 1 and text.startswith(mark):
            text = text[2:].strip()
    while len(text) >= 2 and text[0] in _LIST_QUOTES and text[-1] in _LIST_QUOTES:
        text = text[1:-1].strip()
    return text


def parse_numbered_list(text: str) -> list[str]:
    """Items of a numbered list ("1. x", "2) y", "Task 3: z", "**4.** w"), else of a bullet list.

    Code-fence lines are ignored; text before the first item is ignored; a line right after an
    item continues it, but after a blank line an unnumbered line ends the list item (trailing
    chatter such as "Let me know if you need more" is not part of the last item).
    """
    lines = code_lines(text)
    items = collect_items(lines, _NUMBERED, group=2) or collect_items(lines, _BULLET)
    joined = ("\n".join(part for part in item if part).strip() for item in items)
    return [c for c in (clean_item(i) for i in joined) if c]


# -- refusals and verdicts ------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry|i (?:cannot|can'?t|won'?t)|i'?m (?:not able|unable)|as an ai)\b",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """True if the text opens like a refusal ("I'm sorry", "I can't", "As an AI", ...)."""
    return _REFUSAL.match(text) is not None


def parse_yes_no(reply: str) -> bool | None:
    """True for a reply starting with yes, False for no, None otherwise."""
    match = re.match(r"^[\s*\"'`]*(yes|no)\b", reply.strip(), re.IGNORECASE)
    return None if match is None else match.group(1).lower() == "yes"


# -- scores ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@lru_cache(maxsize=16)
def _score_patterns(scale: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    labelled = re.compile(
        r"(?:score|rating)\s*(?:\*\*|__)?\s*[:=：]?\s*(?:\*\*|__)?\s*\**\s*([1-9]\d*(?:\.\d+)?)(?![\d.]*\d)"
        r"(?:\s*(?:/|out of)\s*\d+)?",
        re.IGNORECASE,
    )
    bare = re.compile(rf"^\W*([1-9]\d*)(?:\s*/\s*{scale})?\W*$")
    return labelled, bare


def parse_score(text: str, scale: int = 5) -> tuple[int | float, str]:
    """(score, reasoning) from a rating reply on a 1-`scale` scale: the last "Score: N" (also
    "Rating: 4/5", "**Score:** 4", "Score: 4 out of 5"), else a last line holding only the
    number; the reasoning is the text before it. Raises ParseError."""
    labelled, bare_line = _score_patterns(scale)
    text = text.strip()
    matches = [m for m in labelled.finditer(text) if 1 <= float(m.group(1)) < scale + 1]
    if matches:
        last = matches[-1]
        value = float(last.group(1))
        reason = text[: last.start()].rstrip("*_#> \n\t")
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        bare = bare_line.match(lines[-1]) if lines else None
        if bare is None or not 1 <= int(bare.group(1)) <= scale:
            raise ParseError("parse_error", f"no 'Score: <1-{scale}>' in the reply: {text[-500:]!r}")
        value = float(bare.group(1))
        reason = "\n".join(lines[:-1]).strip()
    reason = re.sub(r"^(?:reasoning|reason|explanation)\s*[:：]\s*", "", reason, flags=re.IGNORECASE).strip()
    return (int(value) if value.is_integer() else value), reason


def coerce_score(value: Any) -> Any:
    """A score from what judges actually write: 8, 8.0, "8", "8/10", "Rating: 8", "[[8]]".

    Strings become the first number in them; 7.5 stays 7.5 (an overall score may be
    fractional); integer criterion scores round it (see `coerce_int_score`).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _NUMBER.search(value)
        if match is None:
            return value  # let pydantic report it
        number = float(match.group())
        return int(number) if number.is_integer() else number
    return value


def coerce_int_score(value: Any) -> Any:
    """`coerce_score`, rounded to an integer."""
    value = coerce_score(value)
    if isinstance(value, float):
        return round(value)
    return value


def rescale_unit(value: Any) -> Any:
    """A 0-1 score from a judge that answered on a 0-1, 0-10 or 0-100 scale, or in percent
    ("0.8", 8, "80%"), clipped to 0-1. Anything that is not a number is returned unchanged
    (for pydantic to report)."""
    try:
        score = float(str(value).strip().rstrip("%"))
    except ValueError:
        return value
    if 1 < score <= 10:
        score /= 10
    elif 10 < score <= 100:
        score /= 100
    return min(max(score, 0.0), 1.0)


# -- structured replies ---------------------------------------------------------------------------
def _norm_key(key: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(key).strip().lower()).strip("_")


def normalize_keys(data: Any, names: Iterable[str]) -> Any:
    """Map keys such as "Instruction Following" or "instruction-following" onto field names."""
    if not isinstance(data, dict):
        return data
    wanted = {_norm_key(n): n for n in names}
    out = {}
    for key, value in data.items():
        out[wanted.get(_norm_key(key), key)] = value
    return out

"""Code requests answered without code (AlpacaDataCleaned's "empty code examples").

:func:`empty_code` finds:

- an empty fenced block: ```` ```python ```` ... ```` ``` ```` with nothing inside but blank
  lines, comments (``# your code here``, ``// TODO``) or ``pass`` / ``...``;
- a request for code answered in prose: the instruction asks to write, implement or fix a
  function, program, script, class, query, regex or snippet ("Write a Python function
  that..."), where a request starts (the text or a sentence begins, or after "please", "can
  you", "how do I"), and no line of the response looks like code (:mod:`.code_text`).
  Requests to explain or describe code, pseudocode and algorithms in words, prose about
  programs ("Write a poem about code", "a robot who learns to write code"), scripts for a video
  or a play, code that is given ("the language used to write the given code") and names of
  functions ("the Excel function name") are not code requests.
"""

from __future__ import annotations

import re

from synthpipe.curate.filters.code_text import fenced_blocks, has_code

_LANGUAGES = (
    r"python|java|javascript|js|typescript|c\+\+|c#|c|go|golang|rust|ruby|php|swift|kotlin|scala|"
    r"perl|lua|haskell|r|matlab|julia|bash|shell|powershell|sql|mysql|postgresql|html|css|"
    r"latex|regex"
)
_CODE_NOUNS = (
    r"function|functions|program|programs|script|scripts|code|snippet|class|classes|method|"
    r"methods|query|queries|regex|regular expression|unit tests?|one-liner|"
    r"subroutine|procedure|module|sql statement"
)
_PROSE_GENRES = re.compile(
    r"\b(?:poem|story|essay|haiku|song|joke|letter|email|article|blog|tweet|summary|description|"
    r"explanation|review|paragraph|sentence|limerick|riddle|speech|report|pseudo-?code|search|google|"
    r"youtube|video|film|movie|play|podcast|radio|tv|comedy|commercial|ad|advert|presentation|"
    r"theat(?:re|er)|stand-?up|given|following|above|below|existing|provided|"
    r"algorithm in (?:plain|simple) (?:english|words))\b",
    re.IGNORECASE,
)
_CODE_REQUEST = re.compile(
    rf"\b(?:write|create|generate|implement|develop|code|build|construct|compose|give me|provide|"
    rf"show me|fix|debug|complete|refactor|rewrite|convert|translate)\s+(?:me\s+)?"
    rf"(?:a|an|the|some|this|that|your)?\s*((?:[\w+#-]+\s+){{0,3}}?)(?:{_CODE_NOUNS})\b"
    rf"|\b(?:write|implement|code|solve)\b[^.?!\n]{{0,60}}\b(?:in|using)\s+(?:{_LANGUAGES})\b",
    re.IGNORECASE,
)
# where a request starts: the text or a sentence begins, or "please", "can you", "how do I"...
_REQUEST_START = re.compile(
    r"(?:^|[.!?:;\n]\s*|\b(?:please|can you|could you|would you|will you|i want you to|i need you to|"
    r"help me|how (?:do|can|would|should) i|how to|and|then)\s+)$",
    re.IGNORECASE,
)
_GENRE_AFTER = re.compile(r"^\W*(?:names?|signatures?|calls?)\b|^\s+(?:for|of|about)\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}?(?:video|film|movie|play|podcast|show|ad|commercial|presentation|speech)\b", re.IGNORECASE)
_ABOUT_CODE = re.compile(
    r"\b(?:explain|describe|what does|what is|why|summari[sz]e|comment on|review|document|"
    r"in (?:plain|simple) (?:english|words|terms))\b",
    re.IGNORECASE,
)
_PREPOSITION = re.compile(r"\b(?:in|into|on|for|with|to|from|of|about|at|by)\b", re.IGNORECASE)  # "them in my program"
_NOT_CODE_LINE = re.compile(r"^\s*(?:#|//|/\*|\*|--|<!--|pass\s*$|\.\.\.\s*$|todo\b)", re.IGNORECASE)


def empty_code(instruction: str, response: str) -> str | None:
    """Why `response` lacks the code `instruction` asks for (``'empty ```python block'``), or None."""
    for info, body in fenced_blocks(response):
        if all(not line.strip() or _NOT_CODE_LINE.match(line) for line in body.splitlines()):
            return f"empty ```{info} block"
    if response.strip() and is_code_request(instruction) and not has_code(response):
        return "code requested, none in the response"
    return None


def is_code_request(instruction: str) -> bool:
    """True if `instruction` asks for code to be written (see the module docstring)."""
    head = instruction.split("\n", 1)[0] if len(instruction) > 400 else instruction
    for match in _CODE_REQUEST.finditer(head):
        if not _REQUEST_START.search(head[: match.start()]):
            continue  # "a robot who learns to write code"
        between, after = match.group(1) or "", head[match.end():]
        if _PROSE_GENRES.search(between) or _PREPOSITION.search(between) or _GENRE_AFTER.search(after):
            continue  # "a poem about code", "the given code", "a script for a video", "the function name"
        if _ABOUT_CODE.search(head[: match.start()] + " " + match.group(0)):
            continue
        return True
    return False

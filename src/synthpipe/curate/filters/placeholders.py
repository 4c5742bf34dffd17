"""Stand-in text where content should be: placeholder inputs and outputs, missing attachments.

Generated instruction data marks what it could not produce with a token instead of content,
and a model trained on it learns to answer with the token. The patterns come from the issue
categories the AlpacaDataCleaned project lists for the original Stanford Alpaca data
("inconsistent input field", "N/A outputs", "empty outputs", "instructions to generate images",
missing pictures), written here from those descriptions:

- :func:`placeholder_input`: an input that only says there is none: ``<noinput>``,
  ``<no input>``, ``No input``, ``noinput``, ``N/A``, ``None``, ``null``, ``(empty)``.
  The empty string is the right way to say so, and is not flagged.
- :func:`placeholder_output`: an output that is a stand-in (``<nooutput>``, ``<No Output>``,
  ``<no response>``, ``No output required``, ``<noinput>``, a bracketed ``<image>`` or
  ``(recording)``), or contains ``<nooutput>`` or says the model cannot do the task ("This
  type of instruction cannot be fulfilled by a GPT model"). Short answers such as "No", "1" or
  "Telegram" are content; blank or "N/A" outputs are ``empty_output`` (``llm_output_filter``).
- :func:`missing_attachment`: a bracketed stand-in for a file that is not there:
  ``<Picture Attached>``, ``[image]``, ``<Insert image here>``, ``<graph of sales>``,
  ``(see attached)``. HTML tags (``<table>``, ``<img src=...>``, ``<video>``) and Markdown
  links (``[link](https://...)``) are not stand-ins. :func:`attached_reference` finds an
  instruction about "the attached image" (a missing attachment when the input is empty).
"""

from __future__ import annotations

import re

_MEDIA = (
    r"pictures?|images?|photos?|photographs?|screenshots?|graphs?|charts?|diagrams?|figures?|"
    r"drawings?|illustrations?|videos?|audio|sound|recordings?|clips?|files?|attachments?|"
    r"attached|documents?|pdfs?|spreadsheets?|tables?|maps?|links?|urls?|websites?|webpages?|"
    r"articles?|sketch(?:es)?|scans?|x-?rays?|gifs?|memes?"
)
_BRACKETED = re.compile(rf"[<\[]\s*([^<>\[\]\n]{{0,40}}?\b(?:{_MEDIA})\b[^<>\[\]\n]{{0,40}}?)\s*[>\]](?!\()", re.IGNORECASE)
_SEE_ATTACHED = re.compile(
    r"\(\s*(?:see\s+)?(?:the\s+)?(?:attached|attachment|enclosed|image|picture|photo|screenshot)\b[^()\n]{0,30}\)"
    r"|\b(?:see|find)\s+(?:the\s+)?(?:attached|enclosed)\s+(?:file|image|picture|photo|document|pdf|screenshot)s?\b",
    re.IGNORECASE,
)
# one lower-case word in angle brackets that is an HTML element, not a stand-in
_HTML_ELEMENTS = frozenset({"table", "video", "audio", "picture", "figure", "link", "map", "a", "img", "svg"})
_HTML_TAG = re.compile(r"^/?[a-z][a-z0-9-]*(?:\s+[a-z-]+\s*=.*|\s*/)?$")

_PLACEHOLDER_INPUTS = frozenset(
    {
        "noinput", "no input", "no inputs", "none", "n/a", "na", "null", "nil", "nan", "empty",
        "blank", "not applicable", "nothing", "no input required", "no input needed",
        "no input necessary", "no input provided", "no input given", "no input data",
        "no additional input", "no context", "no data", "input", "insert input here",
        "input here", "your input here", "not needed", "not required", "-", "--", "---",
    }
)  # fmt: skip
_PLACEHOLDER_OUTPUTS = frozenset(
    {
        "nooutput", "no output", "no output required", "no output needed", "no output necessary",
        "no output provided", "output", "insert output here", "output here", "your output here",
        "no response", "no answer", "no answer required", "no response required", "answer here",
    }
)  # fmt: skip
_ANGLE_PLACEHOLDER = re.compile(r"<\s*no[\s_-]*(?:output|response|answer|input)\s*>", re.IGNORECASE)
_NO_OUTPUT_TAG = re.compile(r"<\s*no[\s_-]*(?:output|response|answer)\s*>", re.IGNORECASE)  # anywhere in an output
_INPUT_LABEL = re.compile(r"^input\s+")
_MEDIA_STAND_IN = re.compile(rf"[<\[(]\s*[^<>\[\]()\n]{{0,30}}\b(?:{_MEDIA}|recordings?|melody|song)\b[^<>\[\]()\n]{{0,30}}[>\])]", re.IGNORECASE)
_ATTACHED_REFERENCE = re.compile(
    rf"\b(?:the|this|these|my)\s+(?:attached|enclosed|uploaded)\s+(?:\w+\s+)?(?:{_MEDIA}|songs?|tracks?|voice memos?)\b",
    re.IGNORECASE,
)
_CANNOT_BE_FULFILLED = re.compile(
    r"\b(?:cannot|can ?not|can't|could not|is unable to|are unable to)\s+be\s+(?:fulfilled|completed|"
    r"performed|done|answered|generated)\s+(?:by|with)\s+(?:an?\s+)?(?:gpt|language|text(?:-based)?|"
    r"ai|llm)\b",
    re.IGNORECASE,
)
_FRAMING = re.compile(r"[<>\[\](){}\"'`*.:!?]+")
_SPACES = re.compile(r"[\s_]+")


def bare(text: str) -> str:
    """`text` in lower case without brackets, quotes, end punctuation and extra spaces."""
    return _SPACES.sub(" ", _FRAMING.sub(" ", text.lower())).strip()


def placeholder_input(text: str) -> str | None:
    """The placeholder an input consists of (``'<noinput>'``), or None."""
    stripped = text.strip()
    if not stripped:
        return None
    value = _INPUT_LABEL.sub("", bare(stripped))  # "Input: none"
    if value in _PLACEHOLDER_INPUTS or _ANGLE_PLACEHOLDER.fullmatch(stripped):
        return repr(stripped[:40])
    return None


def placeholder_output(text: str) -> str | None:
    """The stand-in an output is or contains (``'<nooutput>'``, ``'cannot be fulfilled by a
    GPT model'``), or None."""
    stripped = text.strip()
    if not stripped:
        return None
    if bare(stripped) in _PLACEHOLDER_OUTPUTS or _ANGLE_PLACEHOLDER.fullmatch(stripped):
        return repr(stripped[:40])
    if _MEDIA_STAND_IN.fullmatch(stripped) and not _is_html(stripped.strip("<>[]()").strip()):
        return repr(stripped[:40])  # "<image>", "(recording)": the output is a stand-in
    match = _NO_OUTPUT_TAG.search(stripped) or _CANNOT_BE_FULFILLED.search(stripped)
    return repr(match.group(0)) if match else None


def missing_attachment(text: str) -> str | None:
    """The bracketed stand-in for a missing file (``'<Picture Attached>'``), or None."""
    for match in _BRACKETED.finditer(text):
        inner = match.group(1).strip()
        if match.group(0).startswith("<") and _is_html(inner):
            continue
        return repr(match.group(0))
    match = _SEE_ATTACHED.search(text)
    return repr(match.group(0)) if match else None


def attached_reference(instruction: str) -> str | None:
    """The instruction's reference to an attachment (``'the attached image'``), or None; a
    missing attachment when the record has no input to hold it."""
    match = _ATTACHED_REFERENCE.search(instruction)
    return repr(match.group(0)) if match else None


def _is_html(inner: str) -> bool:
    if inner.lower() in _HTML_ELEMENTS and inner == inner.lower():
        return True
    return bool(_HTML_TAG.match(inner)) and inner.split()[0].strip("/") in _HTML_ELEMENTS | {"source", "track", "iframe", "object", "embed"}

"""Does the input carry what the instruction needs? URL-only inputs and missing inputs.

Two AlpacaDataCleaned categories: "hallucinations" (the instruction asks about an article or
page and the input is only its URL, which a model cannot open, so the output is invented) and
"inconsistent input field" (the instruction points at an input that is not there).

- :func:`url_only_input`: the input is one or more URLs with at most a short label
  ("Article: https://..."), and the instruction needs the page's content: it names content
  (article, post, video, story, news...) or the URL points at a specific page (it has a
  path). Instructions about the URL itself (shorten, parse, validate, extract the domain, is it
  safe) and bare domains ("amazon.com": a model may know the site) are fine.
- :func:`inconsistent_input`: the input field is present but empty, and the instruction refers to
  it ("the following sentence", "the given list", "the text below", "the input") without
  carrying the material itself (after a colon, on the next lines, or in quotes). A reference
  with "this" ("this question") is not counted: it often means what the model writes.
  An input that does not fit its instruction is left to the LLM judge (``filter --judge``):
  in Self-Instruct's seed tasks a third of real inputs have no explicit reference.
"""

from __future__ import annotations

import re

_URL = re.compile(r"<?(?:https?://|www\.)[^\s<>]+>?", re.IGNORECASE)
_URL_PATH = re.compile(r"(?:https?://|www\.)[^/\s]+/[^\s]*[A-Za-z0-9]", re.IGNORECASE)
_MAX_LABEL_WORDS = 3
_ABOUT_THE_URL = re.compile(
    r"\b(?:shorten\w*|validat\w*|valid|parse|pars\w+|encod\w*|decod\w*|regex|regular expression|domain|"
    r"host ?names?|protocols?|scheme|query (?:string|param\w*)|parameters?|tld|top-level|slug|"
    r"url (?:structure|format|components?|parts?)|safe|secure|malicious|phishing|broken|redirect\w*|"
    r"hyperlink\w*|anchor tag|html link|markdown link|citation|cite|reference list|bibliograph\w*)\b",
    re.IGNORECASE,
)
# what a page holds; "website", "site" and "page" also name a bare domain ("this website")
_CONTENT_NOUN = re.compile(
    r"\b(?:article|post|blog|video|story|news|paper|report|essay|review|tweet|thread|"
    r"recipe|podcast|episode|song|document|book|chapter|text)s?\b",
    re.IGNORECASE,
)
_INPUT_NOUNS = (
    r"text|sentences?|paragraphs?|passage|article|story|poem|email|e-mail|letter|essay|document|"
    r"list|sequence|array|numbers?|words?|phrases?|data|dataset|table|code|snippet|program|"
    r"function|equation|expression|statement|questions?|review|tweet|string|options?|choices?|"
    r"items?|pairs?|set|examples?|scenario|situation|dialogue|conversation|description|"
    r"product|recipe|lyrics|quote|title|url|link|names?|values?|matrix|input|context|"
    r"information|details|facts|keywords?|topic|argument|claim|problem|riddle|excerpt|summary"
)
_REFERS_TO_INPUT = re.compile(
    rf"\b(?:the\s+(?:following|given|provided)|following|given(?!\s+(?:a|an|that|the|some|two|three)\b)|provided)"
    rf"\s+(?:\w+\s+){{0,2}}?(?:{_INPUT_NOUNS})\b"
    rf"|\bthe\s+(?:\w+\s+){{0,2}}?(?:{_INPUT_NOUNS})\s+(?:below|above|provided|given)\b"
    # "the input" on its own or as "the input text", not "the input voltage / layer"
    r"|\b(?:the|this|given)\s+input\b(?=\s*(?:[.,;:?!)]|$)|\s+(?:text|sentence|data|string|list|and|to|into|is|as)\b)",
    re.IGNORECASE,
)
_MATERIAL_AFTER = re.compile(r":\s*\S+(?:\s+\S+)|\n\s*\S+|[\"“'‘«][^\"”'’»\n]{3,}[\"”'’»]|\s-\s\S")


def url_only_input(instruction: str, input_text: str) -> str | None:
    """The URL an input consists of, when the instruction needs the page behind it; else None."""
    urls = _URL.findall(input_text)
    if not urls:
        return None
    label = _URL.sub(" ", input_text).split()
    if len(label) > _MAX_LABEL_WORDS or _ABOUT_THE_URL.search(instruction):
        return None
    if not (_CONTENT_NOUN.search(instruction) or any(_URL_PATH.search(u) for u in urls)):
        return None
    return f"input is only {urls[0][:80]!r}"


def inconsistent_input(instruction: str, input_text: str | None) -> str | None:
    """The instruction's reference to an input that is empty (``'the following sentence'``), or
    None. `input_text` None means the record has no input field: nothing to check."""
    if input_text is None or input_text.strip():
        return None
    for match in _REFERS_TO_INPUT.finditer(instruction):
        if not _MATERIAL_AFTER.search(instruction, match.end()):
            return f"instruction refers to {match.group(0)!r}, input is empty"
    return None

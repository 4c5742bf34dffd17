"""Filters for LLM failure modes in instruction/response pairs.

Each check has its own drop reason; they run in this order and the first failure wins:

- ``impossible_instruction``: the instruction asks for what a text model cannot do: make or
  look at images, audio or video, browse or open a URL, give real-time data (weather, prices,
  "what time is it"), or act in the world (call, order, turn on the lights). Self-Instruct
  (Wang et al. 2023, "Self-Instruct: Aligning Language Models with Self-Generated
  Instructions") dropped such instructions with a keyword list (image, picture, graph, file,
  map, draw, plot, go to, video, audio, music, flowchart, diagram); the bundled patterns
  (``resources/curate/impossible_instructions.txt``) ask for a request, a verb and its object,
  so "write code to plot a histogram" or "a poem about a photo" stay. The detail names the
  category (``image_generation``, ``image_input``, ``audio``, ``video``, ``3d``, ``browsing``,
  ``realtime``, ``physical_action``).
- ``empty_output``: the response is null, blank or only punctuation, or says nothing ("N/A",
  "None", "I don't know", ``empty_answers.txt``), compared after
  :func:`synthpipe.text.normalize.normalize`. Emoji-only replies are content, not empty.
- ``refusal``: a refusal opener ("I'm sorry, but I can't", ``refusal_openers.txt``) in the first
  ``refusal_window`` characters (default 200) that the response does not turn into an answer
  ("..., but I can give you the historical averages"), or "as an AI language model" boilerplate
  (``ai_disclaimers.txt``) anywhere (``disclaimers: false`` leaves the boilerplate alone: 1.4%
  of OpenAssistant's human-written replies say "As an AI..." and then answer).
- ``echoes_instruction``: the response repeats the instruction: equal after normalisation, or
  ROUGE-L F >= ``echo_rouge_threshold`` (default 0.9, :mod:`synthpipe.text.rouge`; the
  Self-Instruct novelty filter used ROUGE-L 0.7 between instructions). An editing task whose
  text is inside the instruction ("Fix the grammar: <text>") can score high legitimately; keep
  such text in a separate input field.
- ``truncated``: an unclosed code fence (odd number of ```` ``` ```` lines), brackets still
  open at the end (``{"a": [1, 2``; brackets inside closed code blocks, inline code or
  double-quoted strings and emoticons such as ``:(`` do not count), or prose that
  stops mid-sentence: the last line has at least ``min_truncation_words`` words (default 5),
  is not a list item, table row, heading, code, URL or letter sign-off ("Best regards,"), and
  ends in ``, ; : - ( / &`` or in a word that (almost) never ends an English sentence ("and",
  "the", "of", "their"...). With ``strict_truncation`` (default), a last sentence of 8+ words
  that ends in a lower-case word without terminal punctuation also counts, unless it is a
  comma-separated list or has hashtags; endings in digits, capitalised words (titles, names),
  URLs and emoji never count. Measured on OpenAssistant replies cut at a random word:
  strict finds 54% of the cuts, non-strict 25%; on the uncut replies strict flags 2.5%
  (human text without a final full stop), non-strict none; on text-davinci-003's Self-Instruct
  eval outputs, 1.2% and 0.4%. Where the generator reports ``finish_reason == "length"``,
  that is the better signal.

Missing fields (the key is absent) drop with ``missing_text``; a null response is ``empty_output``.
"""

from __future__ import annotations

import importlib.resources
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.records import Record
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, StepConfig
from synthpipe.text.normalize import normalize
from synthpipe.text.rouge import rouge_l_text

Check = Literal["impossible_instruction", "empty_output", "refusal", "echoes_instruction", "truncated"]
ALL_CHECKS: list[Check] = ["impossible_instruction", "empty_output", "refusal", "echoes_instruction", "truncated"]
WORD_LIST_FILES = ("refusal_openers.txt", "ai_disclaimers.txt", "empty_answers.txt", "impossible_instructions.txt")
_BUNDLED = Path(str(importlib.resources.files("synthpipe") / "resources" / "curate"))

_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~)(?!.*(?:```|~~~)[ \t]*$)", re.MULTILINE)  # not ```x```
_FENCED_BLOCK = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`|\"[^\"\n]*\"")  # inline code and double-quoted strings
_EMOTICON = re.compile(r"(?<!\S)[:;=]-?[()\[\]](?!\S)")
_NOT_PROSE_LINE = re.compile(r"^(?:[-*+•>|#]|\d{1,3}[.)]\s|[ \t]{4}|\t)")
_CODE_CHARS = re.compile(r"[{};=<>\\]|\w\(|\)$")
_URL_END = re.compile(r"(?:https?://|www\.)\S+$|\S+@\S+\.\w+$")
_DANGLING_END = re.compile(r"[,;:\-(/&–—]$")
_SIGN_OFF = re.compile(
    r"(?i)\b(?:regards|sincerely|wishes|cheers|best|thanks|thank you|love|yours|faithfully|cordially"
    r"|respectfully|seeing you|hearing from you|talk soon|warmly)[,!]?$"
)
_SENTENCE_END = re.compile(r"[.!?]\s+")
_LOWER_WORD = re.compile(r"[a-z]+")
_STRICT_MIN_WORDS = 8
# Words that (almost) never end an English sentence: a line ending in one was cut off.
# Kept short on purpose: "like this", "and so on", "if you can", "log in", "I'd love to" do end
# sentences.
_FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "nor", "of", "for", "with", "from", "into", "onto",
        "than", "whose", "is", "are", "was", "were", "been", "being", "has", "had", "my", "your",
        "our", "their", "its", "whether", "although", "though", "because", "if",
    }
)  # fmt: skip
_PAIRS = {")": "(", "]": "[", "}": "{"}
# "...I can't give live data, but I can give the averages:": a partial answer, not a refusal
_PIVOT = re.compile(
    r"\b(?:but|however|that said|instead)\b,?\s+(?:i|we)\s+(?:can|could|am able to|am happy to|"
    r"would be happy to|will)\b(?!\s*not\b|'t)"
)
_REQUEST_MARK = "{REQUEST}"  # in impossible_instructions.txt: match only where a request starts
_REQUEST_START = re.compile(
    r"^|[.!?]\s+|\b(?:please|can you|could you|would you|i want you to|i need you to)\s+", re.IGNORECASE
)


@dataclass(frozen=True)
class WordLists:
    """The phrase lists and patterns the checks use (see ``resources/curate/README.md``)."""

    refusal_openers: tuple[str, ...]
    ai_disclaimers: tuple[str, ...]
    empty_answers: frozenset[str]
    impossible: tuple[tuple[str, re.Pattern[str], bool], ...]  # (category, regex, at request start)
    text_ok: tuple[re.Pattern[str], ...]


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line.rstrip("\n") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _phrase(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'").strip()


@lru_cache(maxsize=8)
def load_word_lists(directory: str | None = None) -> WordLists:
    """The bundled lists, with any file of the same name in `directory` taking their place."""
    paths = word_list_paths(directory)
    impossible, text_ok = [], []
    for line in _lines(paths["impossible_instructions.txt"]):
        category, _, pattern = line.partition("\t")
        pattern = pattern.strip()
        anchored = pattern.startswith(_REQUEST_MARK)
        compiled = re.compile(pattern.removeprefix(_REQUEST_MARK), re.IGNORECASE)
        if category == "text_ok":
            text_ok.append(compiled)
        else:
            impossible.append((category, compiled, anchored))
    return WordLists(
        refusal_openers=tuple(_phrase(p) for p in _lines(paths["refusal_openers.txt"])),
        ai_disclaimers=tuple(_phrase(p) for p in _lines(paths["ai_disclaimers.txt"])),
        empty_answers=frozenset(normalize(p) for p in _lines(paths["empty_answers.txt"])),
        impossible=tuple(impossible),
        text_ok=tuple(text_ok),
    )


def word_list_paths(directory: str | None = None) -> dict[str, Path]:
    """File used for each list: `directory`'s if it has one, else the bundled one."""
    user = resolve_data_path(directory) if directory else None
    return {
        name: (user / name) if user is not None and (user / name).is_file() else _BUNDLED / name
        for name in WORD_LIST_FILES
    }


# -- the checks, as pure functions ---------------------------------------------------------
def impossible_category(instruction: str, lists: WordLists) -> str | None:
    """The category of the first impossible-request pattern `instruction` matches, if any."""
    if any(p.search(instruction) for p in lists.text_ok):
        return None
    starts = [m.end() for m in _REQUEST_START.finditer(instruction)]
    for category, pattern, anchored in lists.impossible:
        if anchored:
            if any(pattern.match(instruction, pos) for pos in starts):
                return category
        elif pattern.search(instruction):
            return category
    return None


def is_empty_answer(response: str, lists: WordLists, extra: frozenset[str] = frozenset()) -> bool:
    """True for a blank or punctuation-only response, or one that says nothing ("N/A").

    Emoji and other symbols are content (an emoji-only reply can be the right answer).
    """
    normalized = normalize(response.replace("’", "'"))
    if not normalized:
        return all(unicodedata.category(c)[0] in "PZC" for c in response)
    return normalized in lists.empty_answers or normalized in extra


def refusal_phrase(response: str, lists: WordLists, window: int, extra: tuple[str, ...] = (),
                   disclaimers: bool = True) -> str | None:  # fmt: skip
    """The refusal opener (near the start) or AI disclaimer (anywhere, unless `disclaimers` is
    False) in `response`, if any."""
    text = _phrase(response)
    head = text[:window]
    for phrase in (*lists.refusal_openers, *extra):
        if phrase in head and not _PIVOT.search(text, head.index(phrase) + len(phrase)):
            return phrase
    for phrase in lists.ai_disclaimers if disclaimers else ():
        if phrase in text:
            return phrase
    return None


def echo_score(instruction: str, response: str) -> float:
    """1.0 if equal after normalisation, else the ROUGE-L F of the two texts."""
    if normalize(instruction) == normalize(response):
        return 1.0
    return rouge_l_text(instruction, response)


def unclosed_brackets(text: str) -> str:
    """Opening brackets still open at the end of `text` (emoticons ignored), e.g. ``"{["``."""
    depth = {"(": 0, "[": 0, "{": 0}
    for char in _EMOTICON.sub("", text):
        if char in depth:
            depth[char] += 1
        elif char in _PAIRS and depth[_PAIRS[char]] > 0:
            depth[_PAIRS[char]] -= 1
    return "".join(b * n for b, n in depth.items() if n > 0)


def truncation(text: str, min_words: int = 5, strict: bool = True) -> str | None:
    """Why `text` looks cut off (unclosed fence, open brackets, mid-sentence end), or None."""
    body = text.rstrip()
    if len(_FENCE_LINE.findall(body)) % 2:
        return "unclosed code fence"
    prose = _FENCED_BLOCK.sub("", body).rstrip()
    open_brackets = unclosed_brackets(_INLINE_CODE.sub("", prose))  # closed code blocks, strings
    if open_brackets:
        return f"unclosed {open_brackets!r}"
    if not prose or _FENCE_LINE.match(body.splitlines()[-1]):
        return None  # empty, or ends with a code block
    return _prose_truncation(prose.splitlines()[-1], min_words, strict)


def _prose_truncation(last: str, min_words: int, strict: bool) -> str | None:
    if _NOT_PROSE_LINE.match(last) or len(last.split()) < min_words:
        return None
    last = last.strip()
    if _CODE_CHARS.search(last) or _URL_END.search(last) or _SIGN_OFF.search(last):
        return None
    last_word = last.split()[-1]
    if _DANGLING_END.search(last) or (last_word.isalpha() and last_word.lower() in _FUNCTION_WORDS):
        return f"ends mid-sentence: ...{last[-30:]!r}"
    if strict:
        sentence = _SENTENCE_END.split(last)[-1].split()
        is_list = "#" in last or sum(w.endswith(",") for w in sentence) * 3 >= len(sentence)
        if len(sentence) >= _STRICT_MIN_WORDS and _LOWER_WORD.fullmatch(last_word) and not is_list:
            return f"no terminal punctuation: ...{last[-30:]!r}"
    return None


# -- the step -------------------------------------------------------------------------------
class LLMOutputFilterConfig(StepConfig):
    instruction_field: str | None = Field(
        "instruction", description="field holding the instruction; null skips instruction checks"
    )
    response_field: str | None = Field(
        "response", description="field holding the response; null skips response checks"
    )
    checks: list[Check] = Field(
        default_factory=lambda: list(ALL_CHECKS), description="checks to run (all by default)"
    )
    refusal_window: int = Field(
        200, ge=1, description="refusal openers count within this many leading characters"
    )
    echo_rouge_threshold: float = Field(
        0.9, ge=0, le=1, description="ROUGE-L F at or above which a response echoes the instruction"
    )
    min_truncation_words: int = Field(
        5, ge=1, description="a last line with fewer words is not judged for a mid-sentence end"
    )
    strict_truncation: bool = Field(
        True,
        description="also count a long last sentence ending in a lower-case word without "
        "punctuation as truncated (more recall, some false positives on human-written text)",
    )
    disclaimers: bool = Field(
        True, description="count 'as an AI language model' boilerplate anywhere as a refusal"
    )
    extra_refusal_phrases: list[str] = Field(
        default_factory=list, description="more refusal openers (case-insensitive)"
    )
    extra_empty_answers: list[str] = Field(
        default_factory=list, description="more answers that count as empty"
    )
    word_lists_dir: str | None = Field(
        None, description="directory whose refusal_openers.txt etc. replace the bundled lists"
    )


@register_step("llm_output_filter")
class LLMOutputFilter(FilterStep):
    """Drops refusals, empty, truncated and echoed responses, and impossible instructions.

    The checks run in the order below and the first failure wins; each is described in the
    module docstring.

    Input columns: `instruction_field` (when an instruction check runs) and `response_field`
    (when a response check runs), str; a null option skips its checks.
    Output columns: none: marks records dropped.
    Drop reasons: ``impossible_instruction`` (detail: the category), ``empty_output``,
    ``refusal`` (detail: the phrase), ``echoes_instruction`` (detail: the ROUGE-L score),
    ``truncated`` (detail: the ending), ``missing_text``, ``not_text``.
    References: Wang et al. (2023), "Self-Instruct: Aligning Language Models with
    Self-Generated Instructions", ACL 2023, arXiv:2212.10560 (the impossible-instruction
    keywords and the ROUGE-L novelty test).
    """

    Config = LLMOutputFilterConfig
    cpu_bound = True
    drop_reasons = (
        "impossible_instruction", "empty_output", "refusal", "echoes_instruction", "truncated",
        "missing_text", "not_text",
    )  # fmt: skip

    def __init__(self, config: StepConfig | dict[str, Any] | None = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        cfg = self.config
        self._extra_refusals = tuple(_phrase(p) for p in cfg.extra_refusal_phrases)
        self._extra_empty = frozenset(normalize(p) for p in cfg.extra_empty_answers)

    def input_files(self) -> list[Path]:
        return list(word_list_paths(self.config.word_lists_dir).values())

    def input_columns(self) -> set[str]:
        cfg, checks = self.config, set(self.config.checks)
        reads = {
            cfg.instruction_field: checks & {"impossible_instruction", "echoes_instruction"},
            cfg.response_field: checks - {"impossible_instruction"},
        }
        return {field for field, uses in reads.items() if field is not None and uses}

    def output_columns(self) -> set[str]:
        return set()

    def keep(self, record: Record) -> FilterResult:
        cfg = self.config
        lists = load_word_lists(cfg.word_lists_dir)
        instruction = self._read(record, cfg.instruction_field, {"impossible_instruction", "echoes_instruction"})
        if isinstance(instruction, tuple):
            return instruction
        response = self._read(record, cfg.response_field, set(ALL_CHECKS) - {"impossible_instruction"})
        if isinstance(response, tuple):
            return response
        for check in (c for c in ALL_CHECKS if c in cfg.checks):
            verdict = self._run(check, instruction, response, lists)
            if verdict is not True:
                return verdict
        return True

    def _read(self, record: Record, field: str | None, uses: set[str]) -> str | None | tuple[bool, str, str]:
        if field is None or not uses & set(self.config.checks):
            return None
        if field not in record:
            return False, "missing_text", f"no field {field!r}"
        value = record[field]
        if value is None:
            return ""
        if not isinstance(value, str):
            return False, "not_text", f"{field}: {type(value).__name__} value"
        return value

    def _run(self, check: str, instruction: str | None, response: str | None, lists: WordLists) -> FilterResult:
        if check == "impossible_instruction":
            category = impossible_category(instruction, lists) if instruction else None
            return (False, check, category) if category else True
        if response is None:  # response checks are off (response_field: null)
            return True
        return getattr(self, f"_{check}")(instruction, response, lists)

    def _empty_output(self, instruction: str | None, response: str, lists: WordLists) -> FilterResult:
        if is_empty_answer(response, lists, self._extra_empty):
            return False, "empty_output", repr(response.strip()[:40])
        return True

    def _refusal(self, instruction: str | None, response: str, lists: WordLists) -> FilterResult:
        cfg = self.config
        phrase = refusal_phrase(response, lists, cfg.refusal_window, self._extra_refusals, cfg.disclaimers)
        return (False, "refusal", repr(phrase)) if phrase else True

    def _echoes_instruction(self, instruction: str | None, response: str, lists: WordLists) -> FilterResult:
        if not instruction or not response.strip():
            return True
        score = echo_score(instruction, response)
        if score >= self.config.echo_rouge_threshold:
            return False, "echoes_instruction", f"ROUGE-L {score:.2f}"
        return True

    def _truncated(self, instruction: str | None, response: str, lists: WordLists) -> FilterResult:
        cfg = self.config
        why = truncation(response, cfg.min_truncation_words, cfg.strict_truncation)
        return (False, "truncated", why) if why else True

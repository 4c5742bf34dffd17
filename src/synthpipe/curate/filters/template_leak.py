"""A second task inside one record: prompt-template text that leaked, and merged instructions.

- :func:`template_leak`: the text carries the scaffolding of the prompt that generated it.
  Chat-template tokens (``<|im_start|>``, ``<|endoftext|>``, ``[INST]``, ``<<SYS>>``, ``</s>``);
  field labels of an instruction template at the start of a line, numbered
  (``18. Instruction:``, ``18. Output:``, the Alpaca generation prompt's format) or as headers
  (``### Instruction:``, ``### Response:``), or an ``Instruction:`` label together with an
  ``Input:``/``Output:``/``Response:`` one; role tags opening two or more lines
  (``Human:``/``Assistant:``/``User:``) or ending the text (a hallucinated next turn). Labels
  and role tags are not counted when the instruction asks for them (a dialogue, a script, an
  interview, instruction data, a prompt, a template). Code blocks are left out.
- :func:`merged_instructions`: the instruction holds two independent tasks: two sentences that
  each open with a task verb ("Write...", "Translate...", "List..."; not a field label such as
  "Name: Ebony Moore"), where the later one does
  not refer back ("it", "this", "them", "then", "also"...) and shares no content word with the
  earlier text while naming at least two of its own ("Write a haiku about autumn. Translate
  'good morning' into Spanish."). Tasks joined by "and" in one sentence are not split: "Find
  the misspelling and give the correct spelling" is one task. An output that answers a different task is left to the LLM
  judge.
"""

from __future__ import annotations

import re

from synthpipe.curate.filters.code_text import prose_part

_SPECIAL_TOKEN = re.compile(
    r"<\|(?:im_start|im_end|endoftext|system|user|assistant|end|eot_id|start_header_id|"
    r"end_header_id|begin_of_text|end_of_text|prompter|pad)\|>"
    r"|\[/?INST\]|<</?SYS>>|</s>\s*$|<s>\s*\[INST\]|^\s*<\|.{1,20}\|>",
    re.IGNORECASE | re.MULTILINE,
)
_NUMBERED_LABEL = re.compile(r"^[ \t#]*\d{1,3}\s*[.)]\s*(?:instruction|input|output|response)\s*:", re.IGNORECASE | re.MULTILINE)
_HEADER_LABEL = re.compile(r"^[ \t]*#{2,4}\s*(?:instruction|input|response|output)\s*:?\s*$", re.IGNORECASE | re.MULTILINE)
_INSTRUCTION_LABEL = re.compile(r"^[ \t]*(?:instruction|task)\s*:", re.IGNORECASE | re.MULTILINE)
_ANSWER_LABEL = re.compile(r"^[ \t]*(?:input|output|response)\s*:", re.IGNORECASE | re.MULTILINE)
_ROLE_TAG = re.compile(r"^[ \t]*(?:#{1,4}\s*)?(human|assistant|user|ai|gpt|chatgpt|bot|system)\s*:", re.IGNORECASE | re.MULTILINE)
_HEADER_ROLE = re.compile(r"^[ \t]*#{2,4}\s*(?:human|assistant|user)\s*:", re.IGNORECASE | re.MULTILINE)
_TRAILING_ROLE = re.compile(r"\n[ \t]*(?:#{1,4}\s*)?(?:human|user)\s*:\s*$", re.IGNORECASE)
_ASKS_FOR_LABELS = re.compile(
    r"\b(?:dialog(?:ue)?s?|conversations?|chats?|scripts?|interviews?|transcripts?|role-?play\w*|"
    r"exchange|instructions?|prompts?|templates?|tasks?|input|output|examples?|format|q&a|"
    r"question(?:s)? and answers?|chatbot|screenplay|skit)\b",
    re.IGNORECASE,
)

TASK_VERBS = frozenset(
    {
        "write", "generate", "create", "list", "name", "translate", "explain", "describe",
        "summarize", "summarise", "classify", "give", "find", "calculate", "compute", "compose",
        "suggest", "identify", "rewrite", "convert", "edit", "provide", "tell", "design",
        "develop", "construct", "predict", "determine", "choose", "sort", "rank", "analyze",
        "analyse", "compare", "evaluate", "solve", "draft", "paraphrase", "outline", "propose",
        "recommend", "define", "estimate", "categorize", "brainstorm", "invent", "detect",
    }
)  # fmt: skip
_REFERS_BACK = re.compile(
    r"\b(?:it|its|this|that|these|those|them|they|their|then|also|too|each|same|above|previous|"
    r"result|results|answer|answers|one|ones|both|again|another|further|more|other|instead|"
    r"otherwise|next|after|before|afterwards|finally|first|second|lastly)\b",
    re.IGNORECASE,
)
_GENERIC = frozenset(
    {
        "example", "examples", "detail", "details", "reason", "reasons", "explanation", "step",
        "steps", "list", "summary", "title", "word", "words", "sentence", "sentences", "paragraph",
        "way", "ways", "idea", "ideas", "tip", "tips", "thing", "things", "short", "brief",
        "simple", "few", "some", "three", "two", "five", "four", "ten", "answer", "response",
        "output", "format", "language", "english", "sure", "please", "using", "use", "make",
        "possible", "least", "most", "best", "good", "new", "also", "like", "well", "need",
    }
)  # fmt: skip
_STOP = frozenset(
    ["a", "an", "the", "and", "or", "but", "of", "for", "to", "in", "on", "at", "by", "with", "from", "into", "about", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "i", "me", "my", "you", "your", "we", "our", "they", "their", "he", "she", "his", "her", "them", "what", "which", "who", "whom", "how", "why", "when", "where", "there", "here", "than", "then", "so", "if", "not", "no", "do", "does", "did", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "have", "has", "had"]
)
_FIELD_LABEL = re.compile(r"^\W*\w+\s*:")  # "Name: Ebony Moore" is a field, not a task
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z][a-z'-]+")


def template_leak(text: str, instruction: str = "") -> str | None:
    """The leaked template text in `text` (``'18. Instruction:'``, ``'<|im_end|>'``), or None.

    `instruction` is the task `text` answers: labels and role tags it asks for are not leaks.
    Code (fenced blocks, inline code) is left out: a chat template shown as code is content.
    """
    text = prose_part(text)
    match = _SPECIAL_TOKEN.search(text)
    if match:
        return f"template token {match.group(0).strip()!r}"
    if _ASKS_FOR_LABELS.search(instruction):
        return None
    match = _NUMBERED_LABEL.search(text) or _HEADER_LABEL.search(text)
    if match:
        return f"template label {match.group(0).strip()!r}"
    if (first := _INSTRUCTION_LABEL.search(text)) and _ANSWER_LABEL.search(text):
        return f"template label {first.group(0).strip()!r}"
    return _role_tags(text)


def _role_tags(text: str) -> str | None:
    header = _HEADER_ROLE.search(text)
    if header:
        return f"role tag {header.group(0).strip()!r}"
    tags = [m.group(1).lower() for m in _ROLE_TAG.finditer(text)]
    if len(tags) >= 2 and len(set(tags)) >= 2:
        return f"role tags {', '.join(dict.fromkeys(tags))}"
    match = _TRAILING_ROLE.search(text)
    return f"ends with role tag {match.group(0).strip()!r}" if match else None


def merged_instructions(instruction: str) -> str | None:
    """The second, unrelated task in `instruction` (``'Translate ... Spanish.'``), or None."""
    sentences = [s.strip() for s in _SENTENCE.split(instruction) if s.strip()]
    seen: set[str] = set()
    tasks = 0
    for sentence in sentences:
        words = _WORD.findall(sentence.lower())
        own = {w for w in words if w not in _STOP and w not in _GENERIC and w not in TASK_VERBS}
        is_task = bool(words) and words[0] in TASK_VERBS and not _FIELD_LABEL.match(sentence)
        if is_task and tasks and not _REFERS_BACK.search(sentence) and len(own) >= 2 and not _overlap(own, seen):
            return f"second task {sentence[:80]!r}"
        tasks += is_task
        seen |= own
    return None


def _overlap(words: set[str], seen: set[str]) -> bool:
    stems = {w[:5] for w in seen}
    return any(w[:5] in stems for w in words)

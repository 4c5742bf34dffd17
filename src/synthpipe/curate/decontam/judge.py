"""The LLM judge of the ``decontaminate`` step: is a nearest-neighbour pair a rephrase?

Second stage of the LLM decontaminator of Yang et al. (2023), "Rethinking Benchmark and
Contamination for Language Models with Rephrased Samples", arXiv:2311.04850: the embedding
detector proposes, for each record text, its nearest benchmark questions (top-k, here above a
similarity floor), and an LLM decides whether each pair is a rephrasing. The judge replaces
the similarity thresholds, so it can both catch rephrasings too far apart for them (other
objects and story) and clear different problems that embed close ("Kim buys 3 pizzas" vs
"Four friends ordered four pizzas").

The prompt is ``prompts/rephrase_judge.jinja2`` (a ``=== system ===`` and a ``=== user ===``
part; variables ``benchmark``, ``question``, ``text``), or any file given instead. The reply's
first word decides: yes/true is a rephrase, no/false is not; anything else, and a request that
gives up, is an error, counted in the step's summary (the pair then falls back to the
thresholds). Requests go through the run's client for the endpoint (cache, limits, retries,
budget), at temperature 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jinja2

from synthpipe.llm.types import ChatRequest, LLMError, Message, SamplingParams

TEMPLATE = Path(__file__).parent / "prompts" / "rephrase_judge.jinja2"
MAX_TEXT_CHARS = 4000  # longer record texts are cut: the judge compares, it need not read a book
_PART = re.compile(r"^=== (system|user) ===\s*$", re.MULTILINE)
_YES, _NO = {"yes", "true"}, {"no", "false"}


@dataclass(frozen=True)
class Pair:
    """One question put to the judge."""

    benchmark: str
    question: str  # the benchmark item's question
    text: str  # the record's text


@dataclass(frozen=True)
class Verdict:
    rephrase: bool | None  # None: no usable answer (see `error`)
    reply: str = ""
    error: str | None = None


class RephraseJudge:
    """Asks an endpoint whether pairs are rephrasings; `template` replaces the bundled prompt."""

    def __init__(self, template: str | Path | None = None, max_tokens: int = 16):
        self.template_path = Path(template) if template else TEMPLATE
        self.max_tokens = max_tokens

    @cached_property
    def template_text(self) -> str:
        return self.template_path.read_text(encoding="utf-8")

    @property
    def template_hash(self) -> str:
        return hashlib.sha256(self.template_text.encode()).hexdigest()[:16]

    @cached_property
    def _parts(self) -> dict[str, jinja2.Template]:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        pieces = _PART.split(self.template_text)
        if len(pieces) < 3:  # no markers: the whole file is the user message
            return {"user": env.from_string(self.template_text.strip())}
        return {role: env.from_string(body.strip()) for role, body in zip(pieces[1::2], pieces[2::2], strict=True)}

    def messages(self, pair: Pair) -> list[Message]:
        values = {"benchmark": pair.benchmark, "question": pair.question, "text": pair.text[:MAX_TEXT_CHARS]}
        return [{"role": role, "content": t.render(**values)} for role, t in self._parts.items()]

    def ask_all(self, client, pairs: list[Pair]) -> list[Verdict]:
        """Verdicts for `pairs`, asked concurrently (the client's limiter caps the concurrency)."""
        if not pairs:
            return []

        async def run() -> list[Verdict]:
            return list(await asyncio.gather(*(self.ask(client, p) for p in pairs)))

        return asyncio.run(run())

    async def ask(self, client, pair: Pair) -> Verdict:
        params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens)
        try:
            response = await client.chat(ChatRequest(messages=self.messages(pair), params=params))
        except LLMError as exc:
            return Verdict(None, error=f"{type(exc).__name__}: {exc}"[:300])
        return parse_verdict(response.texts[0] if response.texts else "")


def parse_verdict(reply: str) -> Verdict:
    """The first word of `reply`: yes/true -> rephrase, no/false -> not; else an error."""
    words = re.findall(r"[a-z]+", reply.lower())
    first = words[0] if words else ""
    if first in _YES or first in _NO:
        return Verdict(first in _YES, reply.strip()[:200])
    return Verdict(None, reply.strip()[:200], error="unparseable reply")

"""Mean token cross-entropy of a target after a context, under a local causal language model.

The engine shared by the LM scorers (``perplexity``, ``ifd``). A record is scored as a pair
``(context ids, target ids)``: the model reads context + target in one forward pass, and the
score is the mean negative log-likelihood (nats) of the target tokens, each predicted from
everything before it. The context is never scored; it must hold at least one token, because
the first target token needs something to be predicted from.

Start of text (``start_token``): a text scored "alone" still needs a first context token.
``auto`` takes what the tokenizer puts before a text itself (Llama's ``<s>``), else its
``<|endoftext|>`` (the document separator of GPT-2, SmolLM, Qwen ...), else its BOS, else its
EOS token; a token string names one; ``None`` uses none, and the text's own first token then
becomes the context, unscored (so a one-token text has nothing to score).

Batching: pairs are sorted by length and packed into forward passes of at most `batch_size`
rows and :data:`LOGITS_BUDGET` logit values (full-vocabulary logits dominate memory:
SmolLM2's vocabulary has 49,152 entries, so 16 rows of 512 tokens take 1.6 GB in float32).
Rows are right-padded with an attention mask; a causal model's real tokens never attend to
the pads after them and keep positions 0..n-1, so padding does not change a score (equal
to ~1e-6 between batch sizes; tests check 1e-4). Losses are computed in float32. When the
rows of a pass share a context prefix of :data:`MIN_SHARED_PREFIX` tokens or more (IFD's chat
template and system prompt), the prefix runs once and its key/value cache is repeated for
every row (IFD on TREC questions with SmolLM2's chat template: 1.4x faster).

The model loads once per process and (model, device, dtype), on first use, and stays loaded;
a lock serialises forward passes when several batches run in threads.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from synthpipe.llm.local_models import load_causal_lm

Pair = tuple[Sequence[int], Sequence[int]]  # (context ids, target ids)

#: logit values per forward pass (x4 bytes, twice: the logits and their log-softmax)
LOGITS_BUDGET = 1 << 27
#: a shared context prefix this long or longer is computed once per forward pass
MIN_SHARED_PREFIX = 8
_DOCUMENT_SEPARATOR = "<|endoftext|>"

_LOADED: dict[tuple[str, str, str], ScoringModel] = {}
_LOAD_LOCK = threading.Lock()


def scoring_model(model: str, device: str = "cpu", dtype: str = "float32") -> ScoringModel:
    """The process's loaded `model` (a preset, GGUF file or model directory), loaded once."""
    key = (model, device, dtype)
    with _LOAD_LOCK:
        if key not in _LOADED:
            lm, tokenizer = load_causal_lm(model, device=device, dtype=dtype)
            _LOADED[key] = ScoringModel(lm, tokenizer)
        return _LOADED[key]


class ScoringModel:
    """A causal LM and its tokenizer, scoring (context, target) pairs."""

    def __init__(self, lm: Any, tokenizer: Any):
        self.lm = lm
        self.tokenizer = tokenizer
        self.context_limit: int | None = getattr(lm.config, "max_position_embeddings", None)
        self._pad = next(
            (t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0
        )
        self._lock = threading.Lock()
        # transformers 5.x renames forward's `past_key_values` to `cache` (the old name warns)
        self._cache_arg = (
            "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"
        )

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without any special token the tokenizer would add."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start_ids(self, start_token: str | None) -> list[int]:
        """The ids placed before a text scored alone (see the module docstring)."""
        if start_token is None:
            return []
        if start_token != "auto":
            ids = self.tokenizer.convert_tokens_to_ids(start_token)
            if ids is None or ids == self.tokenizer.unk_token_id:
                raise ValueError(
                    f"start_token {start_token!r} is not a token of this model's vocabulary"
                )
            return [int(ids)]
        return self._auto_start()

    def _auto_start(self) -> list[int]:
        tok = self.tokenizer
        with_special = tok("x", add_special_tokens=True)["input_ids"]
        plain = tok("x", add_special_tokens=False)["input_ids"]
        if len(with_special) > len(plain) and with_special[-len(plain) :] == plain:
            return list(with_special[: len(with_special) - len(plain)])
        separator = tok.get_vocab().get(_DOCUMENT_SEPARATOR)
        if separator is not None:
            return [int(separator)]
        first = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        return [] if first is None else [int(first)]

    def losses(self, pairs: Sequence[Pair], batch_size: int) -> list[float]:
        """Mean target cross-entropy (nats) of each pair, in input order."""
        for context, target in pairs:
            if not context or not target:
                raise ValueError("every pair needs at least one context and one target token")
        lengths = [len(c) + len(t) for c, t in pairs]
        order = sorted(range(len(pairs)), key=lengths.__getitem__)
        vocab = int(self.lm.config.vocab_size)
        out = [0.0] * len(pairs)
        for chunk in _chunks(order, lengths, batch_size, max(1, LOGITS_BUDGET // vocab)):
            for i, loss in zip(chunk, self._forward([pairs[i] for i in chunk]), strict=True):
                out[i] = loss
        return out

    def _forward(self, pairs: list[Pair]) -> list[float]:
        import torch
        import torch.nn.functional as F

        width = max(len(c) + len(t) for c, t in pairs)
        ids = torch.full((len(pairs), width), self._pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)  # -100: not scored (context and padding)
        for row, (context, target) in enumerate(pairs):
            n = len(context) + len(target)
            ids[row, :n] = torch.tensor([*context, *target])
            mask[row, :n] = 1
            labels[row, len(context) : n] = torch.tensor(list(target))
        shared = _shared_prefix(pairs)
        device = self.lm.device
        with self._lock, torch.inference_mode():
            cache = self._prefix_cache(ids[:1, :shared], len(pairs)) if shared else None
            logits = self.lm(
                input_ids=ids[:, shared:].to(device),
                attention_mask=mask.to(device),
                **{self._cache_arg: cache},
            ).logits
            # position k of the rest predicts token shared + k + 1
            nll = F.cross_entropy(
                logits[:, :-1].float().transpose(1, 2),
                labels[:, shared + 1 :].to(device),
                reduction="none",
            )
        counts = (labels != -100).sum(dim=1).to(nll.device)
        return (nll.sum(dim=1) / counts).tolist()

    def _prefix_cache(self, prefix: Any, rows: int) -> Any:
        """The key/value cache of a prefix every row shares, computed once, repeated per row."""
        out = self.lm(input_ids=prefix.to(self.lm.device), use_cache=True)
        cache = getattr(out, self._cache_arg)
        cache.batch_repeat_interleave(rows)
        return cache


def fit(
    context: Sequence[int], target: Sequence[int], max_length: int
) -> tuple[list[int], list[int], bool]:
    """Cut a pair to `max_length` tokens; True when it was cut.

    The target keeps its first tokens, at least half the room; the context keeps its last
    tokens (those nearest the target) and at least one.
    """
    context, target = list(context), list(target)
    if len(context) + len(target) <= max_length:
        return context, target, False
    keep_target = min(len(target), max(max_length - len(context), max_length // 2))
    keep_context = max(1, max_length - keep_target)
    keep_target = max_length - keep_context
    return context[len(context) - keep_context :], target[:keep_target], True


def _shared_prefix(pairs: list[Pair]) -> int:
    """Tokens at the start of every row's context (IFD's chat template and system prompt),
    run once per forward pass; 0 when too short to be worth it. The last context token of
    each row stays out, so every scored token is predicted from the rows' own pass."""
    if len(pairs) < 2:
        return 0
    first = pairs[0][0]
    limit = min(len(c) for c, _ in pairs) - 1
    shared = 0
    while shared < limit and all(c[shared] == first[shared] for c, _ in pairs):
        shared += 1
    return shared if shared >= MIN_SHARED_PREFIX else 0


def _chunks(order: list[int], lengths: list[int], rows: int, tokens: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` (sorted by length) of at most `rows` rows and `tokens`
    padded tokens each; a row longer than `tokens` goes alone."""
    chunk: list[int] = []
    for i in order:
        if chunk and (len(chunk) == rows or (len(chunk) + 1) * lengths[i] > tokens):
            yield chunk
            chunk = []
        chunk.append(i)
    if chunk:
        yield chunk


__all__ = ["LOGITS_BUDGET", "Pair", "ScoringModel", "fit", "scoring_model"]

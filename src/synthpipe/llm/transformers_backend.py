"""A local Hugging Face `transformers` model, generating in-process on CPU or GPU.

`config.model` is a preset (``smollm2-135m``), a GGUF file or a local model directory
(llm/local_models.py; synthpipe never downloads weights). The model loads once, lazily, on the
first request. Concurrent `chat()` calls are micro-batched (batching.py):
requests with identical sampling params and `n` share one `model.generate` call, run in a
worker thread; a lock lets only one generate run at a time, whichever loop or thread asks.

Prompts use the tokenizer's chat template when it has one. Otherwise the plain fallback is
one "<role>: <content>" line per message followed by "assistant:".

Seeds: a batch is seeded with a hash of its requests' seeds (in arrival order), so a seed
reproduces a sample when the batch is the same, e.g. sequential calls or the same set of
concurrent requests; padding in a different batch can change the numbers.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from synthpipe.errors import SynthpipeError, UsageError
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.batching import MicroBatcher
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.local_models import load_causal_lm, resolve_local_model
from synthpipe.llm.types import (
    ChatRequest,
    ChatResponse,
    FatalError,
    LLMError,
    Message,
    SamplingParams,
    Usage,
)


@dataclass
class _Result:
    texts: list[str]
    finish_reasons: list[str | None]
    usage: Usage


class TransformersBackend(LLMBackend):
    supports_response_format = False

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.generate_calls = 0  # model.generate invocations (shows batching at work)
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()  # one load / generate at a time across loops and threads
        # One generation thread for the backend's life: torch's OpenMP team belongs to the
        # thread that runs it, and a fresh thread per event loop (asyncio.to_thread) would leave
        # the old team spinning against the new one on a 2-core machine (measured ~20% slower).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthpipe-generate")
        self._batcher: MicroBatcher[ChatRequest, _Result] = MicroBatcher(
            self._run_batch, key=_batch_key, max_batch=config.batch_size
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self._model is None:  # fail fast, before queueing (once loaded, it exists)
            resolve_local_model(self.config.model)
        result = await self._batcher.submit(request)
        return ChatResponse(
            texts=result.texts,
            finish_reasons=result.finish_reasons,
            usage=result.usage,
            model=self.config.model,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self._unload)

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any]:
        """Model and tokenizer, loaded on first use. Call with self._lock held."""
        if self._model is None:
            model, tokenizer = load_causal_lm(
                self.config.model, device=self.config.device, dtype=self.config.dtype
            )
            _prepare_tokenizer(tokenizer)
            self._model, self._tokenizer = model, tokenizer
        return self._model, self._tokenizer

    def _unload(self) -> None:
        with self._lock:
            on_cuda = self._model is not None and self.config.device.startswith("cuda")
            self._model = self._tokenizer = None
            gc.collect()
            if on_cuda:
                import torch

                torch.cuda.empty_cache()

    # -- generation ----------------------------------------------------------------------
    async def _run_batch(self, requests: list[ChatRequest]) -> list[_Result | BaseException]:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, self._generate, requests)
        except (SynthpipeError, LLMError):
            raise
        except Exception as exc:  # torch/transformers failures: retrying the same batch will not help
            raise FatalError(f"local generation failed: {type(exc).__name__}: {exc}") from exc

    def _generate(self, requests: list[ChatRequest]) -> list[_Result | BaseException]:
        with self._lock:
            model, tokenizer = self._load()
            prompts = [render_prompt(r.messages, tokenizer) for r in requests]
            results: list[Any] = list(_context_errors(prompts, tokenizer, model))
            fits = [i for i, r in enumerate(results) if r is None]
            if fits:
                done = self._generate_fitting([requests[i] for i in fits], [prompts[i] for i in fits])
                for i, result in zip(fits, done, strict=True):
                    results[i] = result
        return results

    def _generate_fitting(self, requests: list[ChatRequest], prompts: list[str]) -> list[_Result]:
        """One model.generate for requests that share params and n. Call with self._lock held."""
        import torch  # _load has checked that it is installed

        model, tokenizer = self._model, self._tokenizer
        add_special = not _has_chat_template(tokenizer)  # a template already adds bos etc.
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=add_special)
        enc = enc.to(model.device)
        params, n = requests[0].params, requests[0].n
        prompt_width = enc["input_ids"].shape[1]
        kwargs = _generate_kwargs(params, n, prompt_width, model)
        if params.stop:  # rows end as soon as they reach a stop string, not at max_tokens
            kwargs |= {"stop_strings": list(params.stop), "tokenizer": tokenizer}
        if params.temperature > 0 and (seed := _batch_seed(requests)) is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            output = model.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
        self.generate_calls += 1
        new_ids = output[:, prompt_width:].tolist()
        per_request = len(new_ids) // len(requests)  # generate repeats each prompt consecutively
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()  # non-pad prompt tokens
        eos = _eos_ids(model, tokenizer)
        results = []
        for j in range(len(requests)):
            rows = new_ids[j * per_request : (j + 1) * per_request]
            rows = rows * (n // len(rows))  # greedy made one sample: every sample equals it
            results.append(_decode(rows, prompt_lens[j], tokenizer, eos, params.stop))
        return results


def _context_errors(prompts: list[str], tokenizer: Any, model: Any) -> list[FatalError | None]:
    """A FatalError for each prompt too long for the model's context, so it fails alone."""
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is None:
        return [None] * len(prompts)
    add_special = not _has_chat_template(tokenizer)
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=add_special)["input_ids"]]
    return [
        FatalError(f"prompt of {length} tokens does not fit the model's context of {limit}")
        if length >= limit
        else None
        for length in lengths
    ]


def render_prompt(messages: list[Message], tokenizer: Any) -> str:
    """The chat template's prompt, or the plain fallback ("<role>: content" lines + "assistant:")."""
    if _has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _batch_key(request: ChatRequest) -> tuple:
    """Requests that can share one generate call; the seed is not part of it (see module doc)."""
    p = request.params
    return (p.temperature, p.top_p, p.max_tokens, p.stop, request.n)


def _batch_seed(requests: list[ChatRequest]) -> int | None:
    seeds = [r.params.seed for r in requests]
    if all(s is None for s in seeds):
        return None
    digest = hashlib.sha256(json.dumps(seeds).encode()).digest()  # stable across processes
    return int.from_bytes(digest[:8], "little")


def _generate_kwargs(params: SamplingParams, n: int, prompt_len: int, model: Any) -> dict[str, Any]:
    limit = getattr(model.config, "max_position_embeddings", None)
    max_new = params.max_tokens if limit is None else min(params.max_tokens, limit - prompt_len)
    if params.temperature == 0:  # greedy: every sample would be the same, so make one
        return {"max_new_tokens": max_new, "do_sample": False}
    return {
        "max_new_tokens": max_new,
        "do_sample": True,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": 0,  # OpenAI semantics: no top-k cut (transformers defaults to 50)
        "num_return_sequences": n,
    }


def _decode(rows: list[list[int]], prompt_len: int, tokenizer: Any, eos: set[int], stop: tuple[str, ...] | None) -> _Result:
    texts: list[str] = []
    reasons: list[str | None] = []
    completion = 0
    for ids in rows:
        end = next((k for k, t in enumerate(ids) if t in eos), None)
        ids = ids if end is None else ids[:end]
        completion += len(ids)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        text, stopped = _cut_at_stop(text, stop)
        texts.append(text)
        reasons.append("stop" if stopped or end is not None else "length")
    return _Result(texts, reasons, Usage(prompt_tokens=int(prompt_len), completion_tokens=completion))


def _cut_at_stop(text: str, stop: tuple[str, ...] | None) -> tuple[str, bool]:
    """Truncate at the earliest stop string (which is dropped, as OpenAI does)."""
    hits = [i for s in stop or () if s and (i := text.find(s)) >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _prepare_tokenizer(tokenizer: Any) -> None:
    tokenizer.padding_side = "left"  # decoder-only: new tokens must follow each prompt directly
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UsageError("the model's tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token

"""In-process offline generation with vLLM (GPU only).

`config.model` is a local model directory (synthpipe never downloads weights). Concurrent
`chat()` calls are micro-batched (batching.py) into one `LLM.chat(...)` call run in a worker
thread, one at a time. vLLM takes a SamplingParams per conversation, so requests with any
params share a batch, and each request's seed holds whatever it is batched with.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

from synthpipe.errors import SynthpipeError
from synthpipe.importing import require
from synthpipe.llm.backend import LLMBackend
from synthpipe.llm.batching import MicroBatcher, local_model_dir
from synthpipe.llm.config import BACKEND_REQUIRES, VLLM_HINT, LLMConfig
from synthpipe.llm.types import ChatRequest, ChatResponse, FatalError, LLMError, Usage


class VLLMBackend(LLMBackend):
    supports_response_format = False

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.generate_calls = 0  # LLM.chat invocations (shows batching at work)
        self._llm: Any = None
        self._lock = threading.Lock()  # the engine is not thread-safe
        self._batcher: MicroBatcher[ChatRequest, ChatResponse] = MicroBatcher(
            self._run_batch, key=lambda _request: None, max_batch=config.batch_size
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        _import_vllm()  # fail fast with the install hint, before queueing
        local_model_dir(self.config.model)
        return await self._batcher.submit(request)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._unload)

    def _load(self) -> Any:
        """The engine, built on first use. Call with self._lock held."""
        if self._llm is None:
            vllm = _import_vllm()
            path = local_model_dir(self.config.model)
            self._llm = vllm.LLM(model=str(path), dtype=self.config.dtype)
        return self._llm

    def _unload(self) -> None:
        with self._lock:
            self._llm = None
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:
                pass

    async def _run_batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        try:
            return await asyncio.to_thread(self._generate, requests)
        except (SynthpipeError, LLMError):
            raise
        except Exception as exc:  # engine failures: retrying the same batch will not help
            raise FatalError(f"vllm generation failed: {type(exc).__name__}: {exc}") from exc

    def _generate(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        vllm = _import_vllm()
        with self._lock:
            llm = self._load()
            params = [_sampling_params(vllm, r) for r in requests]
            outputs = llm.chat([r.messages for r in requests], params, use_tqdm=False)
            self.generate_calls += 1
        return [self._response(r, out) for r, out in zip(requests, outputs, strict=True)]

    def _response(self, request: ChatRequest, output: Any) -> ChatResponse:
        samples = output.outputs * (request.n // len(output.outputs))  # greedy made one
        completion = sum(len(s.token_ids) for s in samples)
        return ChatResponse(
            texts=[s.text for s in samples],
            finish_reasons=[s.finish_reason for s in samples],
            usage=Usage(prompt_tokens=len(output.prompt_token_ids or []), completion_tokens=completion),
            model=self.config.model,
        )


def _sampling_params(vllm: Any, request: ChatRequest) -> Any:
    p = request.params
    greedy = p.temperature == 0  # vLLM rejects n > 1 with greedy sampling; all would be equal
    return vllm.SamplingParams(
        n=1 if greedy else request.n,
        temperature=p.temperature,
        top_p=p.top_p,
        max_tokens=p.max_tokens,
        stop=list(p.stop) if p.stop else None,
        seed=p.seed,
    )


def _import_vllm() -> Any:
    require(*BACKEND_REQUIRES["vllm"], why="the vllm backend", hint=VLLM_HINT)
    import vllm

    return vllm

"""The in-process backends on a tiny random-weight GPT-2 built here (no hub access): the real
`from_pretrained(local_dir)` path, batching, sampling, seeds, stop strings, loop safety."""

from __future__ import annotations

import asyncio
import importlib.util
import random
from pathlib import Path

import pytest

from synthpipe.errors import UsageError
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.types import ChatRequest, ChatResponse, SamplingParams

WORDS = (
    "the a one some every cat dog bird fish horse mouse frog owl sat ran swam flew jumped slept "
    "sang ate on under over near beside the mat log tree river hill house garden road quickly "
    "slowly quietly happily red blue green yellow big small old young happy sad bright dark "
    "morning evening night today tomorrow because and but while then again never always"
)
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
HI = [{"role": "user", "content": "the cat sat on the mat"}]


def _sentences(count: int = 400) -> list[str]:
    rng, words = random.Random(0), WORDS.split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(count)]


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_sentences(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random GPT-2 and its BPE tokenizer, saved like any local model directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # belt and braces: the backend loads local files only
        torch = pytest.importorskip("torch", reason="the transformers backend needs torch")
        pytest.importorskip("transformers", reason="the transformers backend needs transformers")
        from transformers import GPT2Config, GPT2LMHeadModel

        tokenizer = _build_tokenizer()
        config = GPT2Config(
            n_layer=2,
            n_head=2,
            n_embd=64,
            vocab_size=len(tokenizer),
            n_positions=256,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(0)
        path = tmp_path_factory.mktemp("tiny-gpt2")
        GPT2LMHeadModel(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
        return path


def _backend(model: Path | str, batch_size: int = 8):
    from synthpipe.llm.transformers_backend import TransformersBackend

    return TransformersBackend(LLMConfig(backend="transformers", model=str(model), batch_size=batch_size))


def _request(temperature: float = 0.0, max_tokens: int = 16, **kw) -> ChatRequest:
    n = kw.pop("n", 1)
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens, **kw)
    return ChatRequest(messages=HI, params=params, n=n)


def _chat(backend, request: ChatRequest) -> ChatResponse:
    return asyncio.run(backend.chat(request))


def test_chat_returns_text_and_usage(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    response = _chat(_backend(model_dir), _request(max_tokens=12))
    assert len(response.texts) == 1 and isinstance(response.texts[0], str)
    assert response.finish_reasons[0] in ("stop", "length")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    prompt = "user: the cat sat on the mat\nassistant:"
    assert response.usage.prompt_tokens == len(tokenizer(prompt)["input_ids"])
    assert 0 < response.usage.completion_tokens <= 12
    assert response.model == str(model_dir)


def test_n_samples(model_dir: Path) -> None:
    backend = _backend(model_dir)
    sampled = _chat(backend, _request(temperature=1.0, n=2, seed=1))
    greedy = _chat(backend, _request(n=2))
    assert len(sampled.texts) == 2 and len(sampled.finish_reasons) == 2
    assert len(greedy.texts) == 2 and greedy.texts[0] == greedy.texts[1]


def test_greedy_is_deterministic(model_dir: Path) -> None:
    backend = _backend(model_dir)
    assert _chat(backend, _request()).texts == _chat(backend, _request()).texts


def test_same_seed_same_sample(model_dir: Path) -> None:
    backend = _backend(model_dir)
    first = _chat(backend, _request(temperature=1.0, max_tokens=24, seed=7))
    again = _chat(backend, _request(temperature=1.0, max_tokens=24, seed=7))
    other = _chat(backend, _request(temperature=1.0, max_tokens=24, seed=8))
    assert first.texts == again.texts
    assert other.texts != first.texts  # the seed does steer sampling


def test_concurrent_requests_are_batched(model_dir: Path) -> None:
    backend = _backend(model_dir, batch_size=8)
    requests = [_request(temperature=t) for t in (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)]

    async def run() -> list[ChatResponse]:
        return await asyncio.gather(*(backend.chat(r) for r in requests))

    responses = asyncio.run(run())
    assert all(len(r.texts) == 1 for r in responses)
    assert backend.generate_calls < len(requests)
    assert backend.generate_calls == 2  # one per group of identical sampling params


def test_missing_model_dir(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="never downloads"):
        _chat(_backend(tmp_path / "nope"), _request())


def test_stop_strings_truncate(model_dir: Path) -> None:
    backend = _backend(model_dir)
    seeded = {"temperature": 1.0, "max_tokens": 30, "seed": 3}  # varied text, yet reproducible
    full = _chat(backend, _request(**seeded)).texts[0]
    stop = full[len(full) // 2 :][:3]
    assert len(stop) == 3 and full.find(stop) > 0, f"need a longer output to cut: {full!r}"
    cut = _chat(backend, _request(**seeded, stop=("never-generated", stop)))
    assert cut.texts == [full[: full.find(stop)]]
    assert cut.finish_reasons == ["stop"]


def test_survives_several_event_loops(model_dir: Path) -> None:
    backend = _backend(model_dir)
    first = _chat(backend, _request())

    async def two() -> list[ChatResponse]:
        return await asyncio.gather(backend.chat(_request()), backend.chat(_request()))

    second = asyncio.run(two())
    assert [r.texts for r in second] == [first.texts, first.texts]
    asyncio.run(backend.aclose())
    assert _chat(backend, _request()).texts == first.texts  # reloads after aclose


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_without_vllm_says_how_to_install(tmp_path: Path) -> None:
    from synthpipe.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend(LLMConfig(backend="vllm", model=str(tmp_path)))
    with pytest.raises(UsageError, match="needs a GPU and `pip install synthpipe\\[vllm\\]`"):
        _chat(backend, _request())

"""The LM scorers (`perplexity`, `ifd`): their numbers against a hand computation on a tiny
random-weight GPT-2 built here, batching and padding that change nothing, drops with reasons,
and, on the real SmolLM2-135M, the orderings the papers rely on."""

from __future__ import annotations

import logging
import math
import random

import pytest

from synthpipe import Pipeline
from synthpipe.curate.lm_scores import losses
from synthpipe.curate.lm_scores.ifd_cherry import ALPACA_PROMPT, InstructionFollowingDifficulty
from synthpipe.curate.lm_scores.perplexity import Perplexity
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.pipeline.step import StepContext

WORDS = [
    "the", "a", "one", "some", "every", "cat", "dog", "bird", "fish", "horse", "sat", "ran",
    "swam", "flew", "jumped", "on", "under", "over", "near", "mat", "log", "tree", "river",
    "hill", "house", "quickly", "slowly", "red", "blue", "green", "big", "small", "old", "young",
    "happy", "morning", "evening", "night", "because", "and", "but", "while", "then", "what",
    "where", "who", "when", "is", "was",
]  # fmt: skip
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14))) for _ in range(count)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random GPT-2 and its BPE tokenizer (bos <|bos|>, a chat template), saved as a
    local model directory."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(sentences(300), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = GPT2Config(
        n_layer=2, n_head=2, n_embd=32, vocab_size=len(tokenizer), n_positions=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def hand_loss(model_dir: str, context: str | list[int], target: str) -> float:
    """Mean cross-entropy of `target`'s tokens after `context`, one unpadded sequence, by hand."""
    import torch
    import torch.nn.functional as F

    model = losses.scoring_model(model_dir)
    tok = model.tokenizer
    ctx = (
        context
        if isinstance(context, list)
        else tok(context, add_special_tokens=False)["input_ids"]
    )
    tgt = tok(target, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + tgt])
    with torch.no_grad():
        logits = model.lm(ids).logits[0]
    return F.cross_entropy(logits[len(ctx) - 1 : -1], ids[0, len(ctx) :]).item()


def run(step, records: list[dict], name: str = "s") -> list[dict]:
    return step.process([dict(r) for r in records], StepContext(name))


# -- perplexity ---------------------------------------------------------------------------------
def test_perplexity_matches_a_hand_computation(tiny):
    texts = sentences(6, seed=1)
    out = run(Perplexity(model=tiny, loss_field="nll"), [{"text": t} for t in texts])
    bos = losses.scoring_model(tiny).tokenizer.bos_token_id  # auto start: the model's bos
    for record, text in zip(out, texts, strict=True):
        expected = hand_loss(tiny, [bos], text)
        assert record["nll"] == pytest.approx(expected, abs=1e-4)
        assert record["perplexity"] == pytest.approx(math.exp(expected), rel=1e-4)


def test_batching_and_padding_do_not_change_a_score(tiny):
    records = [{"id": k, "text": t} for k, t in enumerate(sentences(20, seed=2))]
    one = run(Perplexity(model=tiny, batch_size=1), records)
    eight = run(Perplexity(model=tiny, batch_size=8), records)
    assert [r["id"] for r in eight] == list(range(20))  # order kept
    for a, b in zip(one, eight, strict=True):
        assert b["perplexity"] == pytest.approx(a["perplexity"], rel=1e-4)
    again = run(Perplexity(model=tiny, batch_size=8), records)
    assert [r["perplexity"] for r in again] == [r["perplexity"] for r in eight]  # deterministic


def test_without_a_start_token_the_first_token_is_context(tiny):
    text = "the cat sat on the mat"
    (record,) = run(Perplexity(model=tiny, start_token=None, loss_field="nll"), [{"text": text}])
    ids = losses.scoring_model(tiny).encode(text)
    first = losses.scoring_model(tiny).tokenizer.decode(ids[:1])
    assert record["nll"] == pytest.approx(hand_loss(tiny, ids[:1], text[len(first) :]), abs=1e-4)


def test_several_text_fields_are_joined(tiny):
    (joined,) = run(
        Perplexity(model=tiny, text_field=["a", "b"]), [{"a": "the cat", "b": "sat down"}]
    )
    (single,) = run(Perplexity(model=tiny), [{"text": "the cat\nsat down"}])
    assert joined["perplexity"] == pytest.approx(single["perplexity"], rel=1e-6)


def test_bounds_drop_with_the_value_in_the_detail(tiny):
    records = [{"text": t} for t in sentences(10, seed=3)]
    scores = sorted(r["perplexity"] for r in run(Perplexity(model=tiny), records))
    low, high = scores[2], scores[7]
    out = run(Perplexity(model=tiny, min_perplexity=low, max_perplexity=high), records)
    reasons = [r.get("_drop", {}).get("reason") for r in out]
    assert reasons.count("low_perplexity") == 2 and reasons.count("high_perplexity") == 2
    for record in out:
        assert "perplexity" in record  # dropped records keep their score
        if record.get("_drop"):
            assert f"{record['perplexity']:.4g}" in record["_drop"]["detail"]


def test_unscorable_records_are_dropped_with_reasons(tiny):
    records = [
        {"text": "the dog ran"},
        {"other": "x"},
        {"text": 3},
        {"text": "   "},
        {"text": None},
    ]
    out = run(Perplexity(model=tiny), records)
    assert "perplexity" in out[0] and "_drop" not in out[0]
    assert [r["_drop"]["reason"] for r in out[1:]] == [
        "missing_text",
        "not_text",
        "empty_text",
        "missing_text",
    ]


def test_already_dropped_records_are_left_alone(tiny):
    gone = {"text": "the dog", "_drop": {"step": "x", "reason": "r", "detail": None}}
    (out,) = run(Perplexity(model=tiny), [gone])
    assert "perplexity" not in out and out["_drop"]["step"] == "x"


def test_long_texts_are_cut_and_noted(tiny, caplog):
    text = " ".join(sentences(30, seed=4))
    with caplog.at_level(logging.WARNING):
        (record,) = run(Perplexity(model=tiny, max_length=16, loss_field="nll"), [{"text": text}])
    model = losses.scoring_model(tiny)
    first = model.tokenizer.decode(model.encode(text)[:15])
    assert record["nll"] == pytest.approx(
        hand_loss(tiny, [model.tokenizer.bos_token_id], first), abs=1e-4
    )
    assert "1 of 1 records cut to 16 tokens" in caplog.text


def test_the_model_loads_once_per_process(tiny, monkeypatch):
    calls = []
    real = losses.load_causal_lm
    monkeypatch.setattr(losses, "load_causal_lm", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(losses, "_LOADED", {})
    for _ in range(3):
        run(Perplexity(model=tiny), [{"text": "the cat"}])
    run(
        InstructionFollowingDifficulty(model=tiny), [{"instruction": "what", "response": "the cat"}]
    )
    assert len(calls) == 1


def test_config_errors_name_the_problem(tiny):
    with pytest.raises(UsageError, match="min_perplexity .* above max_perplexity"):
        Perplexity(min_perplexity=50, max_perplexity=10)
    with pytest.raises(UsageError, match="not a token"):
        run(Perplexity(model=tiny, start_token="<|nope|>"), [{"text": "the cat"}])
    with pytest.raises(UsageError, match="not found"):
        run(Perplexity(model="/no/such/model"), [{"text": "the cat"}])


def test_requirements_include_gguf_for_a_gguf_model(tiny, tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"")
    assert Perplexity(model=str(tmp_path / "m.gguf")).requirements() == (
        "torch",
        "transformers",
        "gguf",
    )
    assert Perplexity(model=tiny).requirements() == ("torch", "transformers")
    assert Perplexity(model="/no/such/model").requirements() == ("torch", "transformers")


def test_runs_in_a_pipeline(tiny, tmp_path):
    records = [{"id": k, "text": t} for k, t in enumerate(sentences(12, seed=5))]
    steps = {"src": FromRecords(records=records), "ppl": Perplexity(model=tiny, max_perplexity=1e9)}
    result = Pipeline("ppl", steps, batch_size=5).run(tmp_path / "run")
    assert len(result.kept) == 12 and all(r["perplexity"] > 1 for r in result.kept)


# -- IFD ----------------------------------------------------------------------------------------
PAIRS = [
    {"instruction": "where is the red house", "response": "the red house is near the river"},
    {
        "instruction": "who ran",
        "response": "the dog ran quickly over the hill because it was happy",
    },
    {"instruction": "what swam", "response": "a fish"},
]


def test_ifd_matches_a_hand_computation_in_each_format(tiny, monkeypatch):
    prefix_runs = []  # alpaca's long shared prompt runs once per forward pass (a cached prefix)
    real = losses.ScoringModel._prefix_cache
    monkeypatch.setattr(
        losses.ScoringModel, "_prefix_cache", lambda *a: prefix_runs.append(1) or real(*a)
    )
    bos = losses.scoring_model(tiny).tokenizer.bos_token_id
    enc = losses.scoring_model(tiny).encode
    contexts = {  # (conditioned context, direct context) per format, written out by hand
        "chat": (lambda q: enc(f"user: {q}\nassistant:"), [bos, *enc("assistant:")]),
        "alpaca": (
            lambda q: [bos, *enc(ALPACA_PROMPT.format(instruction=q))],
            [bos, *enc("### Response:")],
        ),
        "plain": (lambda q: [bos, *enc(q + "\n")], [bos]),
    }
    for fmt, (conditioned, direct) in contexts.items():
        step = InstructionFollowingDifficulty(
            model=tiny, prompt_format=fmt, conditioned_loss_field="c", direct_loss_field="d"
        )
        for record in run(step, PAIRS):
            c = hand_loss(tiny, conditioned(record["instruction"]), record["response"])
            d = hand_loss(tiny, direct, record["response"])
            assert record["c"] == pytest.approx(c, abs=1e-4), fmt
            assert record["d"] == pytest.approx(d, abs=1e-4), fmt
            assert record["ifd"] == pytest.approx(c / d, rel=1e-4), fmt
    assert prefix_runs


def test_ifd_batching_does_not_change_a_score(tiny):
    records = [
        {"instruction": q, "response": a}
        for q, a in zip(sentences(12, 6), sentences(12, 7), strict=True)
    ]
    one = run(InstructionFollowingDifficulty(model=tiny, batch_size=1), records)
    eight = run(InstructionFollowingDifficulty(model=tiny, batch_size=8), records)
    for a, b in zip(one, eight, strict=True):
        assert b["ifd"] == pytest.approx(a["ifd"], rel=1e-4)


def test_instruction_template_renders_from_the_record(tiny):
    step = InstructionFollowingDifficulty(
        model=tiny,
        instruction_template="write a question whose answer is a {label}",
        response_field="text",
    )
    (templated,) = run(step, [{"label": "fish", "text": "what swam"}])
    (direct,) = run(
        InstructionFollowingDifficulty(model=tiny, response_field="text"),
        [{"instruction": "write a question whose answer is a fish", "text": "what swam"}],
    )
    assert templated["ifd"] == direct["ifd"]
    assert step.input_columns() == {"label", "text"}
    (missing,) = run(step, [{"text": "what swam"}])
    assert missing["_drop"]["reason"] == "missing_text" and "label" in missing["_drop"]["detail"]
    nested = InstructionFollowingDifficulty(
        model=tiny, instruction_template="about {label.x}", response_field="text"
    )
    (bad,) = run(nested, [{"label": "fish", "text": "what swam"}])
    assert bad["_drop"]["reason"] == "not_text" and "AttributeError" in bad["_drop"]["detail"]


def test_ifd_input_field_and_alpaca_input_prompt(tiny):
    step = InstructionFollowingDifficulty(
        model=tiny, input_field="input", prompt_format="alpaca", conditioned_loss_field="c"
    )
    (with_input,) = run(
        step, [{"instruction": "who ran", "input": "the dog", "response": "the dog ran"}]
    )
    (without,) = run(step, [{"instruction": "who ran", "input": "", "response": "the dog ran"}])
    assert with_input["c"] != without["c"]
    (bare,) = run(step, [{"instruction": "who ran", "response": "the dog ran"}])  # no input field
    assert bare["c"] == without["c"]


def test_ifd_filter_and_drops(tiny):
    records = [
        *PAIRS,
        {"instruction": "  ", "response": "x"},
        {"instruction": "who", "response": ""},
        {"response": "x"},
    ]
    out = run(InstructionFollowingDifficulty(model=tiny, max_ifd=1.0), records)
    for record in out[:3]:
        assert (record["ifd"] > 1.0) == (record.get("_drop", {}).get("reason") == "high_ifd")
    assert [r["_drop"]["reason"] for r in out[3:]] == ["empty_text", "empty_text", "missing_text"]
    with pytest.raises(ValueError, match="names no field"):
        InstructionFollowingDifficulty(instruction_template="no fields here")


# -- the real SmolLM2-135M ----------------------------------------------------------------------
FLUENT = [
    "The children walked to school together on a sunny morning.",
    "She poured a cup of hot tea and sat down by the window.",
    "Heavy rain caused the river to flood the nearby fields.",
]


def shuffled(text: str, seed: int = 0) -> str:
    words = text.rstrip(".").split()
    random.Random(seed).shuffle(words)
    return " ".join(words) + "."


@pytest.fixture(scope="module")
def smollm():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from synthpipe.llm.local_models import DEFAULT_MODEL, resolve_local_model

    try:
        resolve_local_model(DEFAULT_MODEL)
    except UsageError as exc:
        pytest.skip(str(exc))
    return DEFAULT_MODEL


@pytest.mark.real_model
def test_real_model_fluent_text_has_lower_perplexity_than_shuffled(smollm):
    records = [{"text": t} for t in FLUENT] + [{"text": shuffled(t)} for t in FLUENT]
    out = run(Perplexity(model=smollm), records)
    scores = [r["perplexity"] for r in out]
    for fluent, mixed in zip(scores[:3], scores[3:], strict=True):
        assert fluent < mixed


ANSWERS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What colour is the sky on a clear day?", "On a clear day the sky is blue."),
]


@pytest.mark.real_model
def test_real_model_ifd_is_lower_when_the_instruction_fits_the_answer(smollm):
    fitting = [{"instruction": q, "response": a} for q, a in ANSWERS]
    unrelated = [
        {"instruction": ANSWERS[(k + 1) % 3][0], "response": a} for k, (_, a) in enumerate(ANSWERS)
    ]
    step = InstructionFollowingDifficulty(
        model=smollm, conditioned_loss_field="c", direct_loss_field="d"
    )
    out = run(step, fitting + unrelated)
    for good, bad in zip(out[:3], out[3:], strict=True):
        assert good["ifd"] < bad["ifd"]
        assert good["d"] == pytest.approx(bad["d"], rel=1e-4)  # same answer alone: same score
    for record in out:
        assert record["ifd"] == pytest.approx(record["c"] / record["d"], rel=1e-9)

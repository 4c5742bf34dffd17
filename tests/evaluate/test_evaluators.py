"""Evaluators on predictions with known scores: metrics, per-item vectors, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthpipe.errors import UsageError
from synthpipe.evaluate.evaluators import Evaluation, evaluator_names, get_evaluator, macro_f1

RESOURCES = Path(__file__).resolve().parents[2] / "src" / "synthpipe" / "resources" / "benchmarks"


def test_registry():
    assert evaluator_names() == ["classification", "code", "judge", "math"]
    with pytest.raises(UsageError, match="unknown evaluator 'nope'.*classification"):
        get_evaluator("nope")
    with pytest.raises(UsageError, match="invalid classification evaluator config: textfield"):
        get_evaluator("classification")({"textfield": "x"})


# -- classification -------------------------------------------------------------------------------
def test_classification_accuracy_macro_f1_and_per_item():
    records = [{"q": f"t{i}", "y": y} for i, y in enumerate("AAABBC")]
    predictions = ["A", "A", "B", "B", "B", "A"]
    ev = get_evaluator("classification")(text_field="q", label_field="y")
    assert ev.inputs(records) == ["t0", "t1", "t2", "t3", "t4", "t5"]
    out = ev.evaluate(records, predictions)
    assert isinstance(out, Evaluation) and out.primary == "accuracy"
    assert out.correct.tolist() == [1, 1, 0, 1, 1, 0]
    assert out.metrics["accuracy"] == pytest.approx(4 / 6)
    # F1 per label: A = 2*2/(3+3), B = 2*2/(2+3), C = 0 (never predicted)
    assert out.metrics["macro_f1"] == pytest.approx((4 / 6 + 4 / 5 + 0) / 3)
    assert out.metrics["n"] == 6


def test_macro_f1_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    gold = rng.choice(list("ABCDE"), 300).tolist()
    pred = [g if rng.random() < 0.6 else str(rng.choice(list("ABCDEF"))) for g in gold]
    expected = sklearn_metrics.f1_score(gold, pred, average="macro")
    assert macro_f1(gold, pred) == pytest.approx(expected)


def test_integer_labels_match_string_predictions():
    # SST-2 stores labels as ints; trainers predict strings
    records = [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    out = get_evaluator("classification")().evaluate(records, ["1", "1"])
    assert out.correct.tolist() == [1.0, 0.0]


def test_classification_errors_name_the_fix():
    ev = get_evaluator("classification")()
    with pytest.raises(UsageError, match="2 predictions for 1 test records"):
        ev.evaluate([{"text": "x", "label": "A"}], ["A", "B"])
    with pytest.raises(UsageError, match="no field 'label'.*set `label_field`"):
        ev.evaluate([{"text": "x", "answer": "A"}], ["A"])


# -- math -------------------------------------------------------------------------------------------
def test_math_final_answer_accuracy():
    records = [
        {"question": "q1", "answer": "Work... so she has 1000 left.\n#### 1,000"},
        {"question": "q2", "answer": "3/4"},
        {"question": "q3", "answer": "\\frac{1}{2}"},
        {"question": "q4", "answer": "7"},
        {"question": "q5", "answer": "12"},
    ]
    predictions = [
        "She spends 500, so the answer is 1000.",
        "0.75",
        "Hence \\boxed{0.5}",
        "I am not sure.",  # no answer at all
        "#### 13",
    ]
    out = get_evaluator("math")().evaluate(records, predictions)
    assert out.correct.tolist() == [1, 1, 1, 0, 0]
    assert out.metrics["accuracy"] == pytest.approx(0.6)
    assert out.metrics["answered"] == pytest.approx(0.8)
    strict = get_evaluator("math")(fallback_last_number=False)
    assert strict.evaluate([records[1]], ["maybe 0.75 or so"]).correct.tolist() == [0]


# -- code ---------------------------------------------------------------------------------------------
def test_code_pass_at_k_over_samples():
    records = [
        {"prompt": "add", "tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]},
        {"prompt": "neg", "tests": ["assert neg(2) == -2"]},
    ]
    right_add, wrong_add = "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a\n"
    right_neg = "def neg(x):\n    return -x\n"
    ev = get_evaluator("code")(layout="plain", k=[1, 2])
    assert ev.inputs(records) == ["add", "neg"]
    out = ev.evaluate(records, [[right_add, wrong_add], [right_neg, "def neg(x):\n  return (\n"]])
    assert out.primary == "pass@1"
    assert out.correct.tolist() == [0.5, 0.5]
    assert out.metrics["pass@1"] == pytest.approx(0.5)
    assert out.metrics["pass@2"] == pytest.approx(1.0)
    single = ev.evaluate(records, [right_add, "def neg(x):\n    return x\n"])
    assert single.correct.tolist() == [1.0, 0.0]
    assert "pass@2" not in single.metrics  # k larger than the samples per item


def test_code_on_bundled_humaneval_completions_and_programs():
    with (RESOURCES / "humaneval" / "test.jsonl").open() as f:
        records = [json.loads(next(f)) for _ in range(2)]
    completion = get_evaluator("code")(prompt_field="question", input_field="question")
    assert completion.inputs(records)[0].startswith("from typing import List")
    out = completion.evaluate(records, [records[0]["answer"], "    return None\n"])
    assert out.correct.tolist() == [1.0, 0.0]
    program = get_evaluator("code")(prompt_field="question", prediction="program")
    whole = [r["question"] + r["answer"] for r in records]
    assert program.evaluate(records, whole).correct.tolist() == [1.0, 1.0]


# -- judge --------------------------------------------------------------------------------------------
def test_judge_win_rate_from_verdicts():
    records = [{"instruction": f"i{i}"} for i in range(5)]
    ev = get_evaluator("judge")()
    out = ev.evaluate(records, ["a", "b", "tie", "a", "garbled"])
    assert out.metrics["win_rate"] == pytest.approx((2 + 0.5) / 4)
    assert out.metrics["skipped"] == 1
    assert out.correct.tolist() == [1.0, 0.0, 0.5, 1.0]  # judged items only
    as_b = get_evaluator("judge")(side="b").evaluate(records, ["a", "b", "tie", "a", "x"])
    assert as_b.metrics["win_rate"] == pytest.approx(1.5 / 4)
    from_records = ev.evaluate([{"winner": "a"}, {"winner": "b"}])
    assert from_records.metrics["win_rate"] == pytest.approx(0.5)
    assert not get_evaluator("judge")().experiment_ready  # no judge endpoint: verdicts only


def test_judge_runs_live_on_predictions_against_the_baseline(tmp_path: Path) -> None:
    """With `llm`, the pairwise judge (both orders) compares each prediction with the baseline."""
    import json
    import re
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
    from llm_server import ScriptedOpenAIServer, last_user_content

    def responder(body: dict) -> list[str]:  # the longer answer wins, whichever side it is on
        text = last_user_content(body)
        a = re.search(r"\[Response A\]\n(.*?)\n\[End of response A\]", text, re.S).group(1)
        b = re.search(r"\[Response B\]\n(.*?)\n\[End of response B\]", text, re.S).group(1)
        verdict = "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"
        return [json.dumps({"rationale": "length", "verdict": verdict})]

    records = [{"id": str(i), "instruction": f"Q{i}", "baseline": "short"} for i in range(4)]
    predictions = ["a much longer answer", "a much longer answer", "tiny", "short"]
    with ScriptedOpenAIServer(responder=responder) as server:
        llm = {"backend": "openai", "base_url": server.base_url, "model": "test-model", "max_retries": 0}
        ev = get_evaluator("judge")(llm=llm, cache=str(tmp_path / "judge.sqlite"))
        assert ev.experiment_ready
        out = ev.evaluate(records, predictions)
        assert len(server.requests) == 8  # two orders per item
    assert out.metrics["wins"] == 2 and out.metrics["losses"] == 1 and out.metrics["ties"] == 1
    assert out.metrics["win_rate"] == 0.625 and out.correct.tolist() == [1.0, 1.0, 0.0, 0.5]

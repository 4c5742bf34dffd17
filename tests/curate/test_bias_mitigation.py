"""Bias mitigation: counterfactual augmentation and rebalancing move the audit's gender share
to the target, every removed record is in the ledger, swaps keep his/him/her grammar, and the
recipe's report shows the audits before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthpipe.audit.bias import demographic_representation
from synthpipe.audit.counterfactual import swap_gender as audit_swap
from synthpipe.curate.bias_mitigation.counterfactual_augment import CounterfactualAugment
from synthpipe.curate.bias_mitigation.rebalance import Rebalance
from synthpipe.data.records import DROP, LINEAGE
from synthpipe.pipeline.sources import FromRecords
from synthpipe.run.api import Pipeline
from synthpipe.text.gender_swap import swap_gender

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "bias_mitigation.yaml"

MALE = [
    "He fixed his car before the race.",
    "The man told his son a story.",
    "My father says he saw the doctor today.",
    "The king gave him a sword.",
    "His brother is a teacher.",
]
FEMALE = [
    "She fixed her car before the race.",
    "The woman told her daughter a story.",
    "My mother says she saw the doctor today.",
]
NEUTRAL = ["The weather is nice today.", "Prices rose by ten percent."]


def _records() -> list[dict]:
    """~85% of the gendered words male: 17 male sentences to every 3 female ones, plus neutral."""
    texts = [MALE[i % len(MALE)] for i in range(170)] + [FEMALE[i % len(FEMALE)] for i in range(30)]
    texts += NEUTRAL * 10
    return [{"id": f"r{i}", "text": t, "label": "pos" if i % 2 else "neg"} for i, t in enumerate(texts)]


def _share(records: list[dict]) -> float:
    """The female share of gendered words, computed as the audit computes it."""
    return demographic_representation([r["text"] for r in records])["distribution"]["female"]


def _run(tmp_path: Path, **steps) -> tuple[list[dict], list[dict]]:
    result = Pipeline("mitigate", {"src": FromRecords(records=_records()), **steps}).run(tmp_path / "run")
    return result.kept, result.dropped


def test_rebalance_downsamples_the_share_to_the_target_and_ledgers_every_removal(tmp_path):
    source = _records()
    assert _share(source) == pytest.approx(0.15, abs=0.03)
    kept, dropped = _run(tmp_path, rebalance=Rebalance(target={"female": 0.5}))
    assert abs(_share(kept) - 0.5) <= 0.05
    assert len(kept) + len(dropped) == len(source)  # nothing lost: every removal is in the ledger
    assert dropped and all(r[DROP]["reason"] == "rebalanced" for r in dropped)
    detail = dropped[0][DROP]["detail"]
    assert detail["group"] == "male" and detail["target_share"] == 0.5
    assert detail["share_before"] == pytest.approx(1 - _share(source))
    assert {r["text"] for r in dropped} <= set(MALE)  # only records leaning male go
    again, _ = _run(tmp_path / "again", rebalance=Rebalance(target={"female": 0.5}))
    assert [r["id"] for r in again] == [r["id"] for r in kept]  # seeded: the same records


def test_counterfactual_augment_underrepresented_moves_the_share_to_the_target(tmp_path):
    kept, dropped = _run(tmp_path, cda=CounterfactualAugment(only="underrepresented", target=0.5))
    assert abs(_share(kept) - 0.5) <= 0.05 and not dropped
    copies = [r for r in kept if r["id"].endswith("~cda")]
    assert copies and all(r["text"] in {swap_gender(t) for t in MALE} for r in copies)
    lineage = copies[0][LINEAGE]["cda"]
    assert lineage["source_id"] == copies[0]["id"].removesuffix("~cda") and lineage["swaps"]["text"]
    neutral = [r for r in kept if r["text"] in NEUTRAL]
    assert len(neutral) == 20 and not any(r["id"].endswith("~cda") for r in neutral)


def test_counterfactual_augment_swaps_both_directions_and_replace_ledgers_originals(tmp_path):
    kept, dropped = _run(tmp_path, cda=CounterfactualAugment(mode="replace"))
    texts = {r["text"] for r in kept}
    assert "She fixed her car before the race." in texts and "He fixed his car before the race." in texts
    assert len(dropped) == 200 and all(r[DROP]["reason"] == "cda_replaced" for r in dropped)
    assert dropped[0][DROP]["detail"] == {"replaced_by": dropped[0]["id"] + "~cda"}
    assert _share(kept) == pytest.approx(1 - _share(_records()))


def test_rebalance_upsamples_by_counterfactual_copies_without_dropping(tmp_path):
    kept, dropped = _run(tmp_path, rebalance=Rebalance(target={"female": 0.5}, upsample="counterfactual"))
    assert not dropped and abs(_share(kept) - 0.5) <= 0.05
    assert len(kept) > len(_records())


def test_rebalance_on_a_label_axis_hits_the_target_shares(tmp_path):
    records = _records()
    steps = {"src": FromRecords(records=records), "rebalance": Rebalance(axis="label", target={"pos": 0.25})}
    result = Pipeline("labels", steps).run(tmp_path / "run")
    pos = sum(r["label"] == "pos" for r in result.kept)
    assert pos / len(result.kept) == pytest.approx(0.25, abs=0.01)
    assert len(result.kept) + len(result.dropped) == len(records)
    assert {r[DROP]["detail"]["group"] for r in result.dropped} == {"pos"}  # the over-represented one


def test_counterfactual_upsampling_needs_the_gender_axis():
    with pytest.raises(ValueError, match="gender axis"):
        Rebalance(axis="label", upsample="counterfactual")


@pytest.mark.parametrize(
    ("text", "swapped"),
    [
        ("She drove her car.", "He drove his car."),
        ("I saw her.", "I saw him."),
        ("He gave her the book.", "She gave him the book."),
        ("The book is his.", "The book is her."),
        ("Mary met her father.", "James met his mother."),
        ("HIS Mother", "HER Father"),
    ],
)
def test_swaps_keep_pronoun_grammar_and_the_audit_uses_the_same_swap(text, swapped):
    assert swap_gender(text) == swapped
    assert audit_swap(text) == swapped  # the text/ move kept audit.counterfactual's behaviour


def test_recipe_reports_both_audits_and_the_mitigation(tmp_path):
    result = Pipeline.from_recipe(RECIPE).run(tmp_path / "run")
    audits = result.metrics["audit"]
    before = audits["audit_before"]["bias"]["demographic_representation"]["distribution"]["female"]
    after = audits["audit_after"]["bias"]["demographic_representation"]["distribution"]["female"]
    assert before < 0.35 and abs(after - 0.5) <= 0.05
    facts = result.metrics["bias_mitigation"]
    assert facts["augment"]["added"] > 0 and facts["labels"]["removed"] > 0
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="bias-mitigation"'):]
    assert "Bias mitigation: before and after" in section
    assert "audit_before" in section and "audit_after" in section and "Target female share" in section


def test_compare_section_needs_two_audits_and_folds_without_gendered_words():
    from synthpipe.report.bias_compare_section import bias_compare_section

    assert bias_compare_section({"audit": {"only": {}}}) is None
    section = bias_compare_section({"audit": {"a": {}, "b": {}}})
    assert section is not None and section.collapsed == "no gendered words in any audit"
    with pytest.raises(ValueError, match="male and female"):
        Rebalance(target={"women": 0.5})


def test_rebalance_with_a_target_run_generates_more_of_the_short_group(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: more\nseed: 0\ntarget: {kept: 300}\nsteps:\n"
        "  generate: {step: slot_template, seeds: 'bundled:trec/seeds.jsonl', n: 200}\n"
        "  labels: {step: rebalance, axis: label, target: {HUM: 0.5}}\n",
        encoding="utf-8",
    )
    kept = Pipeline.from_recipe(recipe).run(tmp_path / "run").kept
    assert len(kept) == 300 and sum(r["label"] == "HUM" for r in kept) == 150

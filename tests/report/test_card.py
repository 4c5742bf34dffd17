"""The dataset card: Hub front matter that huggingface_hub parses and the Hub accepts, fields from
the schema, source licences and attribution, no path of the machine, titles that say what they list."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from synthpipe.data.paths import bundled_root
from synthpipe.data.provenance import describe, recipe_sources
from synthpipe.report.card import dataset_card
from synthpipe.report.card_metadata import choose_license
from synthpipe.report.hub_metadata import HUB_LICENSES, card_problems, size_category

huggingface_hub = pytest.importorskip("huggingface_hub")

AUDIT = {"n_records": 1592, "text_field": "text", "label_field": "label", "inputs": {"data": "x"},
         "signatures": [{"name": "mode collapse", "status": "red", "value": {}, "explanation": "Many texts repeat."},
                        {"name": "label drift", "status": "green", "value": {}, "explanation": "Fine."}]}  # fmt: skip
RECORDS = [
    {"id": f"slot-{i:06d}", "text": f"What is thing {i} ?", "label": "DESC",
     "_lineage": {"technique": "slot_template", "template": f"trec-train-{i % 7}", "seed": 0}}
    for i in range(40)
]  # fmt: skip


def _metrics(tmp_path):
    return {
        "run": {"name": "quickstart", "recipe": str(tmp_path / "recipes" / "quickstart.yaml"), "run_dir": str(tmp_path / "run")},
        "kept": 1592, "dropped": 408, "quarantined": 0,
        "steps": [{"name": "generate", "step": "slot_template", "in": 0, "kept": 2000, "dropped": 0, "reasons": {}},
                  {"name": "dedup", "step": "exact_dedup", "in": 2000, "kept": 1592, "dropped": 408,
                   "reasons": {"duplicate": 408}}],
        "experiment": {"primary_metric": "accuracy", "reference": "real", "test": {"source": "bundled:trec/test.jsonl", "n": 500},
                       "variants": {"synthetic": {"n_train": 1592, "source": str(tmp_path / "run" / "kept"),
                                                  "summary": {"accuracy": {"mean": 0.566, "std": 0.0}},
                                                  "diff_vs_reference": {"diff": -0.301, "low": -0.347, "high": -0.254}},
                                    "real": {"n_train": 1592, "summary": {"accuracy": {"mean": 0.867, "std": 0.012}}}}},
    }  # fmt: skip


def _recipe(tmp_path, seeds="bundled:trec/seeds.jsonl"):
    return {"name": "quickstart", "llm_cache": str(tmp_path / "cache.sqlite"),
            "steps": {"generate": {"step": "slot_template", "seeds": seeds, "n": 2000},
                      "audit": {"step": "audit", "reference": "bundled:trec/train.jsonl"}},
            "experiment": {"test": "bundled:trec/test.jsonl"}}  # fmt: skip


def test_card_front_matter_parses_and_passes_the_hub_checks(tmp_path):
    card = dataset_card(AUDIT, _metrics(tmp_path), RECORDS, recipe=_recipe(tmp_path), repo_id="org/qs",
                        data_files="data/train-*.parquet")  # fmt: skip
    meta = huggingface_hub.DatasetCard(card).data.to_dict()
    assert {"synthetic", "synthpipe"} <= set(meta["tags"])
    assert meta["license"] == "other" and meta["license_name"]  # TREC's data licence is unknown
    assert meta["task_categories"] == ["text-classification"]
    assert meta["size_categories"] == ["1K<n<10K"]
    assert meta["language"] == ["en"] and meta["source_datasets"] == ["extended|CogComp/trec"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}]
    assert card_problems(card, ["data/train-00000-of-00001.parquet"]) == []
    assert 'load_dataset("org/qs", split="train")' in card


def test_card_names_no_path_of_the_machine(tmp_path):
    user_seeds = str(tmp_path / "private" / "my_seeds.jsonl")
    card = dataset_card(AUDIT, _metrics(tmp_path), RECORDS, recipe=_recipe(tmp_path, seeds=user_seeds),
                        base_dir=tmp_path / "recipes")  # fmt: skip
    assert str(tmp_path) not in card
    assert "my_seeds.jsonl" in card and "unknown: state it before publishing" in card
    assert "quickstart.yaml" in card  # the recipe by name


def test_fields_come_from_the_schema_with_types_and_examples(tmp_path):
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("score", pa.float64()),
                        ("tags", pa.list_(pa.string())), ("_lineage", pa.string())])  # fmt: skip
    records = [{"id": "a", "text": "<b>hi</b>", "score": 0.5, "tags": ["x"], "_lineage": {"technique": "t"}}]
    card = dataset_card(AUDIT, None, records, schema=schema)
    fields = card.split("## Fields")[1].split("##")[0]
    assert "| `score` | float64 |" in fields and "| `tags` | list<string> |" in fields
    assert "&lt;b&gt;hi&lt;/b&gt;" in fields  # an example is shown, never rendered as HTML
    assert "JSON text" in fields


def test_template_titles_say_what_they_list():
    slot = dataset_card(AUDIT, None, RECORDS)
    assert "seed records used as templates" in slot and "prompt-template hashes" not in slot
    llm = [{"id": "1", "text": "t", "_lineage": {"gen": {"technique": "SelfInstruct", "template": "9f2c1ab3e4"}}}]
    assert "prompt-template hashes" in dataset_card(AUDIT, None, llm)


def test_licence_is_derived_conservatively_from_the_input_data(tmp_path):
    mit = [describe("bundled:gsm8k/train.jsonl.gz", "input")]
    assert (choose_license(mit).id, choose_license(mit).flagged) == ("mit", False)
    mixed = [*mit, describe("bundled:mbpp/train.jsonl", "input")]
    assert choose_license(mixed).id == "other" and choose_license(mixed).flagged
    user = [describe(str(tmp_path / "seeds.jsonl"), "input")]
    assert choose_license(user).id == "other" and "seeds.jsonl (unknown)" in choose_license(user).reason.replace("`", "")
    # a reference set is attributed but does not license the records
    assert choose_license([*mit, describe("bundled:trec/train.jsonl", "reference")]).id == "mit"
    assert choose_license(user, explicit="cc-by-4.0").id == "cc-by-4.0"


def test_recipe_sources_find_roles_and_bundled_licences():
    recipe = {"steps": {"gen": {"step": "x", "seeds": "bundled:trec/seeds.jsonl"},
                        "audit": {"step": "audit", "reference": "bundled:trec/train.jsonl", "seeds": "bundled:trec/seeds.jsonl"}},
              "experiment": {"test": "bundled:trec/test.jsonl", "real_train": "bundled:trec/train.jsonl"}}  # fmt: skip
    found = {s.ref: s.role for s in recipe_sources(recipe)}
    assert found == {"bundled:trec/seeds.jsonl": "input", "bundled:trec/train.jsonl": "reference",
                     "bundled:trec/test.jsonl": "evaluation"}  # fmt: skip
    s = describe("bundled:trec/seeds.jsonl", "input")
    assert "Li and Dan Roth" in s.citation and s.hub_id == "CogComp/trec"


def test_every_bundled_set_has_a_licence_record():
    for folder in sorted(p for p in bundled_root().iterdir() if p.is_dir()):
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["license"] in HUB_LICENSES, folder.name
        if meta.get("license_file"):
            assert (folder / meta["license_file"]).is_file(), folder.name


def test_card_checks_catch_what_the_hub_would_refuse():
    bad = ("---\nlicense: mit-ish\ntask_categories: [classification]\nsize_categories: [2K]\n"
           "language: [English]\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
           "    path: data/*.parquet\n---\n# x\n")  # fmt: skip
    problems = " ".join(card_problems(bad, ["other/train.parquet"]))
    for word in ("mit-ish", "classification", "2K", "English", "matches no file"):
        assert word in problems
    good = bad.replace("mit-ish", "mit").replace("[classification]", "[text-classification]")
    assert "no config loads other/b.parquet" in " ".join(card_problems(good, ["data/a.parquet", "other/b.parquet"]))
    assert card_problems("# no front matter\n")


def test_size_category_boundaries():
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_experiment_verdict_in_one_sentence(tmp_path):
    card = dataset_card(AUDIT, _metrics(tmp_path), RECORDS)
    assert "**Verdict:** a model trained on this data scored 0.566 accuracy, worse than `real` (0.867)" in card
    limits = card.split("## Known limitations")[1]
    assert "**Mode collapse** (red: a serious problem)" in limits and "Label drift" not in limits


def test_models_used_name_the_recipe_endpoints_and_their_requests(tmp_path):
    recipe = {**_recipe(tmp_path), "llms": {"gen": {"backend": "transformers", "model": str(tmp_path / "models" / "tiny.gguf")}}}
    metrics = {**_metrics(tmp_path), "llm": {"endpoints": {"gen": {"requests": 12, "cached": 2}, "judge": {"requests": 3}}}}
    models = dataset_card(AUDIT, metrics, RECORDS, recipe=recipe).split("## Models used")[1].split("\n## ")[0]
    assert "`gen`: transformers model `tiny.gguf`, 12 requests (2 cached)" in models
    assert "`judge`: 3 requests" in models and str(tmp_path) not in models

"""``export --format argilla`` writes the folder ``rg.Dataset.from_disk`` reads.

The layout (``.argilla/dataset.json``, ``.argilla/settings.json``, ``records.json``) and the
JSON shapes follow argilla 2.8's own ``Dataset.to_disk``, ``Settings.serialize`` and
``Record.to_dict``. When argilla is installed, the last test loads the folder with argilla's
own models and ingests its records as ``from_disk`` does (``from_disk`` itself needs a server
to create the dataset on).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.data.records import drop
from synthpipe.train.export import ExportMapping, export_records

LABELLED = [
    {"id": "k1", "text": " What is NIH? ", "label": "ABBR", "perplexity": 12.5, "n_words": 3,
     "_lineage": {"technique": "slot_template", "model": "smollm2-135m"}},
    {"id": "k2", "text": "Who wrote Hamlet?", "label": "HUM", "perplexity": 8, "n_words": 3},
    drop({"id": "d1", "text": "Who wrote Hamlet ?", "label": "HUM", "perplexity": 9.0, "n_words": 4},
         "dedup", "duplicate", {"of": "k2"}),
]  # fmt: skip
PAIRS = [
    {
        "id": "p1",
        "instruction": "Add.\n",
        "input": "2 and 2",
        "response": " 4",
        "system": "Be terse.",
    }
]
CHATS = [
    {
        "id": "c1",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    }
]
PREFS = [
    {
        "id": "f1",
        "prompt": "Best pet?",
        "chosen": "A cat.",
        "rejected": "A rock.",
        "chosen_score": 4.5,
    }
]


def _load(out: Path) -> tuple[dict, dict, list[dict]]:
    read = lambda name: json.loads((out / name).read_text(encoding="utf-8"))  # noqa: E731
    return read(".argilla/dataset.json"), read(".argilla/settings.json"), read("records.json")


def _names(items: list[dict]) -> list[str]:
    return [item["name"] for item in items]


def test_folder_layout_and_review_questions(tmp_path: Path) -> None:
    out = tmp_path / "review"
    summary = export_records(LABELLED, out, "argilla")
    assert summary.written == 3 and summary.total_rejected == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".argilla/dataset.json", ".argilla/settings.json", "records.json"]  # fmt: skip
    dataset, settings, records = _load(out)
    assert dataset["name"] == "review" and dataset["status"] == "draft"
    assert _names(settings["fields"]) == ["text"] and settings["fields"][0]["required"]
    assert _names(settings["questions"]) == ["verdict", "label", "quality", "correction"]
    label = settings["questions"][1]["settings"]
    assert [o["value"] for o in label["options"]] == ["ABBR", "HUM"]
    meta = {m["name"]: m["settings"]["type"] for m in settings["metadata"]}
    assert meta == {"outcome": "terms", "technique": "terms", "model": "terms", "perplexity": "float",
                    "n_words": "integer", "drop_step": "terms", "drop_reason": "terms"}  # fmt: skip
    kept, _, dropped = records
    assert kept["fields"] == {"text": "What is NIH?"}  # stripped, as every export
    assert kept["suggestions"]["verdict"]["value"] == "keep"
    assert kept["suggestions"]["label"] == {"value": "ABBR", "score": None, "agent": "synthpipe"}
    assert dropped["suggestions"]["verdict"]["value"] == "drop"
    assert dropped["metadata"] == {"outcome": "dropped", "drop_step": "dedup", "drop_reason": "duplicate",
                                   "perplexity": 9.0, "n_words": 4}  # fmt: skip
    assert records[1]["metadata"]["perplexity"] == 8.0  # one type per property: floats


def test_fields_follow_the_record_shape(tmp_path: Path) -> None:
    export_records(PAIRS + CHATS + PREFS, tmp_path / "mixed", "argilla")
    _, settings, records = _load(tmp_path / "mixed")
    fields = {f["name"]: (f["type"], f["required"]) for f in settings["fields"]}
    # mixed shapes: the field most records have is the one Argilla requires
    assert fields == {"system": ("text", False), "conversation": ("chat", False), "prompt": ("text", True),
                      "response": ("text", False), "chosen": ("text", False), "rejected": ("text", False)}  # fmt: skip
    pair, chat, pref = (r["fields"] for r in records)
    assert pair == {"system": "Be terse.", "prompt": "Add.\n\n2 and 2", "response": "4"}
    assert chat == {"conversation": CHATS[0]["messages"]}
    assert pref == {"prompt": "Best pet?", "chosen": "A cat.", "rejected": "A rock."}
    assert "preference" in _names(settings["questions"])
    assert records[2]["suggestions"]["preference"]["value"] == "chosen"
    assert records[2]["metadata"]["chosen_score"] == 4.5


def test_records_without_content_are_rejected_and_vectors_are_kept(tmp_path: Path) -> None:
    records = [{"id": "a", "text": "x", "embedding": [0.1, 0.2]}, {"id": "b", "label": "L"}]
    summary = export_records(records, tmp_path / "v", "argilla")
    assert summary.written == 1 and dict(summary.rejected) == {"missing_field": 1}
    _, settings, [record] = _load(tmp_path / "v")
    assert (
        settings["vectors"][0]["name"] == "embedding" and settings["vectors"][0]["dimensions"] == 2
    )
    assert record["vectors"] == {"embedding": [0.1, 0.2]}


def test_cli_export_argilla(tmp_path: Path) -> None:
    src = tmp_path / "kept.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in LABELLED))
    out = tmp_path / "argilla"
    result = CliRunner().invoke(app, ["export", str(src), "--format", "argilla", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 argilla rows to an Argilla dataset" in result.output
    assert len(_load(out)[2]) == 3 and not (tmp_path / "argilla.rejected.jsonl").exists()


# -- argilla's own models -----------------------------------------------------------------
needs_argilla = pytest.mark.skipif(
    importlib.util.find_spec("argilla") is None, reason="argilla is not installed"
)


@pytest.fixture
def argilla_offline(monkeypatch):
    """argilla with a client that never connects: its models need one to exist."""
    import argilla as rg
    from argilla._api._client import APIClient

    monkeypatch.setattr(APIClient, "_validate_connection", lambda self: None)
    client = rg.Argilla(api_url="http://127.0.0.1:9", api_key="offline")
    monkeypatch.setattr(rg.Argilla, "_default_client", client, raising=False)
    return rg


@needs_argilla
def test_argilla_reads_the_folder_with_its_own_models(tmp_path: Path, argilla_offline) -> None:
    rg = argilla_offline
    from argilla._models import DatasetModel

    out = tmp_path / "review"
    export_records(LABELLED + PAIRS + CHATS + PREFS, out, "argilla", ExportMapping())
    dataset, written, records = _load(out)
    DatasetModel(**dataset)
    settings = rg.Settings.from_json(out / ".argilla" / "settings.json")
    assert settings.serialize() == written  # exactly what argilla itself would write
    options = {q.name: getattr(q, "labels", None) for q in settings.questions}
    # what `from_disk` does after creating the dataset on the server: ingest the records
    dataset = rg.Dataset(name="review", settings=settings)
    ingested = dataset.records._ingest_records(records=[rg.Record.from_dict(r) for r in records])
    assert [m.external_id for m in ingested] == [r["id"] for r in records]
    for data in records:
        record = rg.Record.from_dict(data)
        model = record.api_model()  # validates fields (chat turns too), metadata, vectors
        assert set(model.fields) <= {f.name for f in settings.fields}
        for question, suggestion in data["suggestions"].items():
            assert suggestion["value"] in options[question]
        assert set(data["metadata"]) <= {m.name for m in settings.metadata}

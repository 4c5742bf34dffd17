"""Reading datasets made by distilabel (``format: distilabel``).

The fixtures are written the way distilabel writes its outputs, per its source
(github.com/argilla-io/distilabel):

- ``src/distilabel/distiset.py``: ``create_distiset`` loads each leaf step's Parquet buffer with
  ``load_dataset("parquet", data_files={"train": ...})`` (a DatasetDict with one ``train``
  split), names the only subset ``default``, and ``Distiset.save_to_disk`` calls
  ``dataset.save_to_disk(f"{path}/{name}")`` per subset beside ``distiset_configs/``
  (README.md, pipeline.yaml; ``constants.py``: DISTISET_CONFIG_FOLDER).
  ``push_to_hub`` pushes each subset as a config: Parquet shards ``<config>/train-*.parquet``
  (``data/`` for ``default``), which a download of the repository reproduces.
- ``src/distilabel/steps/tasks/base.py``: a task adds ``model_name`` and
  ``distilabel_metadata`` with ``raw_output_<step>``, ``raw_input_<step>`` (the chat sent)
  and ``statistics_<step>`` (``input_tokens``, ``output_tokens``); ``TextGeneration`` writes
  ``generation``. ``ultrafeedback.py`` reads ``instruction`` and ``generations`` and writes
  ``ratings`` and ``rationales``; ``GroupColumns`` names the models ``model_names`` /
  ``generation_models``.
- ``src/distilabel/steps/formatting/dpo.py``: ``FormatTextGenerationDPO`` writes ``prompt``,
  ``prompt_id`` (SHA-256), ``chosen``/``rejected`` as user + assistant chat lists,
  ``chosen_model``, ``chosen_rating``, ``rejected_model``, ``rejected_rating``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_all
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import ReadRecords
from synthpipe.pipeline.step import StepContext
from synthpipe.train.export import export_file, export_records, read_export

STEP = "text_generation_0"


def _generation(i: int) -> dict:
    question = f"What is {i} + {i}?"
    return {
        "instruction": question,
        "generation": f" {2 * i}",
        "distilabel_metadata": {
            f"raw_output_{STEP}": f" {2 * i}",
            f"raw_input_{STEP}": [{"role": "user", "content": question}],
            f"statistics_{STEP}": {"input_tokens": 9, "output_tokens": 2},
        },
        "model_name": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "difficulty": "easy",  # a column of the user's own
    }


UF_ROW = {
    "instruction": "Name a prime.",
    "generations": ["7", "8"],
    "generation_models": ["model-a", "model-b"],
    "ratings": [5, 1],
    "rationales": ["7 is prime.", "8 is even."],
    "model_name": "judge-model",
    "distilabel_metadata": {
        "raw_output_ultra_feedback_0": "Rating: 5 ...",
        "raw_input_ultra_feedback_0": None,
    },
}


def _dpo(i: int) -> dict:
    prompt = f"Say {i}."

    def chat(answer: str) -> list[dict]:
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]

    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
        "chosen": chat(str(i)),
        "chosen_model": "model-a",
        "chosen_rating": 5.0,
        "rejected": chat("no"),
        "rejected_model": "model-b",
        "rejected_rating": 2.0,
    }


def _save_subset(path: Path, rows: list[dict]) -> None:
    datasets.disable_progress_bars()
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(path))


@pytest.fixture
def distiset(tmp_path: Path) -> Path:
    """``Distiset.save_to_disk`` of a pipeline with two leaf steps."""
    root = tmp_path / "my-distiset"
    _save_subset(root / "text_generation", [_generation(i) for i in range(1, 4)])
    _save_subset(root / "ultra_feedback", [UF_ROW])
    (root / "distiset_configs").mkdir()
    (root / "distiset_configs" / "pipeline.yaml").write_text("distilabel:\n  version: 1.5.3\n")
    (root / "distiset_configs" / "README.md").write_text(
        "---\ntags: [synthetic, distilabel]\n---\n"
    )
    return root


@pytest.fixture
def hub_download(tmp_path: Path) -> Path:
    """A pushed Distiset as downloaded: Parquet shards per config, two for ``dpo``."""
    root = tmp_path / "hub"
    (root / "data").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([_generation(1)]), root / "data" / "train-00000-of-00001.parquet"
    )
    (root / "dpo").mkdir()
    for shard, rows in enumerate(([_dpo(1), _dpo(2)], [_dpo(3)])):
        pq.write_table(
            pa.Table.from_pylist(rows), root / "dpo" / f"train-{shard:05d}-of-00002.parquet"
        )
    return root


def test_text_generation_rows_become_synthpipe_records(distiset: Path) -> None:
    records = read_all(distiset, subset="text_generation")  # a Distiset is found by itself
    first = records[0]
    assert first["id"] == "text_generation-000001"
    assert first["instruction"] == first["text"] == "What is 1 + 1?"
    assert first["response"] == " 2" and "generation" not in first
    assert first["difficulty"] == "easy"  # unknown columns are kept
    lineage = first["_lineage"]
    assert lineage["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct" and "model_name" not in first
    assert lineage["distilabel_metadata"] == _generation(1)["distilabel_metadata"]
    assert lineage["subset"] == "text_generation" and lineage["source"] == "text_generation/train"
    assert read_all(distiset, subset="text_generation") == records  # deterministic ids


def test_several_subsets_need_a_choice(distiset: Path) -> None:
    with pytest.raises(
        UsageError, match="several distilabel subsets .*text_generation, ultra_feedback"
    ):
        read_all(distiset, format="distilabel")
    with pytest.raises(UsageError, match="no distilabel subset 'nope'"):
        read_all(distiset, subset="nope")


def test_ultrafeedback_ratings_become_candidates(distiset: Path) -> None:
    [record] = read_all(distiset, format="distilabel", subset="ultra_feedback")
    assert record["candidates"] == [
        {"text": "7", "model": "model-a", "score": 5, "rationale": "7 is prime."},
        {"text": "8", "model": "model-b", "score": 1, "rationale": "8 is even."},
    ]
    assert not {"generations", "ratings", "rationales", "generation_models"} & set(record)
    assert record["_lineage"]["model"] == "judge-model"


def test_hub_shards_read_in_order_and_export_to_dpo(hub_download: Path, tmp_path: Path) -> None:
    records = read_all(hub_download, format="distilabel", subset="dpo")
    assert [r["id"] for r in records] == ["dpo-000001", "dpo-000002", "dpo-000003"]
    assert records[2]["_lineage"]["source"] == "dpo/train-00001-of-00002.parquet"
    assert records[0]["chosen_score"] == 5.0 and records[0]["text"] == "Say 1."
    summary = export_records(records, tmp_path / "dpo.jsonl", "dpo")
    assert summary.written == 3
    assert read_export(tmp_path / "dpo.jsonl", "dpo")[0] == {
        "prompt": [{"role": "user", "content": "Say 1."}], "chosen": "1", "rejected": "no"}  # fmt: skip


def test_the_default_subset_is_read_when_none_is_named(hub_download: Path) -> None:
    [record] = read_all(hub_download, format="distilabel")  # `data/` holds subset `default`
    assert record["response"] == " 2" and record["id"] == "default-000001"


def test_a_jsonl_file_with_chats_and_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    chat = {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi!"}],
            "generation": "Hello!", "model_name": "m", "system_prompt": "Be kind."}  # fmt: skip
    path.write_text(json.dumps(chat) + "\n{broken\n")
    quarantine = Quarantine()
    [record] = read_all(path, format="distilabel", quarantine=quarantine)
    assert quarantine.count == 1
    assert (
        record["text"] == "Hi!"
        and record["system"] == "Be kind."
        and record["response"] == "Hello!"
    )
    assert record["id"] == "chat-000001"


def test_the_read_step_takes_format_distilabel(distiset: Path) -> None:
    step = ReadRecords(path=str(distiset), format="distilabel", subset="text_generation",
                       text_field="instruction")  # fmt: skip
    records = [r for batch in step.read(StepContext(name="read", batch_size=2)) for r in batch]
    assert [r["text"] for r in records] == ["What is 1 + 1?", "What is 2 + 2?", "What is 3 + 3?"]
    assert "instruction" not in records[0]  # mapped to text, as the read step maps any field


def test_a_distiset_folder_exports_directly(tmp_path: Path) -> None:
    root = tmp_path / "one-step"
    _save_subset(root / "default", [_generation(1)])  # one leaf step: subset `default`
    (root / "distiset_configs").mkdir()
    summary = export_file(root, tmp_path / "sft.jsonl", "openai")  # found without a format
    assert summary.written == 1
    assert read_export(tmp_path / "sft.jsonl", "openai")[0]["messages"][1]["content"] == "2"

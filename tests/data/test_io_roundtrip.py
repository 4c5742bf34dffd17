"""Records survive a write/read round trip in every format; writes are atomic."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest

from synthpipe.data.arrow import records_to_table
from synthpipe.data.formats import FORMATS, detect_format, output_suffix
from synthpipe.data.paths import resolve_data_path
from synthpipe.data.readers import read_all, read_records
from synthpipe.data.writers import atomic_path, to_hf_dataset, write_records
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import ReadRecords
from synthpipe.pipeline.step import StepContext

RECORDS = [
    {
        "id": "a-1",
        "text": "héllo wörld ✓ 你好 🙂",
        "label": "greet",
        "score": 0.5,
        "n": 3,
        "note": None,
        "tags": ["x", "y"],
        "meta": {"k": [1, 2]},
        "_lineage": {"source": "seed.jsonl", "line": 1, "steps": ["gen"]},
        "_drop": None,
    },
    {
        "id": "a-2",
        "text": 'line\nbreak, "quoted", and a comma',
        "label": "other",
        "score": -1.25,
        "n": 0,
        "note": "x",
        "tags": [],
        "meta": {"k": []},
        "_lineage": {"source": "seed.jsonl", "line": 2},
        "_drop": {"step": "length", "reason": "too_short", "detail": None},
    },
]


def _target(tmp_path: Path, fmt: str, name: str = "out") -> Path:
    return tmp_path / f"{name}{output_suffix(fmt)}"


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet", "hf"])
def test_lossless_round_trip(tmp_path: Path, fmt: str) -> None:
    path = _target(tmp_path, fmt)
    assert write_records(RECORDS, path, format=fmt) == 2
    assert detect_format(path) == fmt
    assert read_all(path) == RECORDS


def test_csv_round_trip_keeps_what_users_rely_on(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert write_records(iter(RECORDS), path) == 2  # a one-shot iterable is spooled
    back = read_all(path, types={"text": str})
    for got, want in zip(back, RECORDS, strict=True):
        for key in ("id", "text", "label", "tags", "meta", "_lineage", "_drop", "note"):
            assert got[key] == want[key], key
        assert got["score"] == str(want["score"])  # CSV scalars come back as strings


def test_in_memory_dataset_round_trip() -> None:
    ds = to_hf_dataset(RECORDS)
    assert isinstance(ds["_lineage"][0], str)  # nested reserved fields are JSON text in HF
    assert read_all(ds) == RECORDS


def test_user_dataset_gets_ids_and_lineage() -> None:
    ds = datasets.Dataset.from_list(
        [{"question": "Why?", "coarse": 1}, {"question": "How?", "coarse": 2}]
    )
    back = read_all(ds, fields={"text": "question", "label": "coarse"})
    assert back == [
        {
            "text": "Why?",
            "label": 1,
            "id": "dataset-000001",
            "_lineage": {"source": "dataset", "line": 1},
        },
        {
            "text": "How?",
            "label": 2,
            "id": "dataset-000002",
            "_lineage": {"source": "dataset", "line": 2},
        },
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv", "hf"])
def test_arrow_table_input(tmp_path: Path, fmt: str) -> None:
    path = _target(tmp_path, fmt)
    assert write_records(records_to_table(RECORDS), path, format=fmt) == 2
    assert [r["text"] for r in read_all(path, format=fmt)] == [r["text"] for r in RECORDS]


def test_mixed_type_column_survives_hf_dir(tmp_path: Path) -> None:
    records = [{"text": "a", "v": 1}, {"text": "b", "v": "one"}]
    write_records(records, tmp_path / "ds", format="hf")
    assert [r["v"] for r in read_all(tmp_path / "ds")] == [1, "one"]


def test_field_mapping_and_generated_ids(tmp_path: Path) -> None:
    path = tmp_path / "trec.ndjson"
    rows = [
        {"question": "Who?", "label_coarse": "HUM", "extra": 1},
        {"question": "Where?", "label_coarse": "LOC"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    back = read_all(path, fields={"text": "question", "label": "label_coarse"})
    assert back[0] == {
        "text": "Who?",
        "label": "HUM",
        "extra": 1,
        "id": "trec-000001",
        "_lineage": {"source": "trec.ndjson", "line": 1},
    }
    assert back[1]["id"] == "trec-000002"


def test_id_field_values_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    write_records([{"qid": 7, "text": "a"}, {"qid": None, "text": "b"}], path)
    assert [r["id"] for r in read_all(path, id_field="qid")] == ["7", "q-000002"]
    assert [r["id"] for r in read_all(path, id_field=None)] == ["q-000001", "q-000002"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_batches_and_limit(tmp_path: Path, fmt: str) -> None:
    path = _target(tmp_path, fmt)
    write_records([{"id": f"r{i}", "text": str(i)} for i in range(10)], path)
    assert [len(b) for b in read_records(path, batch_size=4)] == [4, 4, 2]
    assert [len(b) for b in read_records(path, batch_size=4, limit=5)] == [4, 1]
    assert list(read_records(path, limit=0)) == []


def test_jsonl_gz_output_is_deterministic(tmp_path: Path) -> None:
    write_records(RECORDS, tmp_path / "a.jsonl.gz")
    write_records(RECORDS, tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    text = gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()).decode()
    assert "你好" in text  # ensure_ascii=False
    assert len(text.splitlines()) == 2


def test_writer_creates_parent_dirs(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "out.jsonl"
    write_records(RECORDS, path)
    assert path.exists()


# -- atomic writes ----------------------------------------------------------------------
def _explodes_after(n: int):
    yield from RECORDS * n
    raise RuntimeError("boom")


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    path = _target(tmp_path, fmt)
    with pytest.raises(RuntimeError, match="boom"):
        write_records(_explodes_after(2), path, format=fmt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_keeps_existing_target(tmp_path: Path, fmt: str) -> None:
    path = _target(tmp_path, fmt)
    write_records(RECORDS, path, format=fmt)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="boom"):
        write_records(_explodes_after(1), path, format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert read_all(path, format=fmt)[0]["text"] == RECORDS[0]["text"]


def test_atomic_path_replaces_directory(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    write_records(RECORDS, path, format="hf")
    write_records(RECORDS[:1], path, format="hf")
    assert [r["id"] for r in read_all(path)] == ["a-1"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_atomic_path_exception_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.txt.tmp-")
        tmp.write_text("partial")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


# -- formats and paths ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
        ("a.jsonl.gz", "jsonl.gz"),
        ("a.ndjson.gz", "jsonl.gz"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.csv", "csv"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_unknown_format_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        detect_format(tmp_path / "data.txt")
    message = str(err.value)
    assert "data.txt" in message and "format=" in message and "--format" in message
    assert all(fmt in message for fmt in FORMATS)
    with pytest.raises(UsageError, match="format='jsonl'"):
        detect_format("data.json")
    with pytest.raises(UsageError, match="not a saved Hugging Face dataset"):
        detect_format(tmp_path)
    (tmp_path / "x.jsonl").write_text("")
    with pytest.raises(UsageError, match="unknown format 'yaml'"):
        read_records(tmp_path / "x.jsonl", format="yaml")


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file: .*nope.jsonl"):
        read_records(tmp_path / "nope.jsonl")  # raised at the call, before iteration


def test_resolve_data_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = resolve_data_path("bundled:trec/seeds.jsonl")
    assert seeds.is_file() and seeds.parts[-4:] == ("resources", "data", "trec", "seeds.jsonl")
    with pytest.raises(UsageError, match="bundled:trec/seeds.jsonl"):
        resolve_data_path("bundled:trec/nope.jsonl")
    with pytest.raises(UsageError):
        resolve_data_path("bundled:../../errors.py")
    assert resolve_data_path("rel/a.jsonl") == Path("rel/a.jsonl")
    assert resolve_data_path("rel/a.jsonl", base_dir=tmp_path) == tmp_path / "rel/a.jsonl"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_path("~/a.jsonl") == tmp_path / "a.jsonl"


def test_read_step_maps_text_and_label(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    write_records(
        [{"question": "Who?", "coarse": "HUM"}, {"question": None, "coarse": "LOC"}], path
    )
    step = ReadRecords(path=str(path), text_field="question", label_field="coarse")
    assert step.input_files() == [path]
    batches = list(step.read(StepContext(name="read", batch_size=8)))
    assert batches == [
        [
            {
                "text": "Who?",
                "label": "HUM",
                "id": "q-000002",
                "_lineage": {"source": "q.csv", "line": 2},
            }
        ]
    ]


def test_read_step_bundled_with_limit() -> None:
    step = ReadRecords(path="bundled:trec/seeds.jsonl", label_field="label", limit=3)
    records = [r for b in step.read(StepContext(name="read", batch_size=2)) for r in b]
    assert len(records) == 3 and all(isinstance(r["text"], str) and r["label"] for r in records)

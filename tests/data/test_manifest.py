"""Sharded outputs: shards plus a manifest read back as the one file they replace, checked
against the manifest (rows, sha256); an unfinished or damaged output is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthpipe.data.manifest import MANIFEST, read_manifest, write_sharded
from synthpipe.data.readers import read_all
from synthpipe.data.run_outputs import output_count, sample_output
from synthpipe.data.writers import write_records
from synthpipe.errors import DataError

RECORDS = [{"id": f"r{i}", "text": f"text {i}", "_drop": None} for i in range(25)]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet", "csv"])
def test_shards_read_back_as_the_single_file(tmp_path: Path, fmt: str) -> None:
    single = tmp_path / "one" / f"kept.{fmt}"
    write_records(RECORDS, single, format=fmt)
    manifest = write_sharded(iter(RECORDS), tmp_path / f"kept.{fmt}", fmt, shard_rows=10)
    assert [s["rows"] for s in manifest["shards"]] == [10, 10, 5] and manifest["rows"] == 25
    assert [s["file"] for s in manifest["shards"]][0] == f"part-00000.{fmt}"
    assert read_all(tmp_path / f"kept.{fmt}") == read_all(single)
    assert output_count(tmp_path / f"kept.{fmt}") == 25


def test_ids_made_from_lines_number_on_across_shards(tmp_path: Path) -> None:
    plain = [{"text": r["text"]} for r in RECORDS]
    write_sharded(plain, tmp_path / "kept.jsonl", "jsonl", shard_rows=10)
    write_records(plain, tmp_path / "one" / "kept.jsonl")
    assert [r["id"] for r in read_all(tmp_path / "kept.jsonl")] == [r["id"] for r in read_all(tmp_path / "one" / "kept.jsonl")]


def test_a_directory_without_manifest_is_an_unfinished_output(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    write_sharded(RECORDS, out, "jsonl", shard_rows=10)
    (out / MANIFEST).unlink()
    with pytest.raises(DataError, match=r"kept.jsonl is a sharded output without manifest.json.*rerun"):
        read_all(out)
    with pytest.raises(DataError, match="did not finish"):
        read_manifest(out)


def test_a_corrupted_shard_is_refused_by_name(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    write_sharded(RECORDS, out, "jsonl", shard_rows=10)
    shard = out / "part-00001.jsonl"
    shard.write_text(shard.read_text().replace("text 12", "text XX"))
    with pytest.raises(DataError, match=r"part-00001.jsonl: the shard's sha256 differs"):
        read_all(out)


def test_a_missing_shard_is_refused_by_name(tmp_path: Path) -> None:
    out = tmp_path / "kept.parquet"
    write_sharded(RECORDS, out, "parquet", shard_rows=10)
    (out / "part-00002.parquet").unlink()
    with pytest.raises(DataError, match=r"part-00002.parquet: a shard listed in manifest.json is missing"):
        read_all(out)


def test_a_shard_with_other_rows_than_its_manifest_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    write_sharded(RECORDS, out, "jsonl", shard_rows=10)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["shards"][0]["rows"] = 11
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"part-00000.jsonl: 10 rows, but manifest.json says 11"):
        read_all(out)


def test_a_new_output_replaces_an_old_one_of_either_layout(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    write_records(RECORDS, out)  # a single file first
    write_sharded(RECORDS[:5], out, "jsonl", shard_rows=2)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    write_sharded(RECORDS[:3], out, "jsonl", shard_rows=10)  # no stale shard stays behind
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "part-00000.jsonl"]
    assert len(read_all(out)) == 3


def test_sample_of_a_run_output_is_bounded_and_evenly_spaced(tmp_path: Path) -> None:
    write_sharded(RECORDS, tmp_path / "kept.jsonl", "jsonl", shard_rows=7)
    (tmp_path / "metrics.json").write_text(json.dumps({"output": {"kept": "kept.jsonl", "format": "jsonl"}}))
    sample = sample_output(tmp_path, "kept", 5)
    assert [r["id"] for r in sample] == ["r0", "r5", "r10", "r15", "r20"]
    assert sample_output(tmp_path, "dropped", 5) == []  # no such output

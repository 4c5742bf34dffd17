"""A Store behaves the same on a local directory and on an S3 prefix (moto's server on
127.0.0.1): writes appear whole or not at all, listings see other processes' objects, and a
bucket that cannot be reached or a missing s3fs give one clear error."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest

from synthpipe.data import storage
from synthpipe.data.storage import Store, is_remote, is_uri, local_path, work_dir
from synthpipe.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from s3_server import s3_server  # noqa: E402  (tests/support)


@pytest.fixture(scope="module")
def s3():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return Store(tmp_path / "root")
    request.getfixturevalue("s3")
    remote = Store(f"s3://runs/{request.node.name.replace('[', '-').rstrip(']')}")
    remote.clear()
    return remote


def test_locations():
    assert is_uri("s3://b/p") and is_remote("s3://b/p") and is_remote("gs://b")
    assert is_uri("file:///tmp/x") and not is_remote("file:///tmp/x")
    assert local_path("file:///tmp/x") == Path("/tmp/x")
    assert not is_uri(Path("s3:/b")) and not is_uri("runs/demo") and not is_uri("C:/x")
    with pytest.raises(UsageError, match="pass it as a string"):
        local_path(Path("s3://bucket/run"))  # pathlib made it s3:/bucket/run
    assert work_dir("s3://b/p") != work_dir("s3://b/q") and work_dir("s3://b/p").name.startswith("p-")


def test_files_roundtrip(store):
    store.write_text("a.json", '{"x": 1}')
    store.write_bytes("sub/b.bin", b"\x00\x01")
    with store.writing("c.txt") as tmp:
        tmp.write_text("whole")
    assert store.exists("a.json") and not store.exists("missing")
    assert store.read_text("c.txt") == "whole" and store.read_bytes("sub/b.bin") == b"\x00\x01"
    assert sorted(store.names("*.txt")) == ["c.txt"]
    assert store.find() == ["a.json", "c.txt", "sub/b.bin"]
    assert store.child("sub").names() == ["b.bin"]
    store.remove("a.json")
    store.remove("a.json")  # a missing file is fine
    assert store.find() == ["c.txt", "sub/b.bin"]
    store.clear()
    assert store.find() == [] and store.names() == []


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.writing("part-000000.parquet") as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("killed mid-write")
    assert not store.exists("part-000000.parquet") and store.find() == []


def test_parquet_through_locate(store):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with store.writing("t.parquet") as tmp:
        pq.write_table(pa.table({"id": ["a", "b"]}), tmp)
    path, fs = store.locate("t.parquet")
    assert pq.read_table(path, filesystem=fs).column("id").to_pylist() == ["a", "b"]
    assert pq.ParquetFile(path, filesystem=fs).metadata.num_rows == 2


def test_listing_sees_objects_written_elsewhere(s3):
    import boto3

    mine = Store("s3://runs/elsewhere")
    assert mine.names() == []  # listed (and cached, were caching on) before the other writer
    boto3.client("s3").put_object(Bucket="runs", Key="elsewhere/part-000001.parquet", Body=b"x")
    assert mine.names("part-*") == ["part-000001.parquet"] and mine.exists("part-000001.parquet")


def test_unreachable_bucket_is_a_clear_error(s3):
    with pytest.raises(UsageError, match=r"cannot reach s3://no-such-bucket: .*AWS_ENDPOINT_URL"):
        Store("s3://no-such-bucket/run").check_reachable()


def test_missing_s3fs_names_the_extra(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else find_spec(name, *a))
    monkeypatch.setattr(storage, "_FILESYSTEMS", {})
    with pytest.raises(UsageError, match=r"s3fs is missing; pip install 'synthpipe\[s3\]'"):
        Store("s3://runs/x").exists("y")


def test_options_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv(storage.OPTIONS_ENV, '{"anon": true}')
    assert Store("s3://b/p").options == {"anon": True, "endpoint_url": "http://127.0.0.1:1"}
    monkeypatch.setenv(storage.OPTIONS_ENV, "[1,")
    with pytest.raises(UsageError, match=storage.OPTIONS_ENV):
        Store("s3://b/p")


def test_a_sharded_output_at_a_uri(s3):
    from synthpipe.data.manifest import remove_output, write_sharded
    from synthpipe.data.readers import read_all
    from synthpipe.data.storage import local_file

    records = [{"id": f"r{i}", "text": f"t{i}"} for i in range(5)]
    manifest = write_sharded(records, "s3://runs/out/kept.jsonl", "jsonl", 2)
    assert manifest["rows"] == 5 and len(manifest["shards"]) == 3
    out = Store("s3://runs/out/kept.jsonl")
    assert sorted(out.names()) == ["manifest.json", "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    copy = local_file("s3://runs/out/kept.jsonl")  # shards checked against the manifest on read
    assert [r["id"] for r in read_all(copy, format="jsonl", id_field="id")] == [r["id"] for r in records]
    remove_output("s3://runs/out/kept.jsonl")
    assert out.find() == []

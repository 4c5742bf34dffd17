"""`synthpipe publish`: the Hub folder of a run (Parquet shards equal to the kept records, a card
the Hub accepts, the recipe and ledger summary), offline; uploads only through a stand-in Hub."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.errors import SynthpipeError, UsageError
from synthpipe.report.hub_metadata import card_problems
from synthpipe.run.api import Pipeline, RunResult
from synthpipe.run.publish import check_folder, publish, write_folder

huggingface_hub = pytest.importorskip("huggingface_hub")

RECIPE = """name: tiny
seed: 0
steps:
  generate: {step: slot_template, seeds: "bundled:trec/seeds.jsonl", n: 250}
  filter: {step: text_filter, min_words: 3}
  dedup: {step: exact_dedup, fields: [text]}
  audit: {step: audit, embed: false, reference: "bundled:trec/train.jsonl", seeds: "bundled:trec/seeds.jsonl", sample: 200}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("publish")
    recipe = root / "recipes" / "tiny.yaml"
    recipe.parent.mkdir()
    recipe.write_text(RECIPE)
    Pipeline.from_recipe(recipe).run(root / "run")
    return root / "run"


@pytest.fixture
def offline(monkeypatch):
    """Nothing leaves the machine: a connection anywhere but localhost fails the test."""
    real = socket.socket.connect

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access attempted: {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(AssertionError("DNS lookup")))


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.rglob("*") if p.suffix in (".md", ".yaml", ".json", ".html")}


def test_folder_holds_shards_equal_to_the_kept_records(run_dir, tmp_path, offline):
    result = write_folder(run_dir, "org/tiny", out=tmp_path / "hub", shard_rows=60)
    kept = RunResult(run_dir).kept
    n = -(-len(kept) // 60)
    shards = sorted((tmp_path / "hub" / "data").glob("*.parquet"))
    assert [p.name for p in shards] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    table = pa.concat_tables(pq.read_table(p) for p in shards)
    assert table.column_names[0] == "id" and "_drop" not in table.column_names
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in kept]
    assert [(r["text"], r["label"]) for r in rows] == [(r["text"], r["label"]) for r in kept]
    assert [json.loads(r["_lineage"]) for r in rows] == [r["_lineage"] for r in kept]
    assert set(result.files) == {"README.md", "recipe.yaml", "ledger_summary.json", "report.html",
                                 *(f"data/{p.name}" for p in shards)}  # fmt: skip
    assert result.rows == len(kept) and result.shards == n


def test_card_recipe_and_ledger_are_ready_for_the_hub(run_dir, tmp_path, offline):
    folder = tmp_path / "hub"
    write_folder(run_dir, "org/tiny", out=folder)
    readme = (folder / "README.md").read_text()
    assert card_problems(readme, ["data/train-00000-of-00001.parquet"]) == []
    assert check_folder(folder, RunResult(run_dir).metrics["kept"]) == []
    meta = huggingface_hub.DatasetCard(readme).data.to_dict()
    assert meta["configs"][0]["data_files"][0]["path"] == "data/train-*.parquet"
    for name, text in _texts(folder).items():  # no path of this machine in any published text
        assert str(run_dir.parent) not in text, name
    ledger = json.loads((folder / "ledger_summary.json").read_text())
    assert [s["name"] for s in ledger["steps"]] == ["generate", "filter", "dedup", "audit"]
    dedup = ledger["steps"][2]
    assert dedup["in"] - dedup["kept"] == dedup["dropped"] == dedup["reasons"].get("duplicate", 0)
    assert "bundled:trec/seeds.jsonl" in (folder / "recipe.yaml").read_text()


def test_a_broken_shard_or_a_lost_row_fails_the_check(run_dir, tmp_path, offline):
    folder = tmp_path / "hub"
    write_folder(run_dir, "org/tiny", out=folder)
    kept = RunResult(run_dir).metrics["kept"]
    assert "hold" in " ".join(check_folder(folder, kept + 1))
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    assert "cannot be read back" in " ".join(check_folder(folder, kept))


def test_cli_dry_run_passes_without_network(run_dir, tmp_path, offline, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "HfApi", _refuse)
    res = CliRunner().invoke(app, ["publish", str(run_dir), "--repo-id", "synthpipe/tiny", "--dry-run",
                                   "--out", str(tmp_path / "hub"), "--license", "mit"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "would upload" in res.output and "card metadata valid" in res.output and "licence mit" in res.output
    assert "README.md" in res.output and "data/train-00000-of-00001.parquet" in res.output
    assert "license: mit" in (tmp_path / "hub" / "README.md").read_text()


def test_bad_repo_id_or_licence_is_a_clear_usage_error(run_dir, tmp_path):
    res = CliRunner().invoke(app, ["publish", str(run_dir), "--repo-id", "no-namespace", "--dry-run"])
    assert isinstance(res.exception, UsageError) and "ORG/NAME" in str(res.exception)
    for repo in ("org/a--b", "org/na me", "org/x.git"):
        with pytest.raises(UsageError, match="not a Hub dataset id"):
            publish(run_dir, repo, dry_run=True)
    with pytest.raises(UsageError, match="not a Hub licence id"):
        publish(run_dir, "org/tiny", dry_run=True, license="MIT License")


def test_no_token_is_a_clear_error_and_the_folder_stays(run_dir, tmp_path, offline, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.setattr(huggingface_hub, "HfApi", _refuse)
    with pytest.raises(UsageError, match="no Hugging Face token: set HF_TOKEN or run `huggingface-cli login`"):
        publish(run_dir, "org/tiny", out=tmp_path / "hub")
    assert (tmp_path / "hub" / "README.md").is_file()


def test_upload_creates_the_dataset_repo_and_uploads_the_folder(run_dir, tmp_path, offline, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload", kw["repo_id"], kw["repo_type"], Path(kw["folder_path"])))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    result = publish(run_dir, "org/tiny", out=tmp_path / "hub", private=True, token="hf_x")
    assert result.url == "https://huggingface.co/datasets/org/tiny"
    assert calls == [("token", "hf_x"),
                     ("create", "org/tiny", {"repo_type": "dataset", "private": True, "exist_ok": True}),
                     ("upload", "org/tiny", "dataset", tmp_path / "hub")]  # fmt: skip


def test_no_network_is_a_clear_error_and_the_folder_stays(run_dir, tmp_path, offline, monkeypatch):
    class Unreachable:
        def __init__(self, token):
            pass

        def create_repo(self, *a, **k):
            raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "HfApi", Unreachable)
    with pytest.raises(SynthpipeError, match="could not be reached") as info:
        publish(run_dir, "org/tiny", out=tmp_path / "hub", token="hf_x")
    assert str(tmp_path / "hub") in str(info.value) and (tmp_path / "hub" / "README.md").is_file()


def test_to_hf_gives_the_kept_records_as_a_dataset(run_dir):
    datasets = pytest.importorskip("datasets")
    result = RunResult(run_dir)
    ds = result.to_hf()
    assert isinstance(ds, datasets.Dataset) and str(ds.split) == "train"
    assert ds.num_rows == len(result.kept) and ds["id"] == [r["id"] for r in result.kept]
    assert "_drop" not in ds.column_names and json.loads(ds[0]["_lineage"]) == result.kept[0]["_lineage"]
    assert str(result.to_hf(split="validation").split) == "validation"


def _refuse(*args, **kwargs):
    raise AssertionError("the Hub client must not be used here")


def test_a_user_file_run_publishes_without_its_paths_and_flags_the_licence(tmp_path, offline):
    data = tmp_path / "private" / "my_seeds.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({"id": f"u{i}", "text": f"user question {i % 9} here ?"}) + "\n" for i in range(30)))
    recipe = tmp_path / "elsewhere" / "mine.yaml"
    recipe.parent.mkdir()
    recipe.write_text(f"name: mine\nsteps:\n  read: {{step: read, path: '{data}'}}\n  dedup: {{step: exact_dedup}}\n")
    Pipeline.from_recipe(recipe).run(tmp_path / "run")
    result = write_folder(tmp_path / "run", "org/mine")
    assert result.license == "other" and result.license_flagged and result.rows == 9
    texts = _texts(tmp_path / "run" / "publish")
    assert all(str(tmp_path) not in text for text in texts.values())
    assert "my_seeds.jsonl" in texts["README.md"] and "unknown: state it before publishing" in texts["README.md"]
    assert card_problems(texts["README.md"], ["data/train-00000-of-00001.parquet"]) == []

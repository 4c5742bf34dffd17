"""A run killed with SIGKILL at any moment resumes with no record lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
RECIPE = """\
name: killme
batch_size: 40
max_inflight: 2
steps:
  source: {step: "toy_steps:CountingSource", n: 1600}
  tag: {step: "toy_steps:SlowTagger", seconds_per_batch: 0.08}
  filter: {step: text_filter, min_words: 2}
  dedup: {step: exact_dedup}
  tag2: {step: "toy_steps:SlowTagger", seconds_per_batch: 0.02, drop_multiple_of: 3}
"""


def start(recipe: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def shards(out: Path, step: str) -> list[Path]:
    return sorted((out / "steps").glob(f"*-{step}/part-*.parquet"))


def kill_when(proc: subprocess.Popen, ready, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "run never reached the kill point"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def ledger(out: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    kept = [json.loads(line)["id"] for line in (out / "kept.jsonl").read_text().splitlines()]
    dropped = []
    for line in (out / "dropped.jsonl").read_text().splitlines():
        record = json.loads(line)
        dropped.append((record["id"], record["_drop"]["step"], record["_drop"]["reason"]))
    return kept, dropped


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[list[str], list]:
    root = tmp_path_factory.mktemp("ref")
    (root / "r.yaml").write_text(RECIPE)
    proc = start(root / "r.yaml", root / "run")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    return ledger(root / "run")


@pytest.mark.parametrize(
    "kill_point",
    [
        ("in the first map step", lambda out: len(shards(out, "tag")) >= 8),
        ("in the last map step", lambda out: len(shards(out, "tag2")) >= 5),
    ],
    ids=lambda k: k[0],
)
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, reference, kill_point):
    _, ready = kill_point
    recipe, out = tmp_path / "r.yaml", tmp_path / "run"
    recipe.write_text(RECIPE)
    kill_when(start(recipe, out), lambda: ready(out))
    first_pid_shards = {p: p.stat().st_mtime_ns for p in shards(out, "tag")}
    assert not (out / "kept.jsonl").exists()

    proc = start(recipe, out)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    kept, dropped = ledger(out)
    ref_kept, ref_dropped = reference
    assert kept == ref_kept
    assert sorted(dropped) == sorted(ref_dropped)
    ids = kept + [d[0] for d in dropped]
    assert len(ids) == len(set(ids)) == 1600  # nothing lost, nothing twice
    # finished batches were not redone: their shards are untouched
    for path, mtime in first_pid_shards.items():
        assert path.stat().st_mtime_ns == mtime


def test_resume_after_repeated_kills(tmp_path, reference):
    recipe, out = tmp_path / "r.yaml", tmp_path / "run"
    recipe.write_text(RECIPE)
    for threshold in (3, 12, 25):
        kill_when(start(recipe, out), lambda t=threshold: len(shards(out, "tag")) >= t or bool(shards(out, "tag2")))
    proc = start(recipe, out)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    kept, dropped = ledger(out)
    assert kept == reference[0]
    assert sorted(dropped) == sorted(reference[1])

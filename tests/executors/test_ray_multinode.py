"""The Ray executor on a real multi-node cluster on this machine: a head and two worker nodes,
each its own `ray start` process with 1 CPU (scripts/ray_cluster.py). Recipes run through
`synthpipe run --executor ray --address ...` in a subprocess, as a user runs them, and their
kept and dropped records must equal the local executor's; a worker node SIGKILLed mid-run
must not change them.

Slow (about a minute): starts three Ray nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
TOY = TESTS / "pipeline"  # toy_steps: a slow tagger, so the kill lands mid-run
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).parent))
from dedup_corpus import dedup_corpus  # noqa: E402
from ray_cluster import LocalCluster, cmdline, descendants  # noqa: E402

pytestmark = pytest.mark.slow

DEDUP = """\
name: dedup
batch_size: 100
steps:
  read: {{step: read, path: "{corpus}"}}
{extra}  exact: {{step: exact_dedup}}
  near: {{step: minhash_dedup, bucket_cap: 8}}
  decontam: {{step: decontaminate, benchmarks: [gsm8k, trec]}}
"""
SLOW = '  tag: {step: "toy_steps:SlowTagger", seconds_per_batch: 0.4, drop_multiple_of: 1000000}\n'
QUICKSTART = ["steps.generate.n=600", "experiment=null", "steps.audit.embed=false"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(TOY), os.environ.get("PYTHONPATH")) if p)}
    with LocalCluster(workers=2, root=tmp_path_factory.mktemp("nodes"), env=env) as c:
        yield c


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    records = [{**r, "n": i} for i, r in enumerate(dedup_corpus())]  # n: for the slow tagger
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def synthpipe(recipe: Path | str, out: Path, *args: str, wait: bool = True):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TOY), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(
        [*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    if not wait:
        return proc
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-4000:]
    return proc


def ledger(run: Path) -> tuple[list[str], list[tuple]]:
    from synthpipe.data.readers import read_all  # a file, or the shards a Ray run writes

    kept = sorted(r["id"] for r in read_all(run / "kept.jsonl"))
    dropped = sorted(
        (r["id"], r["_drop"]["step"], r["_drop"]["reason"], r["_drop"]["detail"])
        for r in read_all(run / "dropped.jsonl")
    )
    return kept, dropped


def executor_of(run: Path) -> str:
    return json.loads((run / "metrics.json").read_text())["run"]["executor"]


def test_all_nodes_registered(cluster):
    assert cluster.alive_nodes() == 3
    pids = [cluster.raylet_pid(k) for k in (1, 2)]
    assert all(pids) and len(set(pids)) == 2


def test_dedup_recipe_through_address_gives_the_local_ledger(cluster, corpus, tmp_path):
    recipe = tmp_path / "dedup.yaml"
    recipe.write_text(DEDUP.format(corpus=corpus, extra=""))
    synthpipe(recipe, tmp_path / "local")
    synthpipe(recipe, tmp_path / "ray", "--executor", "ray", "--address", cluster.address)
    assert executor_of(tmp_path / "ray") == "ray"
    kept, dropped = ledger(tmp_path / "ray")
    assert (kept, dropped) == ledger(tmp_path / "local")
    assert {d[2] for d in dropped} == {"duplicate", "near_duplicate", "contaminated"}
    summary = json.loads((tmp_path / "ray" / "minhash_summary.json").read_text())
    assert summary["executor"] == "ray"  # the distributed form ran on the cluster


def test_quickstart_through_address_gives_the_local_ledger(cluster, tmp_path):
    recipe = ROOT / "recipes" / "quickstart.yaml"
    sets = [a for s in QUICKSTART for a in ("-s", s)]
    synthpipe(recipe, tmp_path / "local", *sets)
    synthpipe(recipe, tmp_path / "ray", *sets, "--executor", "ray", "--address", cluster.address)
    assert executor_of(tmp_path / "ray") == "ray"
    kept, dropped = ledger(tmp_path / "ray")
    assert (kept, dropped) == ledger(tmp_path / "local")
    assert len(kept) > 400 and {d[2] for d in dropped} >= {"duplicate", "contaminated"}


def busy_worker(cluster) -> int | None:
    """A worker node (1 or 2) running one of the run's map tasks now."""
    for k in (1, 2):
        for pid in cluster.worker(k).pids():
            if cmdline(pid).startswith("ray::") and "MapBatches" in cmdline(pid):
                return k
    return None


def test_a_worker_node_killed_mid_run_changes_no_record(cluster, corpus, tmp_path):
    """Runs last: it leaves the cluster with one worker node."""
    recipe = tmp_path / "dedup.yaml"
    recipe.write_text(DEDUP.format(corpus=corpus, extra=SLOW))
    synthpipe(recipe, tmp_path / "local")
    run = tmp_path / "ray"
    proc = synthpipe(recipe, run, "--executor", "ray", "--address", cluster.address, wait=False)
    tag = run / "steps" / "01-tag"
    deadline, victim = time.time() + 120, None
    while victim is None:
        assert proc.poll() is None, proc.stderr.read()[-4000:]
        assert time.time() < deadline, "the run never reached the kill point"
        if len(list(tag.glob("part-*.parquet"))) >= 1:
            victim = busy_worker(cluster)
        time.sleep(0.02)
    assert not (tag / "DONE").exists()  # mid-step
    raylet, killed_at = cluster.kill_worker(victim), time.time()
    time.sleep(0.2)
    assert _zombie(raylet)  # gone (or not yet reaped)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-4000:]
    finished_at = time.time()
    assert ledger(run) == ledger(tmp_path / "local")
    deadline = time.time() + 60  # the GCS marks the node dead after its health checks fail
    while cluster.alive_nodes() != 2 and time.time() < deadline:
        time.sleep(1)
    assert cluster.alive_nodes() == 2
    print(f"worker{victim} killed; run finished {finished_at - killed_at:.1f} s later")
    assert not [p for p in descendants(cluster.worker(victim).proc.pid)]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_stop_leaves_no_process():
    c = LocalCluster(workers=1)  # its own short temp dir: Ray sockets live under it
    c.start()
    pids = [pid for node in c.nodes for pid in node.pids()]
    c.stop()
    time.sleep(0.5)
    left = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
    assert not left, [cmdline(p) for p in left]
    assert os.getpid() not in pids

"""The dedup recipe on a 3-node Ray cluster on this machine, against the local executor.

The cluster is ``scripts/ray_cluster.py``: a head and two worker nodes, each a separate
``ray start`` process with 1 CPU and a 200 MB object store. Each run is a whole
``synthpipe run`` process (python start to exit), started as a user starts it::

    synthpipe run dedup.yaml --out RUN                                   # local
    synthpipe run dedup.yaml --out RUN --executor ray --address ADDRESS  # the cluster

The recipe: ``read`` (JSONL) -> ``text_filter`` -> ``exact_dedup`` -> ``minhash_dedup`` over a
generated corpus of ``--sizes`` records (20-40 words from a 2,000-word vocabulary, 10% exact
copies of an earlier record, some with changed case). Reported per run: wall time, records/s
(input records / wall time), the driver process's CPU time (user + system, from ``os.wait4``:
the ``synthpipe run`` process only; Ray's node processes are not its children) and that CPU
time per 1M records, and the busy seconds per step from ``metrics.json``. A second table gives
each stage's per-worker throughput on Ray: records in / seconds its tasks were busy, summed
over workers (steps from ``metrics.json``, MinHash stages from ``minhash_summary.json``, the
output writer from ``metrics.json``). The two executors' kept ids are compared.

    .venv/bin/python benchmarks/bench_ray_multinode.py --sizes 100000,300000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

RECIPE = """\
name: bench-dedup
batch_size: {batch}
steps:
  read: {{step: read, path: "{corpus}"}}
  filter: {{step: text_filter, min_words: 3, max_words: 60}}
  dedup: {{step: exact_dedup}}
  near: {{step: minhash_dedup}}
"""


def make_corpus(n: int, path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(2000)]
    texts: list[str] = []
    with path.open("w") as fh:
        for i in range(n):
            if texts and rng.random() < 0.10:
                text = rng.choice(texts[-5000:])
                if rng.random() < 0.5:
                    text = text.upper()
            else:
                text = " ".join(rng.choices(vocab, k=rng.randint(20, 40)))
                texts.append(text)
            fh.write(json.dumps({"id": f"d{i:08d}", "text": text}) + "\n")


def run(recipe: Path, out: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, "--quiet", "--yes", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}):\n{stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    minhash = json.loads((out / "minhash_summary.json").read_text())
    return {
        "wall_s": wall,
        "driver_cpu_s": usage.ru_utime + usage.ru_stime,
        "driver_max_rss_mb": usage.ru_maxrss / 1024,
        "kept": metrics["kept"],
        "steps_s": {s["name"]: s["duration_s"] for s in metrics["steps"]},
        "steps_in": {s["name"]: s["in"] for s in metrics["steps"]},
        "minhash_task_s": minhash.get("task_seconds", {}),
        "writer_s": _writer_seconds(out),
    }


def _writer_seconds(out: Path) -> float | None:
    """Busy seconds of the tasks that wrote kept and dropped (a Ray run's manifest says)."""
    manifest = out / "kept.jsonl" / "manifest.json"
    return json.loads(manifest.read_text()).get("task_seconds") if manifest.is_file() else None


def kept_ids(out: Path) -> list[str]:
    from synthpipe.data.readers import read_records  # a file, or the shards a Ray run writes

    return [r["id"] for batch in read_records(out / "kept.jsonl") for r in batch]


def table(rows: list[dict]) -> str:
    lines = [
        "| records | executor | wall s | records/s | driver CPU s | driver CPU s per 1M "
        "| driver max RSS MB | kept | step seconds (read, filter, dedup, near) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        steps = ", ".join(f"{v:.1f}" for v in r["steps_s"].values())
        lines.append(
            f"| {r['records']:,} | {r['executor']} | {r['wall_s']:.1f} | "
            f"{r['records'] / r['wall_s']:,.0f} | {r['driver_cpu_s']:.1f} | "
            f"{r['driver_cpu_s'] / r['records'] * 1e6:.1f} | {r['driver_max_rss_mb']:.0f} | "
            f"{r['kept']:,} | {steps} |"
        )
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    """Per-worker throughput of each stage: records in / seconds its tasks were busy, summed
    over workers (so it is what one worker CPU does per second)."""
    lines = ["| records | stage | busy s (all workers) | records per worker-second |", "| --- | --- | --- | --- |"]
    for r in (r for r in rows if r["executor"] == "ray"):
        stages = [(f"step {k}", r["steps_in"][k] or r["records"], v) for k, v in r["steps_s"].items()]
        near_in = r["steps_in"].get("near", r["records"])
        stages += [(f"minhash: {k}", near_in, v) for k, v in r["minhash_task_s"].items()]
        if r["writer_s"]:
            stages.append(("writer (kept + dropped shards)", r["records"], r["writer_s"]))
        tiny = [name for name, _, seconds in stages if seconds < 0.05]
        for name, n, seconds in stages:
            if seconds >= 0.05:
                lines.append(f"| {r['records']:,} | {name} | {seconds:.2f} | {n / seconds:,.0f} |")
        if tiny:
            lines.append(f"| {r['records']:,} | under 0.05 s each: {', '.join(tiny)} | - | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="worker nodes besides the head")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    from ray_cluster import LocalCluster

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-mn-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        with LocalCluster(workers=args.workers, root=work / "nodes") as cluster:
            startup = time.perf_counter() - started
            print(f"cluster of {1 + args.workers} nodes up in {startup:.1f} s", file=sys.stderr)
            for n in (int(s) for s in args.sizes.split(",")):
                corpus = work / f"corpus-{n}.jsonl"
                make_corpus(n, corpus)
                recipe = work / f"dedup-{n}.yaml"
                recipe.write_text(RECIPE.format(batch=args.batch, corpus=corpus))
                ids = {}
                for executor in ("local", "ray"):
                    out = work / f"run-{n}-{executor}"
                    extra = ("--executor", "ray", "--address", cluster.address)
                    row = run(recipe, out, *(extra if executor == "ray" else ()))
                    row.update(records=n, executor=executor)
                    rows.append(row)
                    ids[executor] = kept_ids(out)
                    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
                assert sorted(ids["local"]) == sorted(ids["ray"]), "kept ids differ"
                corpus.unlink()
    print(f"cluster start-up: {startup:.1f} s\n")
    print(table(rows))
    print()
    print(stage_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""MinHash near-duplicate removal: synthpipe vs datasketch, rensa and datatrove, end to end.

Corpus: ``--docs`` documents (default 200k) of 150-250 words drawn with their real
frequencies from the texts in ``../shared/data`` (GSM8K, OpenAssistant, Self-Instruct, MBPP).
``--dup-rate`` of them (default 5%) are planted copies of another document with a fraction
of words replaced, aiming at a Jaccard similarity (of word 5-gram sets) uniform in
``[0.5, 1]``; the exact Jaccard of every planted pair is computed with the reference
shingling (``synthpipe.curate.minhash.shingles.reference_shingles``) and is the ground truth.

Each contender runs in its own subprocess (a peer's own venv if given) and does the same
job: read the JSONL file -> shingle (word 5-grams, lowercased) -> MinHash (128 perms) ->
LSH at threshold 0.8 (9 bands x 13 rows, datasketch's choice, unless said otherwise) ->
write the kept documents as JSONL.

- ``synthpipe``: ``read_records`` -> ``MinHashDedup.run`` (defaults: two passes, exact
  verification, 14 bands x 9 rows from the recall-leaning weights, signatures in-process)
  -> ``write_records``; ``synthpipe-2-workers`` the same with 2 signature processes;
  ``synthpipe-9x13`` with datasketch's weights, i.e. the peers' banding;
  ``synthpipe-plain-io`` reads and writes with ``json.loads`` / ``json.dumps`` like the
  peers' loops (the dedup's own cost, without synthpipe's validating reader/writer).
- ``synthpipe-pipeline``: the same step inside a ``Pipeline`` (Parquet checkpoints, ledger).
- ``datasketch``: the usual loop: one ``MinHash`` per document, ``MinHashLSH.query`` then
  ``insert`` if no candidate (keep-first, no verification).
- ``rensa``: the same loop with ``RMinHash`` / ``RMinHashLSH`` (117 perms = 9 x 13: rensa
  needs num_perm divisible by the band count).
- ``datatrove``: its four MinHash stages (signature, buckets, cluster, filter) with
  ``LocalPipelineExecutor`` (2 workers, the corpus in 2 shards), 64-bit xxhash, spaCy
  tokens, its default text normalisation.

Metrics: docs/s of the contender's own timed work (reading to writing); CPU seconds (user +
sys summed over the process tree, interpreter start and imports included) and peak RSS of
the tree (the sum over its processes: an upper bound, forked workers share pages), both
sampled from /proc every 20 ms; the 1-minute load average when the contender started (the
machine may be shared: compare CPU seconds when it is not idle); and against the ground
truth at the threshold:
recall = planted pairs with exact J >= threshold of which exactly one document was removed;
precision = removed documents that belong to such a pair.

    .venv/bin/python benchmarks/bench_minhash.py --docs 200000 \
        --datasketch-python /tmp/peers/ds/bin/python --datatrove-python /tmp/peers/dt/bin/python

For the command as users run it (``synthpipe dedup --method minhash``, whole processes under
``/usr/bin/time -v``, on real-text corpora with an exact ground truth) see
``bench_dedup_command.py``, which runs the datasketch, rensa and plain-I/O loops of this file.

The peers go in their own venvs (``pip install datasketch rensa`` and ``pip install datatrove
spacy regex "xxhash<4" orjson tokenizers``); a contender without its python is skipped. This file imports
only the standard library at module level so that peer venvs can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
SHARED = HERE.parents[1].parent / "shared" / "data"
WORD = re.compile(r"\w+")
NGRAM, NUM_PERM, THRESHOLD, BANDS, ROWS = 5, 128, 0.8, 9, 13


# -- corpus ----------------------------------------------------------------------------------
def _vocabulary(shared: Path) -> tuple[list[str], list[float]]:
    """Whitespace tokens of the shared datasets with their frequencies (casing, punctuation kept)."""
    counts: dict[str, int] = {}
    sources = ["gsm8k/train.jsonl", "gsm8k/test.jsonl", "oasst_samples/en_100_text.jsonl",
               "self_instruct/seed_tasks.jsonl", "mbpp/mbpp.jsonl"]  # fmt: skip
    for rel in sources:
        path = shared / rel
        if not path.exists():
            continue
        for line in path.open(encoding="utf-8"):
            for value in _strings(json.loads(line)):
                for token in value.split():
                    counts[token] = counts.get(token, 0) + 1
    if not counts:
        raise SystemExit(f"no vocabulary: {shared} has none of {sources}")
    words = sorted(counts)
    total = sum(counts.values())
    return words, [counts[w] / total for w in words]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def make_corpus(n: int, dup_rate: float, seed: int, out: Path, shared: Path) -> dict:
    """Write ``corpus.jsonl`` and ``truth.json`` (planted pairs with their exact Jaccard)."""
    import numpy as np

    from synthpipe.curate.minhash.shingles import reference_shingles

    rng = np.random.default_rng(seed)
    words, probs = _vocabulary(shared)
    vocab = np.array(words, dtype=object)
    copies = int(round(n * dup_rate))
    bases = n - copies
    lengths = rng.integers(150, 251, size=bases)
    drawn = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    cuts = np.concatenate([[0], np.cumsum(lengths)])
    docs = [vocab[drawn[cuts[i] : cuts[i + 1]]].tolist() for i in range(bases)]
    originals = rng.choice(bases, size=copies, replace=False)
    targets = rng.uniform(0.5, 1.0, size=copies)
    for orig, target in zip(originals.tolist(), targets.tolist(), strict=True):
        copy = list(docs[orig])
        killed = (1 - target) / (1 + target)  # fraction of shingles to change for Jaccard `target`
        swap = round(len(copy) * (1 - (1 - killed) ** (1 / NGRAM)))
        for pos in rng.choice(len(copy), size=swap, replace=False).tolist():
            copy[pos] = vocab[rng.integers(len(vocab))]
        docs.append(copy)
    order = rng.permutation(n)  # position of each generated doc in the file
    ids = [f"d{p:07d}" for p in order.tolist()]
    texts = [" ".join(d) for d in docs]
    out.mkdir(parents=True, exist_ok=True)
    lines = [None] * n
    for i, p in enumerate(order.tolist()):
        lines[p] = json.dumps({"id": ids[i], "text": texts[i]})
    (out / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    pairs = []
    for c, orig in enumerate(originals.tolist()):
        a, b = reference_shingles(texts[orig], NGRAM), reference_shingles(texts[bases + c], NGRAM)
        pairs.append([ids[orig], ids[bases + c], len(a & b) / len(a | b)])
    truth = {"docs": n, "pairs": pairs}
    (out / "truth.json").write_text(json.dumps(truth))
    for shard in range(2):  # datatrove reads shards: one per task
        (out / "shards").mkdir(exist_ok=True)
        (out / "shards" / f"part{shard}.jsonl").write_text("\n".join(lines[shard::2]) + "\n")
    return truth


# -- contenders (run in the child process) -----------------------------------------------------
def _shingles(text: str) -> set[str]:
    tokens = WORD.findall(text.lower())
    return {" ".join(tokens[i : i + NGRAM]) for i in range(max(1, len(tokens) - NGRAM + 1))}


def run_synthpipe(corpus: Path, work: Path, workers: int, **config) -> list[str]:
    from synthpipe.curate.minhash import MinHashDedup
    from synthpipe.data.readers import read_records
    from synthpipe.data.writers import write_records
    from synthpipe.pipeline.step import StepContext

    step = MinHashDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM, workers=workers, **config)
    removed: list[str] = []

    def kept():
        for batch in step.run(lambda: read_records(corpus, batch_size=1024), StepContext("minhash")):
            for record in batch:
                if record.get("_drop") is None:
                    yield record
                else:
                    removed.append(record["id"])

    write_records(kept(), work / "kept.jsonl")
    print(json.dumps(step.last_summary), file=sys.stderr)
    return removed


def run_synthpipe_plain_io(corpus: Path, work: Path, workers: int) -> list[str]:
    """The step with the peers' I/O (json.loads / json.dumps per line) instead of synthpipe's
    validating reader and writer: the cost of the dedup itself."""
    from synthpipe.curate.minhash import MinHashDedup
    from synthpipe.pipeline.step import StepContext

    def batches():
        with corpus.open() as src:
            batch = []
            for line in src:
                batch.append(json.loads(line))
                if len(batch) == 1024:
                    yield batch
                    batch = []
            if batch:
                yield batch

    step = MinHashDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM, workers=workers)
    removed = []
    with (work / "kept.jsonl").open("w") as out:
        for batch in step.run(batches, StepContext("minhash")):
            for record in batch:
                if record.get("_drop") is None:
                    out.write(json.dumps(record) + "\n")
                else:
                    removed.append(record["id"])
    return removed


def run_synthpipe_pipeline(corpus: Path, work: Path, workers: int) -> list[str]:
    from synthpipe import Pipeline
    from synthpipe.curate.minhash import MinHashDedup
    from synthpipe.pipeline.sources import ReadRecords

    step = MinHashDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM, workers=workers)
    pipe = Pipeline("bench", {"read": ReadRecords(path=str(corpus)), "minhash": step}, batch_size=1024)
    result = pipe.run(work / "run")
    return [r["id"] for r in result.dropped if r["_drop"]["step"] == "minhash"]


def run_datasketch(corpus: Path, work: Path, workers: int) -> list[str]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == (BANDS, ROWS), (lsh.b, lsh.r)
    removed = []
    with corpus.open() as src, (work / "kept.jsonl").open("w") as out:
        for line in src:
            record = json.loads(line)
            m = MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch([s.encode() for s in _shingles(record["text"])])
            if lsh.query(m):
                removed.append(record["id"])
            else:
                lsh.insert(record["id"], m)
                out.write(line)
    return removed


def run_rensa(corpus: Path, work: Path, workers: int) -> list[str]:
    from rensa import RMinHash, RMinHashLSH

    perms = BANDS * ROWS
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=perms, num_bands=BANDS)
    removed, keys = [], []
    with corpus.open() as src, (work / "kept.jsonl").open("w") as out:
        for line in src:
            record = json.loads(line)
            m = RMinHash(num_perm=perms, seed=1)
            m.update(list(_shingles(record["text"])))
            if lsh.query(m):
                removed.append(record["id"])
            else:
                lsh.insert(len(keys), m)
                keys.append(record["id"])
                out.write(line)
    return removed


def run_datatrove(corpus: Path, work: Path, workers: int) -> list[str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    shards = corpus.parent / "shards"
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, hash_config=HashConfig(precision=64))
    tasks = 2

    def run(pipeline, n_tasks, name):
        LocalPipelineExecutor(pipeline=pipeline, tasks=n_tasks, workers=min(2, n_tasks),
                              logging_dir=str(work / "logs" / name)).run()  # fmt: skip

    run([JsonlReader(str(shards)), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)], tasks, "s1")
    run([MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg)],
        BANDS, "s2")  # fmt: skip
    run([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=cfg)],
        1, "s3")  # fmt: skip
    run([JsonlReader(str(shards)),
         MinhashDedupFilter(input_folder=str(work / "remove"),
                            exclusion_writer=JsonlWriter(str(work / "removed"), compression=None)),
         JsonlWriter(str(work / "kept"), compression=None)], tasks, "s4")  # fmt: skip
    removed = []
    for path in sorted((work / "removed").glob("*.jsonl")):
        removed += [json.loads(line)["id"] for line in path.open()]
    return removed


CONTENDERS = {
    "synthpipe": run_synthpipe,
    "synthpipe-2-workers": lambda corpus, work, workers: run_synthpipe(corpus, work, 2),
    "synthpipe-plain-io": run_synthpipe_plain_io,
    "synthpipe-9x13": lambda corpus, work, workers: run_synthpipe(
        corpus, work, workers, fp_weight=0.5, fn_weight=0.5
    ),
    "synthpipe-pipeline": run_synthpipe_pipeline,
    "datasketch": run_datasketch,
    "rensa": run_rensa,
    "datatrove": run_datatrove,
}


def child(name: str, corpus: Path, work: Path, workers: int, result: Path) -> None:
    started = time.perf_counter()
    removed = CONTENDERS[name](corpus, work, workers)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.write_text(json.dumps({
        "seconds": seconds, "removed": removed,
        "maxrss_mb": own.ru_maxrss / 1024, "children_maxrss_mb": kids.ru_maxrss / 1024,
        "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
    }))  # fmt: skip


# -- the parent: run, measure, score ------------------------------------------------------------
def _tree(root: int) -> list[int]:
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def _sample(pid: int) -> tuple[float, float] | None:
    """(RSS MB, user + sys CPU seconds) of one process, from /proc."""
    try:
        rss = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if x.startswith("VmRSS:"))  # fmt: skip
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, StopIteration, ValueError):
        return None
    return rss / 1024, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, python: str, corpus: Path, workers: int) -> dict:
    """Run one contender; sample its process tree's RSS (sum) and CPU (per process) every 20 ms."""
    with tempfile.TemporaryDirectory(prefix=f"bench-minhash-{name}-") as tmp:
        work = Path(tmp)
        result = work / "result.json"
        cmd = [python, str(HERE), "--child", name, "--corpus", str(corpus), "--work", str(work),
               "--workers", str(workers), "--result", str(result)]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
        reader.start()
        peak, cpu = 0.0, {}
        while proc.poll() is None:
            samples = {pid: _sample(pid) for pid in _tree(proc.pid)}
            peak = max(peak, sum(s[0] for s in samples.values() if s))
            cpu |= {pid: s[1] for pid, s in samples.items() if s}
            time.sleep(0.02)
        wall = time.perf_counter() - started
        reader.join(5)
        if proc.returncode != 0:
            return {"name": name, "error": f"exit {proc.returncode}: {''.join(stderr)[-2000:]}"}
        out = json.loads(result.read_text())
    return {"name": name, "wall": wall, "peak_tree_mb": peak, "tree_cpu": sum(cpu.values()),
            "log": "".join(stderr)[-3000:], **out}  # fmt: skip


def score(removed: list[str], truth: dict, threshold: float) -> dict:
    positive = [(a, b) for a, b, j in truth["pairs"] if j >= threshold]
    members = {x for pair in positive for x in pair}
    gone = set(removed)
    found = sum((a in gone) != (b in gone) for a, b in positive)
    good = len(gone & members)
    return {
        "recall": found / len(positive) if positive else float("nan"),
        "precision": good / len(gone) if gone else float("nan"),
        "removed": len(gone),
        "positives": len(positive),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--dup-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0,
                        help="signature processes of the synthpipe rows without a number (default 0)")  # fmt: skip
    parser.add_argument("--datasketch-python", help="python of a venv with datasketch and rensa")
    parser.add_argument("--datatrove-python", help="python of a venv with datatrove, spacy, regex, xxhash<4")
    parser.add_argument("--only", help="comma-separated contenders (default: all that can run)")
    parser.add_argument("--corpus-dir", type=Path, help="keep the corpus here (default: a temp dir)")
    parser.add_argument("--shared-data", type=Path, default=SHARED)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--make-corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.work, args.workers, args.result)
        return
    if args.make_corpus:
        make_corpus(args.docs, args.dup_rate, args.seed, args.make_corpus, args.shared_data)
        return

    pythons = {name: sys.executable for name in CONTENDERS if name.startswith("synthpipe")}
    pythons |= {
        "datasketch": args.datasketch_python, "rensa": args.datasketch_python,
        "datatrove": args.datatrove_python}  # fmt: skip
    names = args.only.split(",") if args.only else list(CONTENDERS)
    with tempfile.TemporaryDirectory(prefix="bench-minhash-corpus-") as tmp:
        corpus_dir = args.corpus_dir or Path(tmp)
        started = time.perf_counter()
        truth = _corpus(args, corpus_dir)
        print(f"corpus: {args.docs} docs, {len(truth['pairs'])} planted pairs "
              f"({sum(j >= THRESHOLD for *_, j in truth['pairs'])} with exact J >= {THRESHOLD}), "
              f"made in {time.perf_counter() - started:.1f}s", flush=True)  # fmt: skip
        rows = []
        for name in names:
            if not pythons.get(name):
                print(f"skip {name}: pass --{'datatrove' if name == 'datatrove' else 'datasketch'}-python")
                continue
            load = os.getloadavg()[0]
            row = measure(name, pythons[name], corpus_dir / "corpus.jsonl", args.workers)
            row["load"] = load
            if "error" not in row:
                row.update(score(row["removed"], truth, THRESHOLD))
            rows.append(row)
            print(_line(row, args.docs), flush=True)
    _table(rows, args.docs)


def _corpus(args, where: Path) -> dict:
    """Make the corpus in a subprocess (so this process stays small: children inherit
    ru_maxrss), or reuse one made with the same settings."""
    settings = {"docs": args.docs, "dup_rate": args.dup_rate, "seed": args.seed}
    truth_path = where / "truth.json"
    if truth_path.exists():
        truth = json.loads(truth_path.read_text())
        if truth.get("settings") == settings:
            return truth
    cmd = [sys.executable, str(HERE), "--make-corpus", str(where), "--docs", str(args.docs),
           "--dup-rate", str(args.dup_rate), "--seed", str(args.seed), "--shared-data", str(args.shared_data)]  # fmt: skip
    subprocess.run(cmd, check=True)
    truth = json.loads(truth_path.read_text())
    truth["settings"] = settings
    truth_path.write_text(json.dumps(truth))
    return truth


def _line(row: dict, docs: int) -> str:
    if "error" in row:
        return f"{row['name']}: FAILED {row['error']}"
    return (f"{row['name']}: {docs / row['seconds']:.0f} docs/s ({row['seconds']:.1f}s, load {row['load']:.1f}), recall "
            f"{row['recall']:.3f}, precision {row['precision']:.3f}, peak {row['peak_tree_mb']:.0f} MB")  # fmt: skip


def _table(rows: list[dict], docs: int) -> None:
    base = next((r for r in rows if r["name"] == "datasketch" and "error" not in r), None)
    print(f"\n{docs} docs, {os.cpu_count()} CPUs; load = 1-min load average when the contender started")
    print("\n| contender | docs/s | x datasketch | seconds | CPU s | x datasketch (CPU) | recall | precision "
          "| removed | peak RSS MB | load |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['name']} | failed | | | | | | | | | |")
            continue
        speed = docs / r["seconds"]
        ratio = f"{speed / (docs / base['seconds']):.1f}" if base else "-"
        cpu_ratio = f"{base['tree_cpu'] / r['tree_cpu']:.1f}" if base else "-"
        print(f"| {r['name']} | {speed:,.0f} | {ratio} | {r['seconds']:.1f} | {r['tree_cpu']:.1f} | {cpu_ratio} | "
              f"{r['recall']:.3f} | {r['precision']:.3f} | {r['removed']} | {r['peak_tree_mb']:.0f} | "
              f"{r['load']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()

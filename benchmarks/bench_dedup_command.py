"""`synthpipe dedup --method minhash` as a user runs it vs datasketch 2.0's loop, whole processes.

Each contender is one process timed by ``/usr/bin/time -v`` (wall clock, user + sys CPU, peak
RSS), reading the same JSONL file and writing the kept records:

- ``synthpipe``: ``python -m synthpipe.cli dedup corpus.jsonl --out DIR --method minhash``
  (defaults: threshold 0.8, 128 permutations, exact verification), from this tree;
- ``synthpipe-before``: the same command from another checkout (``--before-src DIR/src``, put
  first on ``PYTHONPATH``), e.g. the code before a change;
- ``datasketch``: the plain loop of ``bench_minhash.py --child datasketch``: one ``MinHash``
  per document, ``MinHashLSH.query`` then ``insert`` if no candidate (threshold 0.8, 128
  permutations, keep-first, no verification); ``rensa`` the same loop with rensa's classes;
- ``step-plain-io``: ``bench_minhash.py --child synthpipe-plain-io``: the ``minhash_dedup``
  step between ``json.loads`` / ``json.dumps`` loops like the peers' (the dedup work without
  the command's reader, writer, run directory and report); ``step-plain-io-before`` the same
  with ``--before-src``.

Corpus (built once per size and seed, deterministic, kept in ``--corpus-dir``): real texts from
../shared/data (SST-2 and TREC sentences, GSM8K questions and answer sentences, MMLU
questions, MBPP tasks, Self-Instruct instructions and instances, OpenAssistant messages), each
whitespace-normalised, distinct, >= 4 words, in a seeded order; once they run out, new texts
are the first half of one real text (>= 8 words) joined to the second half of another of about
the same length (so that texts sharing one half stay below J = 1/3). 10% of the documents
are planted near-duplicates of an earlier one: an exact copy, a case / punctuation variant, or
1-4 word edits (substitute, delete, insert, a prefix or suffix phrase). The file order is a
seeded permutation.

Ground truth: the exact Jaccard similarity of word 5-gram sets (the reference shingling,
``synthpipe.curate.minhash.shingles.reference_shingles``) of every pair with J >= 0.8 in the
whole corpus, found by an exact prefix-filter similarity join (Chaudhuri et al. 2006; Bayardo
et al. 2007): planted pairs and the real texts' own near-duplicates. Scores:

- recall (planted): planted pairs with exact J >= 0.8 of which at least one document was removed;
- recall (all): the same over every pair with exact J >= 0.8;
- precision: removed documents that have some partner with exact J >= 0.8.

Contenders run interleaved (round-robin, order rotated each round); the table shows medians
over ``--rounds`` runs (min-max of the wall time), the ratio of medians to datasketch's, for wall
time and for CPU time (user + sys: steadier when the machine is shared), and the median 1-minute
load average when each run started. synthpipe's drops (ids, reasons and details)
are hashed per run: the digest must be the same in every round and in both trees.

    .venv/bin/python benchmarks/bench_dedup_command.py --docs 100000 1000000 --rounds 3 \\
        --corpus-dir /tmp/bench --datasketch-python /tmp/peers/ds/bin/python \\
        --before-src /tmp/before/src

This file imports only the standard library at module level; the corpus is built in a
subprocess of this python (numpy and synthpipe).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
PEER_BENCH = HERE.parent / "bench_minhash.py"
SHARED = HERE.parents[1].parent / "shared" / "data"
THRESHOLD, NGRAM, PLANTED = 0.8, 5, 0.10
PREFIXES = ["Please answer: ", "Question: ", "Quick question: ", "Hi! ", "Task: "]
SUFFIXES = [" Thanks.", " Please explain.", " (asking for a friend)", " Answer briefly."]


# -- corpus -----------------------------------------------------------------------------------
def _csv(path: Path, column: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def _jsonl(path: Path) -> list:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _tree_texts(node: dict) -> list[str]:
    out = [node["text"]] if isinstance(node.get("text"), str) else []
    for child in node.get("replies") or []:
        out += _tree_texts(child)
    return out


def real_texts(shared: Path) -> list[str]:
    """Distinct real texts (>= 4 words, whitespace-normalised) from the shared datasets."""
    texts: list[str] = []
    for split in ("train", "dev", "test"):
        texts += _csv(shared / "sst2" / f"{split}.csv", "sentence")
    for split in ("train", "test"):
        texts += _csv(shared / "trec" / f"{split}.csv", "text")
        for row in _jsonl(shared / "gsm8k" / f"{split}.jsonl"):
            texts.append(row["question"])
            answer = re.sub(r"<<[^>]*>>", "", row["answer"].split("####")[0])
            texts += re.split(r"(?<=[.!?])\s+|\n", answer)
    for path in sorted((shared / "mmlu").rglob("*.csv")):
        texts += _csv(path, "question")
    texts += [row["text"] for row in _jsonl(shared / "mbpp" / "mbpp.jsonl")]
    si = shared / "self_instruct"
    for row in _jsonl(si / "seed_tasks.jsonl") + _jsonl(si / "human_eval_user_oriented_instructions.jsonl"):
        texts.append(row["instruction"])
        for inst in row.get("instances") or []:
            texts += [inst.get("input") or "", inst.get("output") or ""]
    oa = shared / "oasst_samples"
    for tree in _jsonl(oa / "en_100_tree.jsonl"):
        for text in _tree_texts(tree.get("prompt") or {}):
            texts += text.split("\n\n")  # assistant replies: one document per paragraph
    texts += _jsonl(oa / "prompt_lottery_en_250_text.jsonl")
    seen: set[str] = set()
    out = []
    for text in texts:
        text = " ".join(str(text).split())
        if len(text.split()) >= 4 and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def plant(text: str, rng: random.Random, vocab: list[str]) -> str:
    """A near-duplicate of `text`: exact copy, surface variant, or a few word edits."""
    roll = rng.random()
    if roll < 0.15:
        return text
    if roll < 0.30:  # case and punctuation: the same words after normalisation
        words = text.split()
        k = rng.randrange(len(words))
        words[k] = words[k].upper() if rng.random() < 0.5 else words[k] + rng.choice([",", ".", "!", ";"])
        return " ".join(words)
    words = text.split()
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0:
            words[rng.randrange(len(words))] = rng.choice(vocab)
        elif op == 1 and len(words) > 4:
            del words[rng.randrange(len(words))]
        elif op == 2:
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
        elif op == 3:
            words = rng.choice(PREFIXES).split() + words
        else:
            words = words + rng.choice(SUFFIXES).split()
    return " ".join(words)


def make_corpus(n: int, seed: int, out: Path, shared: Path) -> None:
    """Write ``corpus.jsonl`` and ``truth.json`` for `n` documents."""
    rng = random.Random(seed)
    pool = real_texts(shared)
    rng.shuffle(pool)
    vocab = sorted({w for t in pool[:5000] for w in t.split()})
    n_planted = round(n * PLANTED)
    n_base = n - n_planted
    texts = pool[:n_base]
    by_length = sorted((t for t in pool if len(t.split()) >= 8), key=lambda t: (len(t.split()), t))
    while len(texts) < n_base:
        # recombined halves of two real texts of >= 8 words and about the same length: texts
        # that share one half then stay below J = 1/3 (a long half joined to a short one would
        # not, and halves of short texts repeat)
        i = rng.randrange(len(by_length))
        j = min(max(i + rng.choice([-1, 1]) * rng.randint(1, 2000), 0), len(by_length) - 1)
        if j == i:
            continue
        a, b = by_length[i].split(), by_length[j].split()
        texts.append(" ".join(a[: len(a) // 2] + b[len(b) // 2 :]))
    planted = []
    for _ in range(n_planted):
        source = rng.randrange(n_base)
        planted.append((source, len(texts)))
        texts.append(plant(texts[source], rng, vocab))
    order = list(range(n))
    rng.shuffle(order)  # order[i]: the file position of generated document i
    ids = [f"d{p:07d}" for p in order]
    lines = [""] * n
    for i, p in enumerate(order):
        lines[p] = json.dumps({"id": ids[i], "text": texts[i]})
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = exact_pairs(texts, THRESHOLD)
    jaccard = {(min(a, b), max(a, b)): j for a, b, j in pairs}
    truth = {
        "docs": n,
        "real": min(n_base, len(pool)),
        "planted": [[ids[a], ids[b], _planted_jaccard(texts, a, b, jaccard)] for a, b in planted],
        "pairs": [[ids[a], ids[b], j] for a, b, j in pairs],
    }
    (out / "truth.json").write_text(json.dumps(truth))


def _planted_jaccard(texts: list[str], a: int, b: int, known: dict) -> float:
    from synthpipe.curate.minhash.shingles import reference_shingles

    if (a, b) in known:
        return known[(a, b)]
    x, y = reference_shingles(texts[a], NGRAM), reference_shingles(texts[b], NGRAM)
    return len(x & y) / len(x | y) if x | y else 1.0


def exact_pairs(texts: list[str], t: float) -> list[tuple[int, int, float]]:
    """Every pair (a < b) of texts whose shingle sets have Jaccard >= t, exactly.

    Prefix filtering: order each set's tokens rarest first; two sets with J >= t share a token
    among the first ``|x| - ceil(t |x|) + 1`` of each. Candidates from shared prefix tokens (and
    sizes within a factor t) are verified on the full sets.
    """
    import numpy as np

    from synthpipe.curate.minhash.shingles import reference_shingles

    sets = [np.unique(np.fromiter(map(hash, reference_shingles(x, NGRAM)), dtype=np.int64)) for x in texts]
    size = np.array([len(s) for s in sets], dtype=np.int64)
    doc = np.repeat(np.arange(len(sets)), size)
    tokens, inverse, counts = np.unique(np.concatenate(sets), return_inverse=True, return_counts=True)
    key = counts[inverse].astype(np.int64) * len(tokens) + inverse  # rarest first, ties by token
    order = np.lexsort((key, doc))
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    rank = np.empty(len(doc), dtype=np.int64)
    rank[order] = np.arange(len(doc)) - starts[doc[order]]
    prefix = size - np.ceil(t * size - 1e-9).astype(np.int64) + 1
    keep = rank < prefix[doc]
    p_tok, p_doc = inverse[keep], doc[keep]
    by_tok = np.lexsort((p_doc, p_tok))
    p_tok, p_doc = p_tok[by_tok], p_doc[by_tok]
    cuts = np.flatnonzero(np.diff(p_tok)) + 1
    candidates: set[tuple[int, int]] = set()
    for group in np.split(p_doc, cuts):
        if len(group) < 2:
            continue
        members = group.tolist()
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a != b and min(size[a], size[b]) >= t * max(size[a], size[b]):
                    candidates.add((a, b) if a < b else (b, a))
    out = []
    for a, b in sorted(candidates):
        inter = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        j = inter / (size[a] + size[b] - inter)
        if j >= t:
            out.append((a, b, float(j)))
    return out


def corpus(n: int, seed: int, root: Path, shared: Path) -> tuple[Path, dict]:
    """The corpus of `n` documents under `root` (built in a subprocess if missing)."""
    where = root / f"dedup-{n}-s{seed}"
    if not (where / "truth.json").exists():
        cmd = [sys.executable, str(HERE), "--make-corpus", str(where), "--docs", str(n),
               "--seed", str(seed), "--shared-data", str(shared)]  # fmt: skip
        subprocess.run(cmd, check=True)
    return where / "corpus.jsonl", json.loads((where / "truth.json").read_text())


# -- contenders -------------------------------------------------------------------------------
def command(name: str, args: argparse.Namespace, corpus_path: Path, work: Path) -> tuple[list[str], dict]:
    """The command line and environment of one contender."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if name in ("synthpipe", "synthpipe-before"):
        if name == "synthpipe-before":
            env["PYTHONPATH"] = str(args.before_src)
        out = work / "out"
        return [sys.executable, "-m", "synthpipe.cli", "dedup", str(corpus_path), "--out", str(out),
                "--method", "minhash"], env  # fmt: skip
    if name == "step-plain-io-before":
        env["PYTHONPATH"] = str(args.before_src)
    child = {"step-plain-io": "synthpipe-plain-io", "step-plain-io-before": "synthpipe-plain-io"}.get(name, name)
    python = sys.executable if name.startswith("step-plain-io") else args.datasketch_python
    return [python, str(PEER_BENCH), "--child", child, "--corpus", str(corpus_path), "--work", str(work),
            "--workers", "0", "--result", str(work / "result.json")], env  # fmt: skip


def removed_of(name: str, work: Path) -> tuple[list[str], str | None]:
    """Removed ids, and for the command a digest of its drops (id, step, reason, detail)."""
    if name.startswith("synthpipe"):
        drops = []
        with (work / "out" / "dropped.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                d = record["_drop"]
                drops.append((record["id"], d.get("reason"), d.get("detail")))
        drops.sort()
        digest = hashlib.sha256(json.dumps(drops).encode()).hexdigest()[:16]
        return [i for i, reason, _ in drops if reason == "near_duplicate"], digest
    return json.loads((work / "result.json").read_text())["removed"], None


_TIME_FIELDS = {
    "Elapsed (wall clock) time (h:mm:ss or m:ss)": "wall",
    "Maximum resident set size (kbytes)": "rss_kb",
    "User time (seconds)": "user",
    "System time (seconds)": "sys",
}


def parse_time_v(text: str) -> dict:
    """Wall seconds, peak RSS (kB), user and system seconds from ``/usr/bin/time -v`` output."""
    out: dict = {}
    for line in text.splitlines():
        label, _, value = line.strip().rpartition(": ")
        if label in _TIME_FIELDS:
            if _TIME_FIELDS[label] == "wall":
                seconds = 0.0
                for part in value.split(":"):
                    seconds = seconds * 60 + float(part)
                out["wall"] = seconds
            else:
                out[_TIME_FIELDS[label]] = float(value)
    return out


def run_one(name: str, args: argparse.Namespace, corpus_path: Path, truth: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-dedup-{name}-", dir=args.work_dir) as tmp:
        work = Path(tmp)
        cmd, env = command(name, args, corpus_path, work)
        proc = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"name": name, "error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
        row = {"name": name, **parse_time_v(proc.stderr)}
        removed, digest = removed_of(name, work)
    row.update(score(removed, truth), digest=digest)
    return row


def score(removed: list[str], truth: dict) -> dict:
    gone = set(removed)
    planted = [(a, b) for a, b, j in truth["planted"] if j >= THRESHOLD]
    partners = {x for a, b, _ in truth["pairs"] for x in (a, b)}
    hit = lambda pairs: sum(a in gone or b in gone for a, b in pairs) / len(pairs) if pairs else float("nan")  # noqa: E731
    return {
        "recall_planted": hit(planted),
        "recall_all": hit([(a, b) for a, b, _ in truth["pairs"]]),
        "precision": len(gone & partners) / len(gone) if gone else float("nan"),
        "removed": len(gone),
    }


# -- the table --------------------------------------------------------------------------------
def summarise(rows: list[dict], n: int, truth: dict, names: list[str]) -> str:
    ok = [r for r in rows if "error" not in r]
    med = {name: _median(ok, name) for name in names}
    base = med.get("datasketch")
    planted = sum(j >= THRESHOLD for *_, j in truth["planted"])
    lines = [
        f"\n{n:,} documents ({truth['real']:,} real texts, {len(truth['planted']):,} planted of which "
        f"{planted:,} at exact J >= {THRESHOLD}; {len(truth['pairs']):,} pairs at J >= {THRESHOLD} in all); "
        f"medians of {max((m or {}).get('runs', 0) for m in med.values())} interleaved runs",
        "",
        "| contender | wall s | x datasketch (wall) | CPU s | x datasketch (CPU) | peak RSS MB | recall (planted) "
        "| recall (all) | precision | removed | drops digest | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name in names:
        m = med.get(name)
        if m is None:
            lines.append(f"| {name} | failed | | | | | | | | |")
            continue
        ratio = f"{base['wall'] / m['wall']:.1f}" if base else "-"
        cpu_ratio = f"{base['cpu'] / m['cpu']:.1f}" if base else "-"
        lines.append(
            f"| {name} | {m['wall']:.1f} ({m['wall_min']:.1f}-{m['wall_max']:.1f}) | {ratio} | {m['cpu']:.1f} | "
            f"{cpu_ratio} | {m['rss_kb'] / 1024:.0f} | {m['recall_planted']:.3f} | {m['recall_all']:.3f} | "
            f"{m['precision']:.3f} | {m['removed']:,} | {m['digests']} | {m['load']:.1f} |"
        )
    return "\n".join(lines)


def _median(rows: list[dict], name: str) -> dict | None:
    mine = [r for r in rows if r["name"] == name]
    if not mine:
        return None
    walls = [r["wall"] for r in mine]
    out = {k: statistics.median(r[k] for r in mine) for k in ("wall", "rss_kb", "recall_planted",
                                                              "recall_all", "precision", "removed")}  # fmt: skip
    out["cpu"] = statistics.median(r["user"] + r["sys"] for r in mine)
    out["load"] = statistics.median(r["load"] for r in mine)
    out |= {"wall_min": min(walls), "wall_max": max(walls), "runs": len(mine)}
    digests = sorted({r["digest"] for r in mine if r["digest"]})
    out["digests"] = ", ".join(digests) if digests else "-"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated contenders (default: all that can run)")
    parser.add_argument("--datasketch-python", help="python of a venv with datasketch 2.0 and rensa")
    parser.add_argument("--before-src", type=Path, help="src/ of another checkout: adds synthpipe-before")
    parser.add_argument("--corpus-dir", type=Path, default=Path(tempfile.gettempdir()) / "synthpipe-bench-dedup")
    parser.add_argument("--work-dir", type=Path, help="where the runs write (default: the system temp dir)")
    parser.add_argument("--shared-data", type=Path, default=SHARED)
    parser.add_argument("--make-corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_corpus:
        make_corpus(args.docs[0], args.seed, args.make_corpus, args.shared_data)
        return
    names = ["synthpipe", "synthpipe-before", "datasketch", "rensa", "step-plain-io", "step-plain-io-before"]
    if args.only:
        names = [n for n in args.only.split(",") if n]
    names = [n for n in names if _can_run(n, args)]
    for n in args.docs:
        corpus_path, truth = corpus(n, args.seed, args.corpus_dir, args.shared_data)
        rows = []
        for r in range(args.rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:  # rotate so no contender always runs first
                load = os.getloadavg()[0]
                row = run_one(name, args, corpus_path, truth)
                row["load"] = load
                rows.append(row)
                print(_line(row, n, r, load), flush=True)
        print(summarise(rows, n, truth, names), flush=True)


def _can_run(name: str, args: argparse.Namespace) -> bool:
    if name in ("datasketch", "rensa") and not args.datasketch_python:
        print(f"skip {name}: pass --datasketch-python")
        return False
    return not name.endswith("-before") or args.before_src is not None


def _line(row: dict, n: int, r: int, load: float) -> str:
    if "error" in row:
        return f"[{n} r{r}] {row['name']}: FAILED {row['error']}"
    return (f"[{n} r{r}] {row['name']}: {row['wall']:.1f}s wall, {row['user'] + row['sys']:.1f}s CPU, "
            f"{row['rss_kb'] / 1024:.0f} MB, recall {row['recall_planted']:.3f}/{row['recall_all']:.3f}, "
            f"precision {row['precision']:.3f}, removed {row['removed']}, digest {row['digest']}, "
            f"load {load:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

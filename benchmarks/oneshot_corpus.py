"""A JSONL corpus of real sentences with planted duplicates, for timing one-shot commands.

Sentences come from ../shared/data: OpenAssistant messages (every message of the 100 trees),
Self-Instruct seed tasks, user-oriented instructions and the eight models' predictions, and
GSM8K questions and worked answers. A document is 1-12 consecutive sentences of the shuffled
pool (so lengths run from a few words to a few hundred, median ~86); `--copies` of the
documents (default 5%) are exact copies of an earlier one and `--near` (default 5%) copies
with about 5% of the words replaced or deleted. Records look like real data: an `id`, the
`text`, the `source` dataset and a nested `meta`; about 14% hold non-ASCII text (curly quotes, symbols).

    .venv/bin/python benchmarks/oneshot_corpus.py /tmp/corpus.jsonl --docs 100000

Standard library only; the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _messages(tree: dict) -> list[str]:
    texts, stack = [], [tree]
    while stack:
        node = stack.pop()
        texts.append(node.get("text") or "")
        stack.extend(node.get("replies") or [])
    return texts


def _texts(shared: Path) -> list[tuple[str, str]]:
    """(source, text) of every long text in the three datasets, in a fixed order."""
    out: list[tuple[str, str]] = []
    for tree in _jsonl(shared / "oasst_samples" / "en_100_message.jsonl"):
        out += [("oasst", t) for t in _messages(tree)]
    for task in _jsonl(shared / "self_instruct" / "seed_tasks.jsonl"):
        out.append(("self_instruct", task["instruction"]))
        out += [("self_instruct", i.get("output") or "") for i in task.get("instances") or []]
    for row in _jsonl(shared / "self_instruct" / "human_eval_user_oriented_instructions.jsonl"):
        out.append(("self_instruct", row.get("instruction") or ""))
    for path in sorted((shared / "self_instruct" / "predictions").glob("*.jsonl.gz")):
        out += [("self_instruct", row.get("response") or "") for row in _jsonl(path)]
    for split in ("train", "test"):
        for row in _jsonl(shared / "gsm8k" / f"{split}.jsonl"):
            out.append(("gsm8k", row["question"]))
            out.append(("gsm8k", re.sub(r"<<[^>]*>>", "", row["answer"])))
    return out


def sentence_pool(shared: Path = SHARED) -> list[tuple[str, str]]:
    """Distinct (source, sentence) pairs of >= 3 words, in a fixed order."""
    seen: set[str] = set()
    pool = []
    for source, text in _texts(shared):
        for piece in _SENTENCE.split(text):
            sentence = " ".join(piece.split())
            if len(sentence.split()) >= 3 and sentence not in seen:
                seen.add(sentence)
                pool.append((source, sentence))
    return pool


def _edit(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    """About 5% of the words replaced by another word of the corpus or deleted."""
    words = text.split()
    for _ in range(max(1, len(words) // 20)):
        k = rng.randrange(len(words))
        if rng.random() < 0.5 and len(words) > 2:
            del words[k]
        else:
            words[k] = rng.choice(vocabulary)
    return " ".join(words)


def build(docs: int, seed: int = 0, copies: float = 0.05, near: float = 0.05, shared: Path = SHARED) -> list[dict]:
    """`docs` records; the planted copies point at their original in `meta.copy_of`."""
    rng = random.Random(seed)
    pool = sentence_pool(shared)
    rng.shuffle(pool)
    vocabulary = [w for _, s in pool[:2000] for w in s.split()]
    records: list[dict] = []
    at = 0
    for i in range(docs):
        roll = rng.random()
        if records and roll < copies + near:
            original = rng.randrange(len(records))
            text = records[original]["text"]
            kind = "copy" if roll < copies else "near"
            text = text if kind == "copy" else _edit(text, rng, vocabulary)
            source, meta = records[original]["source"], {"copy_of": records[original]["id"], "kind": kind}
        else:
            n = rng.randint(1, 12)
            if at + n > len(pool):
                rng.shuffle(pool)
                at = 0
            chunk = pool[at : at + n]
            at += n
            text, source, meta = " ".join(s for _, s in chunk), chunk[0][0], {"sentences": n}
        records.append({"id": f"doc-{i:06d}", "text": text, "source": source, "meta": meta})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=float, default=0.05)
    parser.add_argument("--near", type=float, default=0.05)
    args = parser.parse_args()
    records = build(args.docs, args.seed, args.copies, args.near)
    with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    words = sorted(len(r["text"].split()) for r in records)
    print(f"{args.out}: {len(records):,} records, {args.out.stat().st_size / 1e6:.1f} MB, "
          f"median {words[len(words) // 2]} words")  # fmt: skip


if __name__ == "__main__":
    main()

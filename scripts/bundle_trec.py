"""Bundle the small TREC pieces synthpipe ships (dev-time only; the product never reads ../shared).

Reads ``../shared/data/trec/{train,test}.csv`` (columns text,label_coarse,label_fine) and writes
``src/synthpipe/resources/data/trec/``:

- ``seeds.jsonl``: 10 seed questions per coarse class from the *train* split, picked with
  ``random.Random(0).sample`` over each class's row indices in file order (6 classes -> 60).
- ``test.jsonl``: the whole 500-row test split (decontamination + evaluation).
- ``train.jsonl``: the whole 5452-row train split (real-data baseline).
- ``SOURCE.md`` (origin, license, counts, sha256) and ``LICENSE_repo_MIT`` (vendor repo license).

Text is kept exactly as in the CSV (TREC's own tokenisation). Re-running gives identical bytes.

Usage: ``.venv/bin/python scripts/bundle_trec.py [--src ../shared/data/trec]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "trec"
OUT = REPO / "src" / "synthpipe" / "resources" / "data" / "trec"
SEEDS_PER_CLASS = 10
SEED = 0


def read_split(path: Path, split: str) -> list[dict[str, str]]:
    """Rows of one CSV split as records; ids carry the 0-based row index."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {
            "id": f"trec-{split}-{i}",
            "text": row["text"],
            "label": row["label_coarse"],
            "label_fine": row["label_fine"],
        }
        for i, row in enumerate(rows)
    ]


def pick_seeds(train: list[dict[str, str]], per_class: int, seed: int) -> list[dict[str, str]]:
    """`per_class` rows per coarse label; one RNG shared across labels in sorted label order."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(train):
        by_label[rec["label"]].append(i)
    rng = random.Random(seed)
    picked: list[int] = []
    for label in sorted(by_label):
        picked.extend(sorted(rng.sample(by_label[label], per_class)))
    return [train[i] for i in picked]


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counts(records: list[dict[str, str]]) -> str:
    tally: dict[str, int] = defaultdict(int)
    for rec in records:
        tally[rec["label"]] += 1
    return ", ".join(f"{k} {v}" for k, v in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))


def source_md(files: dict[str, list[dict[str, str]] | None], src_source: str) -> str:
    """SOURCE.md text: origin and license (from the vendored SOURCE.md), counts, hashes."""
    origin = next(
        (
            line[len("- Origin: ") :]
            for line in src_source.splitlines()
            if line.startswith("- Origin: ")
        ),
        "github.com/harvardnlp/sent-conv-torch, data/raw/TREC.train, data/raw/TREC.test",
    )
    lines = [
        "# TREC question classification (Li & Roth 2002): bundled pieces",
        "",
        "- Origin: " + origin,
        "  Converted to CSV (columns text,label_coarse,label_fine; raw TREC.train decoded as Latin-1)",
        "  in the project's shared data area, then bundled here by `scripts/bundle_trec.py`.",
        '- License: the vendor repo `LICENSE` first line "The MIT License (MIT)" covers its code',
        "  (copied here as `LICENSE_repo_MIT`); the TREC data itself carries no license file",
        "  (it is the public UIUC Li & Roth QC data, distributed for research).",
        '- Cite: Xin Li and Dan Roth. 2002. "Learning Question Classifiers". In COLING 2002.',
        "- Fields: `id` (`trec-<split>-<0-based row index in the split>`), `text` (exactly as in",
        "  the CSV, i.e. TREC's own tokenisation), `label` (coarse), `label_fine`.",
        "",
        "## Files",
        "",
        f"- `seeds.jsonl`: {SEEDS_PER_CLASS} seed questions per coarse class from the train split,",
        f"  `random.Random({SEED})` sampling each class's row indices (file order, labels in sorted",
        "  order, one RNG), then sorted by row index. Used by the `slot_template` generator.",
        "- `test.jsonl`: the whole test split (decontamination and evaluation).",
        "- `train.jsonl`: the whole train split (real-data baseline).",
        "",
        "| file | records | label counts | bytes | sha256 |",
        "|---|---|---|---|---|",
    ]
    for name, records in files.items():
        path = OUT / name
        n = "" if records is None else str(len(records))
        tally = "" if records is None else counts(records)
        lines.append(f"| {name} | {n} | {tally} | {path.stat().st_size} | {sha256(path)} |")
    lines += ["", "Regenerate: `.venv/bin/python scripts/bundle_trec.py` (deterministic).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    args = parser.parse_args()
    train = read_split(args.src / "train.csv", "train")
    test = read_split(args.src / "test.csv", "test")
    seeds = pick_seeds(train, SEEDS_PER_CLASS, SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "seeds.jsonl", seeds)
    write_jsonl(OUT / "test.jsonl", test)
    write_jsonl(OUT / "train.jsonl", train)
    shutil.copyfile(args.src / "LICENSE_repo_MIT", OUT / "LICENSE_repo_MIT")
    files = {
        "seeds.jsonl": seeds,
        "test.jsonl": test,
        "train.jsonl": train,
        "LICENSE_repo_MIT": None,
    }
    src_source = (args.src / "SOURCE.md").read_text(encoding="utf-8")
    (OUT / "SOURCE.md").write_text(source_md(files, src_source), encoding="utf-8")
    print(f"wrote {OUT}: seeds {len(seeds)}, test {len(test)}, train {len(train)}")


if __name__ == "__main__":
    main()

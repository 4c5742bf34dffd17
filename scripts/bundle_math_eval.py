"""Bundle the two math test sets of `recipes/math.yaml`'s experiment (dev-time only).

- ``resources/data/math_eval/gsm8k_test_100.jsonl``: 100 evenly spaced problems of the GSM8K
  test split already bundled for decontamination (``resources/benchmarks/gsm8k``), as
  ``{"id", "question", "answer", "final_answer"}``. A fixed subset keeps a CPU fine-tuning run
  short; the recipe's decontamination step removes these problems' near-copies from training
  data because they are GSM8K test problems.
- ``resources/data/math_eval/procedural_2step_100.jsonl``: 100 two-step procedural problems
  (``math_word_problems``, add/subtract/multiply, numbers up to 20) drawn with seed 90210,
  not the recipe's seed 0: the same generator as the training data, but easier, so that a
  135M model has room to move. Exact question overlap with the recipe's 2,000 training problems
  is checked and reported here.

Re-running gives identical bytes. Usage: ``.venv/bin/python scripts/bundle_math_eval.py``
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bundle_benchmarks import dump_jsonl, read_jsonl, sha256

from synthpipe.data.sampling import evenly_spaced
from synthpipe.procedural.math_word_problems import MathWordProblems

REPO = Path(__file__).resolve().parents[1]
RESOURCES = REPO / "src" / "synthpipe" / "resources"
OUT = RESOURCES / "data" / "math_eval"
N = 100
SEED = 90210
EASY = {"min_steps": 2, "max_steps": 2, "max_number": 20,
        "operations": ["add", "subtract", "multiply"]}  # fmt: skip
RECIPE = {"n": 2000, "min_steps": 2, "max_steps": 6, "max_number": 100}  # recipes/math.yaml


def gsm8k_sample() -> list[dict]:
    rows = read_jsonl(RESOURCES / "benchmarks" / "gsm8k" / "test.jsonl.gz")
    return [
        {"id": rows[i]["id"], "question": rows[i]["question"], "answer": rows[i]["answer"],
         "final_answer": rows[i]["answer"].rsplit("####", 1)[1].strip()}
        for i in evenly_spaced(len(rows), N)
    ]  # fmt: skip


def procedural() -> tuple[list[dict], int]:
    """The easy problems, and how many of their questions the recipe's training set repeats."""
    step = MathWordProblems(n=N, **EASY)
    keys = ("id", "question", "answer", "final_answer")
    records = [{k: step.record(i, SEED)[k] for k in keys} for i in range(N)]
    train = MathWordProblems(**RECIPE)
    seen = {train.record(i, 0)["question"] for i in range(RECIPE["n"])}
    return records, sum(r["question"] in seen for r in records)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    gsm8k = dump_jsonl(gsm8k_sample())
    records, overlap = procedural()
    easy = dump_jsonl(records)
    (OUT / "gsm8k_test_100.jsonl").write_bytes(gsm8k)
    (OUT / "procedural_2step_100.jsonl").write_bytes(easy)
    shutil.copyfile(RESOURCES / "benchmarks" / "gsm8k" / "LICENSE", OUT / "LICENSE_gsm8k")
    (OUT / "SOURCE.md").write_text(f"""# Math test sets for `recipes/math.yaml`'s experiment

| file | records | bytes | sha256 |
|---|---|---|---|
| gsm8k_test_100.jsonl | {N} | {len(gsm8k)} | {sha256(gsm8k)} |
| procedural_2step_100.jsonl | {N} | {len(easy)} | {sha256(easy)} |

- `gsm8k_test_100.jsonl`: {N} evenly spaced problems of the GSM8K test split (Cobbe et al.
  2021; MIT, copy in `LICENSE_gsm8k`), from the copy bundled for decontamination
  (`resources/benchmarks/gsm8k/test.jsonl.gz`). Fields: `id`, `question`, `answer` (worked
  solution), `final_answer`.
- `procedural_2step_100.jsonl`: {N} problems of synthpipe's `math_word_problems` generator
  with exactly two steps, add/subtract/multiply and numbers up to 20, seed {SEED}.
  {overlap} of their questions also occur among the 2,000 training problems of
  `recipes/math.yaml` (seed 0).

Regenerate: `.venv/bin/python scripts/bundle_math_eval.py` (deterministic).
""")
    print(f"wrote {OUT} (procedural overlap with the recipe's problems: {overlap}/{N})")


if __name__ == "__main__":
    main()

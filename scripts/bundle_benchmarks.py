"""Bundle the benchmark test sets used for decontamination (dev-time only; the product never reads ../shared).

Reads ``../shared/data/{gsm8k,humaneval,mbpp,mmlu,sst2}`` and writes one folder per benchmark
under ``src/synthpipe/resources/benchmarks/<name>/`` holding the normalised records
(``<split>.jsonl``, gzipped as ``.jsonl.gz`` when larger than 1 MB), a ``LICENSE`` and a
``SOURCE.md`` (origin, license, what was normalised, record count, sha256).

Every record is ``{"id", "question", "answer", ...}``; ``question`` and ``answer`` are the
texts the decontamination index covers:

- gsm8k (test, 1319): question; answer = the worked solution as published, plus
  ``answer_plain`` = the same with the ``<<48/2=24>>`` calculator annotations removed.
- humaneval (all 164): question = prompt; answer = canonical_solution; ``test`` and
  ``entry_point`` kept but not indexed (test harnesses are boilerplate shared by many tasks).
- mbpp (all 974 tasks, with a ``split`` field: prompt 1-10, test 11-510, validation 511-600,
  train 601-974): question = text; answer = code. All 974 because the few-shot prompt and
  train tasks are shown to models at evaluation time too.
- mmlu (test, 14042): question = the stem followed by the lettered choices (``A. ...``);
  answer = ``<letter>. <correct choice>``; ``subject`` and ``answer_index`` kept.
- sst2 (test, 1821): question = the sentence (as tokenised in the source); answer = "".

TREC's test split is already bundled at ``resources/data/trec/test.jsonl``: the registry
reads it from there. Re-running gives identical bytes (gzip mtime 0).

Usage: ``.venv/bin/python scripts/bundle_benchmarks.py [--src ../shared/data]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data"
OUT = REPO / "src" / "synthpipe" / "resources" / "benchmarks"
GZIP_ABOVE = 1 << 20  # bytes of jsonl above which the file is stored gzipped
LETTERS = "ABCD"
_CALC = re.compile(r"<<[^>]*>>")

MIT_HENDRYCKS = """MIT License

Copyright (c) 2020 Dan Hendrycks

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

MBPP_NOTICE = """MBPP (Mostly Basic Python Problems), published by Google Research.

Licensed under the Creative Commons Attribution 4.0 International License
(CC BY 4.0): https://creativecommons.org/licenses/by/4.0/legalcode
(summary: https://creativecommons.org/licenses/by/4.0/).

Attribution: Jacob Austin, Augustus Odena, Maxwell Nye, Maarten Bosma, Henryk Michalewski,
David Dohan, Ellen Jiang, Carrie Cai, Michael Terry, Quoc Le, Charles Sutton. 2021.
"Program Synthesis with Large Language Models". arXiv:2108.07732.
Original data: github.com/google-research/google-research, folder mbpp/.

Changes made by synthpipe: records re-serialised as JSON lines with the fields renamed
(text -> question, code -> answer), an `id` ("mbpp-<task_id>") and a `split` field added,
`test_setup_code` and `challenge_test_list` left out; texts and code strings are unchanged.
No warranties are given.
"""


# -- normalisers: source folder -> records ----------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def gsm8k(src: Path) -> list[dict]:
    rows = read_jsonl(src / "gsm8k" / "test.jsonl")
    return [
        {
            "id": f"gsm8k-test-{i}",
            "question": r["question"],
            "answer": r["answer"],
            "answer_plain": _CALC.sub("", r["answer"]),
        }
        for i, r in enumerate(rows)
    ]


def humaneval(src: Path) -> list[dict]:
    rows = read_jsonl(src / "humaneval" / "HumanEval.jsonl.gz")
    return [
        {
            "id": r["task_id"],
            "question": r["prompt"],
            "answer": r["canonical_solution"],
            "entry_point": r["entry_point"],
            "test": r["test"],
        }
        for r in rows
    ]


def mbpp_split(task_id: int) -> str:
    """The split of Austin et al. (2021): prompt 1-10, test 11-510, validation 511-600, train 601-974."""
    if task_id <= 10:
        return "prompt"
    if task_id <= 510:
        return "test"
    return "validation" if task_id <= 600 else "train"


def mbpp(src: Path) -> list[dict]:
    rows = read_jsonl(src / "mbpp" / "mbpp.jsonl")
    return [
        {
            "id": f"mbpp-{r['task_id']}",
            "question": r["text"],
            "answer": r["code"],
            "split": mbpp_split(int(r["task_id"])),
            "test_list": r["test_list"],
        }
        for r in rows
    ]


def mmlu(src: Path) -> list[dict]:
    records = []
    for path in sorted((src / "mmlu" / "test").glob("*_test.csv")):
        subject = path.name.removesuffix("_test.csv")
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for i, r in enumerate(rows):
            choices = [r[f"choice{k}"].strip() for k in range(4)]
            k = int(r["answer"])
            lettered = "\n".join(f"{LETTERS[j]}. {c}" for j, c in enumerate(choices))
            records.append(
                {
                    "id": f"mmlu-{subject}-{i}",
                    "question": f"{r['question'].strip()}\n{lettered}",
                    "answer": f"{LETTERS[k]}. {choices[k]}",
                    "subject": subject,
                    "answer_index": k,
                }
            )
    return records


def sst2(src: Path) -> list[dict]:
    with (src / "sst2" / "test.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {"id": f"sst2-test-{i}", "question": r["sentence"], "answer": "", "label": int(r["label"])}
        for i, r in enumerate(rows)
    ]


# -- per-benchmark metadata ---------------------------------------------------------------
BENCHMARKS: dict[str, dict] = {
    "gsm8k": {
        "make": gsm8k,
        "split": "test",
        "title": "GSM8K (Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems), test split",
        "license": "MIT (copy of the upstream LICENSE: `LICENSE`)",
        "license_from": "gsm8k/LICENSE",
        "indexed": "`question`, `answer`, `answer_plain` (answer without `<<...>>` calculator annotations)",
    },
    "humaneval": {
        "make": humaneval,
        "split": "test",
        "title": "HumanEval (Chen et al. 2021, Evaluating Large Language Models Trained on Code), all 164 tasks",
        "license": "MIT (copy of the upstream LICENSE: `LICENSE`)",
        "license_from": "humaneval/LICENSE",
        "indexed": "`question` (prompt), `answer` (canonical_solution); `test` is kept but not indexed",
    },
    "mbpp": {
        "make": mbpp,
        "split": "all",
        "title": "MBPP (Austin et al. 2021, Program Synthesis with Large Language Models), all 974 tasks",
        "license": "CC BY 4.0 (as published on the dataset card; attribution notice in `LICENSE`)",
        "license_text": MBPP_NOTICE,
        "indexed": "`question` (text), `answer` (code); the `split` field says prompt/test/validation/train",
        "notes": "The source file's size (563,743 bytes) equals the `download_size` of the `full` config on the"
        " Hugging Face dataset card `google-research-datasets/mbpp`, whose license field is cc-by-4.0.",
    },
    "mmlu": {
        "make": mmlu,
        "split": "test",
        "title": "MMLU (Hendrycks et al. 2021, Measuring Massive Multitask Language Understanding), test split",
        "license": "MIT (hendrycks/test `LICENSE`, copied as `LICENSE`)",
        "license_text": MIT_HENDRYCKS,
        "indexed": "`question` (stem + lettered choices), `answer` (`<letter>. <choice>`)",
        "notes": "The vendored CSVs are a reformatting of the original hendrycks/test release (header row,"
        " answer as 0-3); MMLU itself is MIT-licensed by its authors (text copied from hendrycks/test `LICENSE`).",
    },
    "sst2": {
        "make": sst2,
        "split": "test",
        "title": "SST-2 (Socher et al. 2013, Recursive Deep Models for Semantic Compositionality ...), sentence-level test split",
        "license": "no data license file upstream (Stanford research data); `LICENSE` is the MIT license of the vendor repo's code",
        "license_from": "sst2/LICENSE_repo_MIT",
        "indexed": "`question` (the sentence, lower-cased and tokenised as in the source)",
        "notes": "Bundled only because synthpipe recipes evaluate on it; no non-commercial clause is stated upstream.",
    },
}


def dump_jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upstream_lines(src_source: str) -> list[str]:
    """The origin/commit/license lines of the shared SOURCE.md, quoted for provenance."""
    keep = ("- Origin", "- Commit", "- Canonical origin", "- Actual source", "- License")
    return [line for line in src_source.splitlines() if line.startswith(keep)]


def write_benchmark(name: str, meta: dict, src: Path) -> tuple[str, int]:
    out = OUT / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    records = meta["make"](src)
    data = dump_jsonl(records)
    fname = f"{meta['split']}.jsonl"
    if len(data) > GZIP_ABOVE:
        data, fname = gzip_bytes(data), fname + ".gz"
    (out / fname).write_bytes(data)
    if "license_from" in meta:
        shutil.copyfile(src / meta["license_from"], out / "LICENSE")
    else:
        (out / "LICENSE").write_text(meta["license_text"], encoding="utf-8")
    upstream = (src / name / "SOURCE.md").read_text(encoding="utf-8")
    lines = [
        f"# {meta['title']}",
        "",
        "Bundled for decontamination by `scripts/bundle_benchmarks.py` from the project's copy",
        f"of the upstream data (provenance as recorded there, `shared/data/{name}/SOURCE.md`):",
        "",
        *upstream_lines(upstream),
        "",
        f"- License of this bundle: {meta['license']}.",
        f"- Records: {len(records)}",
        f"- Indexed fields: {meta['indexed']}.",
        *([f"- Note: {meta['notes']}"] if meta.get("notes") else []),
        "",
        "| file | records | bytes | sha256 |",
        "|---|---|---|---|",
        f"| {fname} | {len(records)} | {len(data)} | {sha256(data)} |",
        f"| LICENSE |  | {(out / 'LICENSE').stat().st_size} | {sha256((out / 'LICENSE').read_bytes())} |",
        "",
        "Regenerate: `.venv/bin/python scripts/bundle_benchmarks.py` (deterministic).",
        "",
    ]
    (out / "SOURCE.md").write_text("\n".join(lines), encoding="utf-8")
    return fname, len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names (default: all)")
    args = parser.parse_args()
    makers: dict[str, Callable] = {
        k: v for k, v in BENCHMARKS.items() if not args.only or k in args.only
    }
    for name, meta in makers.items():
        fname, n = write_benchmark(name, meta, args.src)
        print(f"{name}: {n} records -> {OUT / name / fname}")


if __name__ == "__main__":
    main()

"""Bundle the Self-Instruct user-oriented evaluation set with one model's outputs (dev-time only).

Reads ``../shared/data/self_instruct/human_eval_user_oriented_instructions.jsonl`` (252
expert-written instructions, one instance each) and ONE predictions file
``../shared/data/self_instruct/predictions/<model>_predictions.jsonl.gz`` (default
``davinci-self-instruct``: GPT-3 davinci fine-tuned on the Self-Instruct data), joins them line by
line (the predictions file lists the 252 instructions in the same order; the join checks that the
instruction and input texts agree) and writes
``src/synthpipe/resources/data/self_instruct_eval/``:

- ``instructions_with_outputs.jsonl``: one record per instruction with the fields
  ``id`` (``user_oriented_task_<n>``), ``motivation_app``, ``instruction``, ``input`` (the
  instance input, ``""`` when the task has none), ``reference`` (the expert-written instance
  output), ``response`` (the model's output, surrounding whitespace stripped) and ``model``;
- ``SOURCE.md`` (origin, license, what was extracted, sha256 of inputs and outputs) and
  ``LICENSE`` (Apache-2.0, copied from the Self-Instruct repository).

Re-running gives identical bytes. It never touches ``resources/data/self_instruct/`` (bundled by
another script).

Usage: ``.venv/bin/python scripts/bundle_self_instruct_eval.py [--src ../shared/data/self_instruct]
[--model davinci-self-instruct]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "self_instruct"
OUT = REPO / "src" / "synthpipe" / "resources" / "data" / "self_instruct_eval"
INSTRUCTIONS = "human_eval_user_oriented_instructions.jsonl"
OUT_FILE = "instructions_with_outputs.jsonl"
DEFAULT_MODEL = "davinci-self-instruct"
MODEL_NOTES = {
    "davinci-self-instruct": "GPT-3 davinci fine-tuned on the 82K Self-Instruct generated instructions",
    "davinci": "vanilla GPT-3 davinci",
    "text-davinci-001": "InstructGPT text-davinci-001",
    "text-davinci-002": "InstructGPT text-davinci-002",
    "text-davinci-003": "InstructGPT text-davinci-003",
}


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def join(instructions: list[dict], predictions: list[dict], model: str) -> list[dict]:
    """One record per instruction; fails loudly if the two files are not aligned."""
    if len(instructions) != len(predictions):
        raise SystemExit(f"{len(instructions)} instructions but {len(predictions)} predictions")
    out = []
    for task, pred in zip(instructions, predictions, strict=True):
        (instance,) = task["instances"]  # one instance per instruction in this set
        if pred["instruction"].strip() != task["instruction"].strip():
            raise SystemExit(f"{task['id']}: the predictions file lists another instruction")
        if pred["input"].strip() != instance["input"].strip():
            raise SystemExit(f"{task['id']}: the predictions file lists another input")
        out.append(
            {
                "id": task["id"],
                "motivation_app": task["motivation_app"],
                "instruction": task["instruction"].strip(),
                "input": instance["input"].strip(),
                "reference": instance["output"].strip(),
                "response": pred["response"].strip(),
                "model": model,
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_md(src: Path, pred_path: Path, records: list[dict], model: str) -> str:
    origin = next(
        (line[len("- Origin: ") :] for line in (src / "SOURCE.md").read_text(encoding="utf-8").splitlines()
         if line.startswith("- Origin: ")),
        "github.com/yizhongw/self-instruct",
    )  # fmt: skip
    empty_inputs = sum(1 for r in records if not r["input"])
    empty_responses = sum(1 for r in records if not r["response"])
    note = MODEL_NOTES.get(model, model)
    lines = [
        "# Self-Instruct user-oriented evaluation instructions with one model's outputs",
        "",
        f"- Origin: {origin}",
        f"  - `{INSTRUCTIONS}` <- `human_eval/user_oriented_instructions.jsonl` (252 expert-written",
        "    instructions motivated by user-facing apps, one instance each)",
        f"  - `predictions/{pred_path.name}` <- `human_eval/predictions/{pred_path.name.removesuffix('.gz')}`",
        f"    (outputs of {note})",
        "- License: Apache License, Version 2.0 (the repository's `LICENSE`, copied here).",
        '- Cite: Yizhong Wang et al. 2023. "Self-Instruct: Aligning Language Models with',
        '  Self-Generated Instructions". ACL 2023. arXiv:2212.10560.',
        "- Note from the authors (human_eval/README.md): this is an evaluation set; they ask that it",
        "  not be used for training. The bundled recipes use it to demonstrate judging and",
        "  preference-pair construction; do not train on pairs built from it and then evaluate on it.",
        "",
        "## What was extracted",
        "",
        f"`{OUT_FILE}`: the two files joined line by line by `scripts/bundle_self_instruct_eval.py`",
        "(the join checks that instruction and input texts agree). Fields: `id`, `motivation_app`,",
        "`instruction`, `input` (instance input; empty string when none), `reference` (the",
        "expert-written instance output), `response` (the model output, whitespace-stripped),",
        f"`model` (`{model}`). {len(records)} records; {empty_inputs} without an input;",
        f"{empty_responses} with an empty response.",
        "",
        "## Files (sha256)",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        f"| source: {INSTRUCTIONS} | {(src / INSTRUCTIONS).stat().st_size} | {sha256(src / INSTRUCTIONS)} |",
        f"| source: predictions/{pred_path.name} | {pred_path.stat().st_size} | {sha256(pred_path)} |",
    ]
    for name in (OUT_FILE, "LICENSE"):
        path = OUT / name
        lines.append(f"| {name} | {path.stat().st_size} | {sha256(path)} |")
    lines += ["", "Regenerate: `.venv/bin/python scripts/bundle_self_instruct_eval.py` (deterministic).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="predictions file <model>_predictions.jsonl.gz")
    args = parser.parse_args()
    pred_path = args.src / "predictions" / f"{args.model}_predictions.jsonl.gz"
    records = join(read_jsonl(args.src / INSTRUCTIONS), read_jsonl(pred_path), args.model)
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / OUT_FILE, records)
    shutil.copyfile(args.src / "LICENSE", OUT / "LICENSE")
    (OUT / "SOURCE.md").write_text(source_md(args.src, pred_path, records, args.model), encoding="utf-8")
    print(f"wrote {OUT / OUT_FILE}: {len(records)} records")


if __name__ == "__main__":
    main()

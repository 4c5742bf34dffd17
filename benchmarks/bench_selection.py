"""Does IFD or perplexity selection help? Top-k by each score vs random subsets of the same size.

Pool: a fixed, seeded subsample of real TREC train questions (default 1,500 of 5,452), each
given an instruction built from its label ("Write a question that asks for a location."; the
label meanings of `resources/data/trec/SOURCE.md`). A recipe run scores the pool with the
`ifd` step (the question as the response to that instruction, the model's chat template) and
the `perplexity` step (the question as plain text), both under SmolLM2-135M-Instruct
(`smollm2-135m`, CPU), then the experiment trains the probe (MiniLM embeddings + logistic
regression) on the top k (default 300) records by each score, in each direction, and on
`--draws` random k-record subsets of the same pool, and scores all on the real TREC test split
(500 questions). The table: selected accuracy, random mean ± std over the draws, the
difference with its 95% interval (test items + draws + the selected subset's own subset noise;
see `synthpipe/evaluate/selection.py`) and the runner's verdict.

    .venv/bin/python benchmarks/bench_selection.py --out runs/bench_selection

The run directory holds the scored pool (`kept.jsonl`), `experiment.json` and `report.html`;
rerunning reuses the scores (the run resumes) unless `--fresh`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

# TREC coarse classes (Li & Roth 2002), phrased as what a question asks for
LABEL_NAMES = {
    "ABBR": "an abbreviation or what one stands for",
    "DESC": "a description, definition or reason",
    "ENTY": "an entity (a thing, animal, colour, event, ...)",
    "HUM": "a person or a group of people",
    "LOC": "a location",
    "NUM": "a number (a count, date, amount, ...)",
}
TEMPLATE = "Write a question that asks for {label_name}."


def write_pool(path: Path, n: int, seed: int) -> int:
    from synthpipe.data.paths import resolve_data_path

    with resolve_data_path("bundled:trec/train.jsonl").open() as f:
        records = [json.loads(line) for line in f]
    picked = sorted(np.random.default_rng(seed).permutation(len(records))[:n].tolist())
    with path.open("w") as f:
        for i in picked:
            r = records[i]
            f.write(json.dumps({**r, "label_name": LABEL_NAMES[r["label"]]}) + "\n")
    return len(picked)


def recipe(pool: Path, k: int, draws: int, seeds: int, model: str) -> dict:
    lm = {"model": model, "batch_size": 32}

    def top(score: str, direction: str, stratify: bool = False) -> dict:
        return {
            "score": score,
            "direction": direction,
            "k": k,
            "draws": draws,
            "stratify": stratify,
        }

    return {
        "name": "bench_selection",
        "description": "IFD / perplexity top-k vs random subsets of the same size, TREC",
        "seed": 0,
        "batch_size": 250,
        "steps": {
            "pool": {
                "step": "read",
                "path": str(pool),
                "label_field": "label",
                "keep_field_names": True,
            },
            "ifd": {
                "step": "ifd",
                **lm,
                "instruction_template": TEMPLATE,
                "response_field": "text",
            },
            "perplexity": {"step": "perplexity", **lm, "text_field": "text"},
        },  # fmt: skip
        "experiment": {
            "trainer": "probe",
            "evaluator": "classification",
            "test": "bundled:trec/test.jsonl",
            "variants": ["synthetic"],  # the whole scored pool, for scale
            "seeds": seeds,
            "selections": {
                "ifd-highest": top("ifd", "highest"),  # the paper's choice
                "ifd-lowest": top("ifd", "lowest"),
                "perplexity-lowest": top("perplexity", "lowest"),
                "perplexity-highest": top("perplexity", "highest"),
                # the same within each label: quality inside a class, not the choice of class
                "ifd-highest/label": top("ifd", "highest", True),
                "ifd-lowest/label": top("ifd", "lowest", True),
                "perplexity-lowest/label": top("perplexity", "lowest", True),
                "perplexity-highest/label": top("perplexity", "highest", True),
            },
        },
    }


def pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def share(s: dict) -> str:
    """The selection's most over-represented label: its share there and in the pool."""
    sel, pool = s["labels"]["selected"], s["labels"]["pool"]
    ratio = {k: (sel.get(k, 0) / s["k"]) / (v / s["pool_size"]) for k, v in pool.items()}
    top = max(ratio, key=lambda k: ratio[k])
    return f"{top} {100 * sel.get(top, 0) / s['k']:.0f}% ({100 * pool[top] / s['pool_size']:.0f}%)"


def table(result: dict) -> str:
    lines = [
        "| selection | k of pool | selected acc. | random acc. (mean ± std over draws) "
        "| Δ pts [95% CI] | test-only CI | verdict | largest label share (pool) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["selection"].items():
        sel = s["selected"]["summary"]["accuracy"]["mean"]
        rnd = s["random"]["summary"]["accuracy"]
        d, only = s["diff"], s["diff"]["test_only"]
        lines.append(
            f"| {name} | {s['k']} of {s['pool_size']} | {100 * sel:.1f}% | "
            f"{100 * rnd['mean']:.1f}% ± {100 * (rnd['std'] or 0):.1f} | "
            f"{pts(d['diff'])} [{pts(d['low'])}, {pts(d['high'])}] | "
            f"[{pts(only['low'])}, {pts(only['high'])}] | {s['verdict']} | {share(s)} |"
        )
    full = result["variants"].get("synthetic")
    if full:
        acc = full["summary"]["accuracy"]["mean"]
        lines.append(f"\nThe whole pool ({full['n_train']} records): {100 * acc:.1f}% accuracy.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_selection"))
    parser.add_argument("--pool", type=int, default=1500, help="TREC train questions scored")
    parser.add_argument("--k", type=int, default=300, help="records selected")
    parser.add_argument("--draws", type=int, default=10, help="random subsets per selection")
    parser.add_argument(
        "--seeds", type=int, default=1, help="training seeds (probe: deterministic)"
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--fresh", action="store_true", help="rescore instead of resuming")
    args = parser.parse_args()

    from synthpipe.run.api import Pipeline

    args.out.mkdir(parents=True, exist_ok=True)
    inputs = args.out.parent / f"{args.out.name}_inputs"
    inputs.mkdir(exist_ok=True)
    n = write_pool(inputs / "pool.jsonl", args.pool, seed=0)
    path = inputs / "recipe.yaml"
    path.write_text(
        yaml.safe_dump(
            recipe(inputs / "pool.jsonl", args.k, args.draws, args.seeds, args.model),
            sort_keys=False,
        )
    )
    started = time.perf_counter()
    Pipeline.from_recipe(path).run(args.out, fresh=args.fresh, yes=True)
    wall = time.perf_counter() - started
    result = json.loads((args.out / "experiment.json").read_text())
    print(table(result))
    print(f"\npool {n} TREC train questions, k {args.k}, {args.draws} random draws, "
          f"{args.seeds} seed(s); test {result['test']['n']} TREC test questions; "
          f"wall time {wall:.0f} s (experiment {result['wall_time_s']:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Does procedural math data teach SmolLM2-135M? `recipes/math.yaml` end to end, experiment included.

1. Runs the recipe (2,000 procedural problems -> verify -> filter -> dedup -> GSM8K
   decontamination -> audit without embeddings) and its experiment: a LoRA adapter on
   SmolLM2-135M-Instruct fine-tuned on the kept problems (`synthetic`) and on as many GSM8K
   train problems (`real`), each for `--steps` x 8 examples (default 12 x 8 = 96), scored by final-answer accuracy on
   100 fixed GSM8K test problems (the math evaluator; greedy decoding).
2. The same experiment on 100 easier procedural problems (two steps, numbers <= 20, another
   seed), reusing the fitted adapters (`reuse_dir`) instead of training again.
3. The untuned model on both test sets (the runner cannot train for zero steps, so it is scored
   here with the same generation settings), with a bootstrap CI.

Prints a markdown table (accuracy with 95% CI, answered rate, paired difference
synthetic - real, training time) and writes everything to `--out`/bench_math_sft.json.

    .venv/bin/python benchmarks/bench_math_sft.py [--steps 12] [--threads 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "math.yaml"
EASY = "bundled:math_eval/procedural_2step_100.jsonl"


def instrument_fits(log: list[dict]) -> None:
    """Record each fit's data source, size and training time (benchmark-only wrapper)."""
    from synthpipe.train.trainers.hf_sft import HFSFTTrainer

    fit = HFSFTTrainer.fit

    def timed(self, train: list[dict], *, seed: int):
        start = time.perf_counter()
        model = fit(self, train, seed=seed)
        runtime = [e["train_runtime"] for e in model.log_history if "train_runtime" in e]
        source = "procedural" if str(train[0].get("id", "")).startswith("mwp-") else "gsm8k"
        log.append({"source": source, "n_pool": len(train), "seconds": time.perf_counter() - start,
                    "train_runtime_s": runtime[0] if runtime else None,
                    "loss_first": model.losses[0] if model.losses else None,
                    "loss_last": model.losses[-1] if model.losses else None})  # fmt: skip
        return model

    HFSFTTrainer.fit = timed  # type: ignore[method-assign]


def score_base(
    experiment: Any, tests: dict[str, tuple[str, int]], limit: int | None
) -> dict[str, dict]:
    """The untuned model on each test set (the runner's evenly spaced `limit` items), generated
    exactly as the fitted ones."""
    from synthpipe.data.paths import resolve_data_path
    from synthpipe.data.readers import read_all
    from synthpipe.data.sampling import evenly_spaced
    from synthpipe.evaluate.evaluators import get_evaluator
    from synthpipe.evaluate.stats import bootstrap_mean_ci
    from synthpipe.train.trainers.hf_sft import HFSFTTrainer, HFTrainedModel, load_model

    cfg = HFSFTTrainer(experiment.trainer_config).config
    model, tokenizer = load_model(cfg, seed=0)
    base = HFTrainedModel(model, tokenizer, chat=True, max_new_tokens=cfg.max_new_tokens,
                          generation_batch_size=cfg.generation_batch_size)  # fmt: skip
    evaluator = get_evaluator("math")(input_field="question", gold_field="answer")
    out = {}
    for name, (test, max_new_tokens) in tests.items():
        base.max_new_tokens = max_new_tokens
        records = read_all(resolve_data_path(test))
        records = [records[i] for i in evenly_spaced(len(records), limit or len(records))]
        start = time.perf_counter()
        predictions = base.predict(evaluator.inputs(records))
        evaluation = evaluator.evaluate(records, predictions)
        out[name] = {"metrics": evaluation.metrics, "ci": bootstrap_mean_ci(evaluation.correct),
                     "seconds": time.perf_counter() - start, "samples": predictions[:2]}  # fmt: skip
    return out


def _cell(acc: float, ci: dict) -> str:
    return f"{100 * acc:.0f}% [{100 * ci['low']:.0f}, {100 * ci['high']:.0f}]"


def table(results: dict[str, dict], base: dict[str, dict], fits: list[dict]) -> str:
    n1, n2 = results["gsm8k"]["test"]["n"], results["procedural"]["test"]["n"]
    rows = [f"| model | GSM8K test ({n1}) | answered | 2-step procedural ({n2}) | answered | training |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    b1, b2 = base["gsm8k"], base["procedural"]
    rows.append(f"| SmolLM2-135M-Instruct, untuned | {_cell(b1['metrics']['accuracy'], b1['ci'])} | "
                f"{b1['metrics']['answered']:.0%} | {_cell(b2['metrics']['accuracy'], b2['ci'])} | "
                f"{b2['metrics']['answered']:.0%} | - |")  # fmt: skip
    labels = {"synthetic": ("procedural", "+ LoRA on procedural (kept)"),
              "real": ("gsm8k", "+ LoRA on GSM8K train")}  # fmt: skip
    for variant, (source, label) in labels.items():
        v1 = results["gsm8k"]["variants"][variant]
        v2 = results["procedural"]["variants"][variant]
        fit = next((f for f in fits if f["source"] == source), {})
        train = f"{fit['train_runtime_s']:.0f} s" if fit.get("train_runtime_s") else "n/a"
        rows.append(f"| {label} | {_cell(v1['summary']['accuracy']['mean'], v1['ci'])} | "
                    f"{v1['summary']['answered']['mean']:.0%} | "
                    f"{_cell(v2['summary']['accuracy']['mean'], v2['ci'])} | "
                    f"{v2['summary']['answered']['mean']:.0%} | {train} |")  # fmt: skip
    for name, result in results.items():
        for comp in result["comparisons"]:
            rows.append(f"\n{name}: {comp['a']} - {comp['b']} = {100 * comp['diff']:+.0f} points, "
                        f"95% CI [{100 * comp['low']:+.0f}, {100 * comp['high']:+.0f}] (paired bootstrap)")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=12, help="optimiser steps per fit (x 8 examples)"
    )
    parser.add_argument("--max-length", type=int, default=None, help="training tokens per example")
    parser.add_argument("--test-limit", type=int, default=None, help="evenly spaced test items")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="GSM8K generation budget")
    parser.add_argument("--easy-tokens", type=int, default=96, help="2-step generation budget")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--set", action="append", default=[], help="more recipe overrides")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory [default: temporary]"
    )
    args = parser.parse_args()

    import torch

    from synthpipe.evaluate.experiment import run_experiment
    from synthpipe.run.api import Pipeline

    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-math-sft-"))
    out.mkdir(parents=True, exist_ok=True)
    fits: list[dict] = []
    instrument_fits(fits)
    tc = "experiment.trainer_config"
    overrides = [
        "steps.audit.embed=false",
        f"{tc}.max_steps={args.steps}",
        f"{tc}.reuse_dir={out / 'fits'}",
    ]
    overrides += [f"{tc}.max_length={args.max_length}"] * (args.max_length is not None)
    overrides += [f"{tc}.max_new_tokens={args.max_new_tokens}"] * (args.max_new_tokens is not None)
    overrides += [f"experiment.test_limit={args.test_limit}"] * (args.test_limit is not None)
    overrides += args.set
    started = time.perf_counter()
    pipe = Pipeline.from_recipe(RECIPE, overrides)
    run = pipe.run(out / "run")
    results = {"gsm8k": run.metrics["experiment"]}
    (out / "partial.json").write_text(json.dumps({"fits": fits, **results}, default=str))
    print(f"recipe + experiment on GSM8K test: {time.perf_counter() - started:.0f} s", flush=True)
    experiment = pipe.recipe.experiment
    short = {**experiment.trainer_config, "max_new_tokens": args.easy_tokens}  # short answers
    easy = experiment.model_copy(update={"test": EASY, "trainer_config": short})
    results["procedural"] = run_experiment(easy, None, synthetic=run.kept)
    print(f"+ procedural test (fits reused): {time.perf_counter() - started:.0f} s", flush=True)
    tokens = experiment.trainer_config["max_new_tokens"]
    tests = {"gsm8k": (experiment.test, tokens), "procedural": (EASY, args.easy_tokens)}
    base = score_base(experiment, tests, args.test_limit)
    wall = time.perf_counter() - started
    report = {"args": vars(args) | {"out": str(out)}, "overrides": overrides, "wall_s": wall, "kept": len(run.kept),
              "fits": fits, "base": base, "experiments": results}  # fmt: skip
    (out / "bench_math_sft.json").write_text(json.dumps(report, indent=2, default=str))
    print(table(results, base, fits))
    print(
        f"\nwall time {wall:.0f} s ({wall / 60:.1f} min); details in {out / 'bench_math_sft.json'}"
    )


if __name__ == "__main__":
    main()

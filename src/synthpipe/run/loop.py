"""The self-improvement loop: K iterations of generate -> verify/curate -> train -> regenerate.

``synthpipe loop RECIPE --out DIR`` runs the recipe's pipeline once per iteration, each into
``DIR/iter-01``, ``DIR/iter-02``, ... (ordinary run directories: kept, dropped, report, audit),
trains a model on the iteration's kept records into ``DIR/iter-0k/model``, scores it on the
real held-out test set, and hands it to the next iteration:

- ``kind: probe`` (self-training of a classifier, Yarowsky 1995; Lee 2013): iteration 1 keeps
  the generator's labels; from iteration 2 on a ``pseudo_label`` step after the generator
  relabels every new record with the previous iteration's probe (MiniLM embeddings + logistic
  regression) and drops those below ``min_confidence``. The model reaches the pipeline as a
  step config (a directory of plain arrays), not as a Python object: the iteration stays an
  ordinary, resumable, fingerprinted run, and the step's ledger says which records the probe
  was unsure of.
- ``kind: sft`` (STaR, Zelikman et al. 2022; ReST-EM, Singh et al. 2023): the recipe's LLM
  ``loop.llm`` (a transformers backend) is pointed at the previous iteration's model
  directory, so its sampled solutions are the ones the verifier filters; the next model is
  fine-tuned from the base model on them (both papers restart from the base model each
  iteration, against overfitting to earlier rounds' data). A LoRA adapter is merged before
  saving, so the directory loads as a plain model.

Per-iteration figures go to ``DIR/iter-0k/iteration.json`` (written last: an iteration with it
is finished and skipped on a rerun; one without it resumes as a normal run does) and all of
them to ``DIR/loop.json``; ``DIR/loop_report.html`` charts them (see
:mod:`synthpipe.report.loop_report`, which also holds the collapse flags).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.readers import read_all
from synthpipe.data.sampling import evenly_spaced
from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.run.api import Pipeline
from synthpipe.run.loop_config import LoopConfig
from synthpipe.run.recipe import Recipe, load_recipe

log = logging.getLogger("synthpipe")

LOOP_FILE, ITERATION_FILE, MODEL_DIR, REPORT_FILE = (
    "loop.json",
    "iteration.json",
    "model",
    "loop_report.html",
)


def run_loop(
    recipe_path: str | Path,
    out: str | Path,
    *,
    iterations: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    on_iteration: Any = None,
) -> dict:
    """Run (or resume) the loop of the recipe at `recipe_path` into `out`; the loop.json data.
    `on_iteration(row)` is called after each iteration (finished earlier ones included)."""
    recipe = load_recipe(recipe_path, overrides)
    if recipe.loop is None:
        raise UsageError(f"{recipe_path} has no `loop:` section (see recipes/loop_probe.yaml)")
    cfg = recipe.loop
    total = iterations or cfg.iterations
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for k in range(1, total + 1):
        row = _finished(out / _name(k)) or _iterate(recipe, cfg, out, k, str(recipe_path), rows)
        rows.append(row)
        _write_loop(out, recipe, cfg, rows)
        if on_iteration is not None:
            on_iteration(row)
    return _write_loop(out, recipe, cfg, rows)


def _name(k: int) -> str:
    return f"iter-{k:02d}"


def _finished(it_dir: Path) -> dict | None:
    """The figures of a finished iteration (run, model and evaluation all written), else None."""
    path = it_dir / ITERATION_FILE
    if (it_dir / "metrics.json").is_file() and path.is_file() and (it_dir / MODEL_DIR).is_dir():
        return {**json.loads(path.read_text(encoding="utf-8")), "reused": True}
    return None


def _iterate(
    recipe: Recipe, cfg: LoopConfig, out: Path, k: int, recipe_path: str, rows: list[dict]
) -> dict:
    it_dir = out / _name(k)
    previous = (out / _name(k - 1) / MODEL_DIR).resolve() if k > 1 else None
    log.info("loop: iteration %d into %s (model from %s)", k, it_dir, previous or "the recipe")
    started = time.perf_counter()
    result = Pipeline.from_model(_iteration_recipe(recipe, cfg, k, previous), recipe_path).run(
        it_dir
    )
    train = _train_probe if cfg.kind == "probe" else _train_sft
    trained = train(recipe, cfg, result.kept, it_dir / MODEL_DIR, previous)
    evaluation = trained.pop("evaluation")
    row = {
        "iteration": k,
        "run_dir": _name(k),
        "model": f"{_name(k)}/{MODEL_DIR}",
        "generator": f"{_name(k - 1)}/{MODEL_DIR}" if previous else "recipe",
        "generated": result.metrics["steps"][0]["out"],
        "kept": result.metrics["kept"],
        "accuracy": evaluation["accuracy"],
        "evaluation": evaluation,
        **trained,
        **data_figures(result.metrics, result.kept, cfg, rows[0] if rows else None),
        "seconds": round(time.perf_counter() - started, 2),
        "finished": datetime.now(UTC).isoformat(),
    }
    with atomic_path(it_dir / ITERATION_FILE) as tmp:
        Path(tmp).write_text(json.dumps(row, indent=2, default=str), encoding="utf-8")
    return row


def _iteration_recipe(recipe: Recipe, cfg: LoopConfig, k: int, previous: Path | None) -> Recipe:
    """The recipe of iteration `k`: its own seed, and the previous model plugged in."""
    it = recipe.model_copy(deep=True, update={"loop": None, "experiment": None})
    if cfg.reseed:
        it.seed = recipe.seed + k - 1
    if previous is None:
        return it
    if cfg.kind == "probe":  # relabel right after the generator
        (source, spec), *rest = it.steps.items()
        label = {"step": "pseudo_label", "model_path": str(previous), "text_field": cfg.text_field,
                 "label_field": cfg.label_field, "min_confidence": cfg.min_confidence}  # fmt: skip
        it.steps = {source: spec, "pseudo_label": label, **dict(rest)}
    else:
        if cfg.llm not in it.llms:
            raise UsageError(
                f"loop.llm {cfg.llm!r} is not one of the recipe's llms ({', '.join(it.llms) or 'none'})"
            )
        it.llms[cfg.llm] = it.llms[cfg.llm].model_copy(update={"model": str(previous)})
    return it


# -- training -------------------------------------------------------------------------------
def _train_probe(
    recipe: Recipe, cfg: LoopConfig, kept: list[dict], model_dir: Path, previous: Path | None
) -> dict:
    import numpy as np

    from synthpipe.evaluate.evaluators import get_evaluator
    from synthpipe.train.trainers import get_trainer

    options = {"text_field": cfg.text_field, "label_field": cfg.label_field, **cfg.trainer_config}
    model = get_trainer("probe")(options).fit(kept, seed=cfg.seed)

    def write(tmp: Path) -> None:
        clf = model.classifier
        np.savez(
            tmp / "probe.npz",
            coef=clf.coef_,
            intercept=clf.intercept_,
            classes=np.asarray(model.classes),
        )
        settings = {
            "embedding_model": model.config.embedding_model,
            "embedding_backend": model.config.embedding_backend,
        }
        (tmp / "probe.json").write_text(json.dumps(settings), encoding="utf-8")

    _save_model(model_dir, write, len(kept))
    test = _test_records(cfg)
    evaluator = get_evaluator("classification")({"text_field": "text", "label_field": "label"})
    evaluation = evaluator.evaluate(test, model.predict([r["text"] for r in test]))
    return {"trained": True, "train_records": len(kept), "evaluation": evaluation.metrics}


def _train_sft(
    recipe: Recipe, cfg: LoopConfig, kept: list[dict], model_dir: Path, previous: Path | None
) -> dict:
    from synthpipe.evaluate.evaluators import get_evaluator
    from synthpipe.train.trainers import get_trainer
    from synthpipe.train.trainers.hf_sft import HFTrainedModel, load_model, quiet_hf

    base = cfg.trainer_config.get("model_path") or recipe.llms[cfg.llm].model
    options = {**cfg.trainer_config, "model_path": base, "prompt_field": cfg.text_field,
               "completion_field": cfg.label_field, "format": "prompt_completion"}  # fmt: skip
    trainer = get_trainer("hf-sft")(options)
    scfg = trainer.config
    if kept:  # from the base model each iteration (STaR, ReST-EM)
        model = trainer.fit(kept, seed=cfg.seed)
        model.model = _merged(model.model)
    else:  # nothing verified: the previous model carries over unchanged
        log.warning("loop: no verified solutions to train on; the model carries over")
        source = scfg.model_copy(update={"model_path": str(previous or base)})
        with quiet_hf():
            net, tok = load_model(source, cfg.seed)
        model = HFTrainedModel(
            net, tok, scfg.chat_template, scfg.max_new_tokens, scfg.generation_batch_size
        )
    with quiet_hf():
        _save_model(model_dir, model.save, len(kept))
    test = _test_records(cfg)
    evaluator = get_evaluator("math")({"input_field": "text", "gold_field": "label"})
    evaluation = evaluator.evaluate(test, model.predict([r["text"] for r in test]))
    return {"trained": bool(kept), "train_records": len(kept), "evaluation": evaluation.metrics}


def _merged(model: Any) -> Any:
    """A LoRA-wrapped model with the adapter folded in, so the directory loads as a plain model."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def _save_model(model_dir: Path, write: Any, n: int) -> None:
    """`write(dir)` into a temporary directory renamed into place: never a half-written model."""
    tmp = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    (tmp / "trained.json").write_text(
        json.dumps({"trained_at": datetime.now(UTC).isoformat(), "records": n}), encoding="utf-8"
    )
    shutil.rmtree(model_dir, ignore_errors=True)
    tmp.rename(model_dir)


def _test_records(cfg: LoopConfig) -> list[dict]:
    """The test set as canonical {text, label} records (evenly spaced subset with test_limit)."""
    path = resolve_data_path(cfg.test)
    text_field, label_field = (
        cfg.test_text_field or cfg.text_field,
        cfg.test_label_field or cfg.label_field,
    )
    rows = read_all(path)
    if cfg.test_limit and cfg.test_limit < len(rows):
        rows = [rows[i] for i in evenly_spaced(len(rows), cfg.test_limit)]
    for i, r in enumerate(rows):
        if text_field not in r or label_field not in r:
            raise UsageError(
                f"loop.test: record {i} of {cfg.test} lacks {text_field!r} or {label_field!r}"
            )
    return [{"text": str(r[text_field]), "label": str(r[label_field])} for r in rows]


# -- figures --------------------------------------------------------------------------------
def data_figures(metrics: dict, kept: list[dict], cfg: LoopConfig, first: dict | None) -> dict:
    """Diversity, fidelity and label balance of one iteration's kept data."""
    audit = next(iter((metrics.get("audit") or {}).values()), None)
    field = cfg.text_field if cfg.kind == "probe" else cfg.label_field  # sft: the solutions
    figures: dict[str, Any] = {"distinct_2": _distinct_2([str(r.get(field, "")) for r in kept]),
                               "diversity_source": "kept"}  # fmt: skip
    if audit:
        signatures = {s["name"]: s for s in audit.get("signatures") or []}
        diversity = audit.get("diversity") or {}
        if diversity.get("distinct_2") is not None:
            figures.update(distinct_2=diversity["distinct_2"], diversity_source="audit")
        fidelity = (signatures.get("fidelity loss") or {}).get("value") or {}
        figures.update({k: fidelity.get(k) for k in ("precision", "recall", "mauve")})
        figures["mode_collapse"] = (signatures.get("mode collapse") or {}).get("status")
    if cfg.kind == "probe":
        labels = Counter(str(r.get(cfg.label_field)) for r in kept)
        total = sum(labels.values()) or 1
        shares = {k: round(v / total, 4) for k, v in sorted(labels.items())}
        base = (first or {}).get("labels") or shares
        figures.update(labels=shares, top_label_share=max(shares.values(), default=0.0),
                       label_tv=round(_tv(shares, base), 4))  # fmt: skip
    return figures


def _distinct_2(texts: list[str]) -> float | None:
    from synthpipe.text.ngrams import ngram_counts

    unique, total = ngram_counts(texts, (2,))[2]
    return unique / total if total else None


def _tv(a: dict[str, float], b: dict[str, float]) -> float:
    """Total variation distance between two label distributions."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _write_loop(out: Path, recipe: Recipe, cfg: LoopConfig, rows: list[dict]) -> dict:
    from synthpipe.report.loop_report import collapse_flags, write_loop_report

    data = {
        "name": recipe.name,
        "kind": cfg.kind,
        "test": cfg.test,
        "iterations": [{k: v for k, v in r.items() if k != "reused"} for r in rows],
        "flags": collapse_flags(rows, cfg.collapse_tolerance),
        "collapse_tolerance": cfg.collapse_tolerance,
    }
    with atomic_path(out / LOOP_FILE) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    write_loop_report(data, out / REPORT_FILE)
    return data


__all__ = ["LOOP_FILE", "REPORT_FILE", "data_figures", "run_loop"]

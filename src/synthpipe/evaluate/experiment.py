"""Does this synthetic data help? Train one model per data variant, score all on real test data.

The experiment fits the same trainer on several training sets ("variants") and evaluates each
on one real held-out test set, over several seeds:

- ``seeds-only``: the seed examples the generator started from (``seeds_data``);
- ``synthetic``: the run's kept records (the filtered synthetic data);
- ``synthetic-unfiltered``: kept + dropped records from the run's ledger, i.e. everything the
  run generated before filtering (records without the text or label field are left out and
  counted in the notes);
- ``real``: ``train_size`` records drawn from the real train split (``real_train``) without
  replacement, a different draw per seed;
- ``real+synthetic``: that real draw plus all synthetic kept records;
- any named ``extra_variants``: a data file each (e.g. another run's kept records), trained as
  given, e.g. ``extra_variants: {template-synthetic: runs/quickstart/kept.jsonl}`` or, with its
  own field names, ``{template-synthetic: {path: ..., text_field: question}}``.

Named ``selections`` ask "does this selection help?": top-k records by a score field, or a
curation filter's kept records, against random subsets of the same size
(:mod:`synthpipe.evaluate.selection`); the result's ``selection`` key holds one entry each.

Every variant is compared with a reference variant (default ``real``) by a paired bootstrap
over test items (:func:`synthpipe.evaluate.stats.paired_bootstrap_diff`) on per-item scores
averaged over seeds: the interval says whether a gap could be test-set noise, the std over
seeds says how much training randomness moves the score. An optional learning curve trains
``synthetic`` and ``real`` on ``size`` records per seed (nested draws: the 100-record draw is
part of the 250-record draw), which shows how many real records the synthetic set is worth.
This follows the usual protocol of synthetic-data papers (e.g. Yu et al. 2023, "Large Language
Model as Attributed Training Data Generator"; Li et al. 2023, "Synthetic Data Generation with
Large Language Models for Text Classification"): train on synthetic, test on real, compare with
a model trained on the same amount of real data.

Records are mapped to two canonical fields, ``text_field`` and ``label_field``, which the
trainer and evaluator read; each input may name its own fields (``test_text_field``,
``real_label_field``, ...; default: the canonical names). E.g. for SST-2 CSVs with a
``sentence`` column set ``real_text_field: sentence``; the bundled ``bundled:sst2/*`` files
already use ``text`` / ``label`` (see ``recipes/sst2.yaml``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthpipe.data.paths import resolve_data_path
from synthpipe.data.quarantine import Quarantine
from synthpipe.data.readers import read_all
from synthpipe.data.records import DROP, LINEAGE
from synthpipe.data.sampling import evenly_spaced
from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError, build_model
from synthpipe.evaluate.evaluators import Evaluation, get_evaluator
from synthpipe.evaluate.selection import (
    Chosen,
    SelectionConfig,
    choose_by_filter,
    choose_by_score,
    random_subsets,
    selection_diff,
    verdict,
)
from synthpipe.evaluate.stats import bootstrap_mean_ci, mean_std, paired_bootstrap_diff
from synthpipe.train.trainers import get_trainer

log = logging.getLogger(__name__)

Variant = Literal["seeds-only", "synthetic", "synthetic-unfiltered", "real", "real+synthetic"]
VARIANTS: tuple[str, ...] = (
    "seeds-only",
    "synthetic",
    "synthetic-unfiltered",
    "real",
    "real+synthetic",
)
CURVE_VARIANTS = ("synthetic", "real")
# extra questions answered by a paired comparison when both variants ran: (a, b, question)
EXTRA_COMPARISONS = (
    ("synthetic", "synthetic-unfiltered", "does filtering help?"),
    ("synthetic", "seeds-only", "does generating help beyond the seeds?"),
)
RESULT_FILE = "experiment.json"
EXTRA_POOL = "extra:"  # pool key prefix of an extra variant: its name can never shadow a pool


class ExtraVariant(BaseModel):
    """A named training set read from a file (a plain path string is short for ``{path: ...}``)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="data file (path or bundled:...)")
    text_field: str | None = Field(None, description="its text field (default: text_field)")
    label_field: str | None = Field(None, description="its label field (default: label_field)")

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str | Path) else value


class ExperimentConfig(BaseModel):
    """What to train, on which variants, and how to score it (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    trainer: str = Field("probe", description="trainer name (see synthpipe.train.trainers)")
    trainer_config: dict[str, Any] = Field(
        default_factory=dict, description="trainer options; text/label fields are filled in"
    )
    evaluator: str = Field("classification", description="classification | math | code")
    evaluator_config: dict[str, Any] = Field(
        default_factory=dict, description="evaluator options; text/label fields are filled in"
    )
    test: str = Field(description="the real held-out test set (path or bundled:...)")
    real_train: str | None = Field(None, description="the real train split, for real variants")
    seeds_data: str | None = Field(None, description="the generator's seed examples")
    variants: list[Variant] = Field(
        default_factory=lambda: list(VARIANTS), description="training sets to compare"
    )
    extra_variants: dict[str, ExtraVariant] = Field(
        default_factory=dict, description="name -> data file: more training sets to compare"
    )
    reference: str = Field("real", description="variant every other one is compared with")
    selections: dict[str, SelectionConfig] = Field(
        default_factory=dict, description="name -> a selection tested against random subsets"
    )
    seeds: int = Field(3, ge=1, description="training seeds per variant (0 .. seeds-1)")
    train_size: Literal["synthetic"] | int = Field(
        "synthetic",
        description='real records per seed: an int, or "synthetic" = as many as kept records',
    )
    learning_curve: list[int] = Field(
        default_factory=list, description="training sizes for synthetic and real; [] = off"
    )
    test_limit: int | None = Field(
        None, ge=1, description="evenly spaced subset of the test set, for fast runs"
    )
    bootstrap: int = Field(2000, ge=1, description="bootstrap resamples of the test set")
    ci: float = Field(0.95, gt=0, lt=1, description="confidence level of the intervals")
    text_field: str = Field("text", description="canonical text field the trainer reads")
    label_field: str = Field("label", description="canonical label field the trainer reads")
    test_text_field: str | None = Field(None, description="text field of the test set")
    test_label_field: str | None = Field(None, description="label field of the test set")
    real_text_field: str | None = Field(None, description="text field of real_train")
    real_label_field: str | None = Field(None, description="label field of real_train")
    seeds_text_field: str | None = Field(None, description="text field of seeds_data")
    seeds_label_field: str | None = Field(None, description="label field of seeds_data")
    synthetic_text_field: str | None = Field(None, description="text field of the run's records")
    synthetic_label_field: str | None = Field(None, description="label field of the run's records")

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each variant may be listed once")
        return value

    @field_validator("extra_variants")
    @classmethod
    def _extra_names(cls, value: dict[str, ExtraVariant]) -> dict[str, ExtraVariant]:
        for name in value:
            if name in VARIANTS:
                raise ValueError(f"{name!r} is a built-in variant; give the extra one another name")
            if not name.strip():
                raise ValueError("an extra variant needs a non-empty name")
        return value

    @model_validator(mode="after")
    def _known_names(self) -> ExperimentConfig:
        if not (self.variants or self.extra_variants or self.selections):
            raise ValueError("list at least one variant, extra variant or selection")
        known = (*VARIANTS, *self.extra_variants)
        if self.reference not in known:
            raise ValueError(f"reference {self.reference!r} is neither of {', '.join(known)}")
        pools = [n for n in known if n != "real+synthetic"]
        for name, sel in self.selections.items():
            if sel.pool is not None and sel.pool not in pools:
                raise ValueError(
                    f"selections.{name}.pool {sel.pool!r} is neither of {', '.join(pools)}"
                )
        return self

    @field_validator("train_size")
    @classmethod
    def _positive_size(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("train_size must be at least 1 (or 'synthetic')")
        return value

    @field_validator("learning_curve")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if any(size < 1 for size in value):
            raise ValueError("learning-curve sizes must be at least 1")
        return sorted(set(value))


def parse_config(config: ExperimentConfig | dict[str, Any]) -> ExperimentConfig:
    """`config` as an :class:`ExperimentConfig`; a bad key or value is a UsageError."""
    if isinstance(config, ExperimentConfig):
        return config
    return build_model(ExperimentConfig, "experiment config", config)


# -- loading and mapping ------------------------------------------------------------------------
@dataclass
class _Data:
    test: list[dict]
    test_source: str
    test_available: int
    pools: dict[str, list[dict]] = field(default_factory=dict)  # seeds/synthetic/unfiltered/real
    ledger: list[dict] = field(default_factory=list)  # labelled dropped records, with `_drop`
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _fields(cfg: ExperimentConfig, kind: str) -> tuple[str, str]:
    if kind.startswith(EXTRA_POOL):
        extra = cfg.extra_variants[kind[len(EXTRA_POOL) :]]
        return extra.text_field or cfg.text_field, extra.label_field or cfg.label_field
    text = getattr(cfg, f"{kind}_text_field") or cfg.text_field
    label = getattr(cfg, f"{kind}_label_field") or cfg.label_field
    return text, label


def _check_paths(cfg: ExperimentConfig, base_dir: Path | None) -> None:
    files = {key: getattr(cfg, key) for key in ("test", "real_train", "seeds_data")}
    files |= {f"extra_variants.{n}.path": v.path for n, v in cfg.extra_variants.items()}
    for key, value in files.items():
        path = None if value is None else resolve_data_path(str(value), base_dir)
        if path is not None and not path.exists():
            raise UsageError(f"experiment.{key}: no such file {value!r} (resolved to {path})")


def check_inputs(config: ExperimentConfig | dict[str, Any], base_dir: Path | None = None) -> None:
    """Fail before a run starts (not after its outputs) when a data file of the experiment, its
    trainer or its evaluator is missing or unknown; the error names the key."""
    cfg = parse_config(config)
    _check_paths(cfg, base_dir)
    _build(cfg)


def _read(path: str | Path, base_dir: Path | None, notes: list[str]) -> tuple[list[dict], str]:
    resolved = resolve_data_path(str(path), base_dir)
    quarantine = Quarantine()
    records = read_all(resolved, quarantine=quarantine)
    if quarantine.count:
        notes.append(f"{quarantine.count} unreadable records in {resolved} were skipped")
    return records, str(path)


def _map(
    records: list[dict],
    cfg: ExperimentConfig,
    kind: str,
    what: str,
    notes: list[str],
    keep_drop: bool = False,
) -> list[dict]:
    """Records with their text and label under the canonical names; the others are counted."""
    text, label = _fields(cfg, kind)
    strip = (LINEAGE,) if keep_drop else (DROP, LINEAGE)
    out = []
    for r in records:
        t, y = r.get(text), r.get(label)
        if t is None or y is None or not str(t).strip() or not str(y).strip():
            continue
        mapped = {k: v for k, v in r.items() if k not in strip}
        mapped[cfg.text_field], mapped[cfg.label_field] = t, y
        out.append(mapped)
    missing = len(records) - len(out)
    if records and not out:
        keys = f"`{kind}_text_field` / `{kind}_label_field`"
        if kind.startswith(EXTRA_POOL):
            keys = f"`extra_variants.{kind[len(EXTRA_POOL) :]}.text_field` / `.label_field`"
        raise UsageError(
            f"experiment: none of the {len(records)} {what} records has both {text!r} and "
            f"{label!r}; set {keys} to their field names"
        )
    if missing:
        notes.append(f"{what}: {missing} of {len(records)} records lack {text!r} or {label!r}")
    return out


def _run_records(run_dir: Path, stem: str) -> list[dict] | None:
    paths = sorted(run_dir.glob(f"{stem}.*"))
    paths = [p for p in paths if not p.name.startswith(".")]
    return read_all(paths[0]) if paths else None


def _load(
    cfg: ExperimentConfig,
    run_dir: Path | None,
    synthetic: list[dict] | None,
    unfiltered: list[dict] | None,
    base_dir: Path | None,
) -> _Data:
    _check_paths(cfg, base_dir)
    notes: list[str] = []
    raw_test, test_source = _read(cfg.test, base_dir, notes)
    test = _map(raw_test, cfg, "test", "test set", notes)
    available = len(test)
    if cfg.test_limit is not None and cfg.test_limit < len(test):
        test = [test[i] for i in evenly_spaced(len(test), cfg.test_limit)]
        notes.append(f"test_limit: scored on {len(test)} evenly spaced of {available} test items")
    data = _Data(test, test_source, available, notes=notes)
    if cfg.seeds_data:
        records, data.sources["seeds"] = _read(cfg.seeds_data, base_dir, notes)
        data.pools["seeds"] = _map(records, cfg, "seeds", "seeds_data", notes)
    if cfg.real_train:
        records, data.sources["real"] = _read(cfg.real_train, base_dir, notes)
        data.pools["real"] = _map(records, cfg, "real", "real_train", notes)
    for name, extra in cfg.extra_variants.items():
        key = EXTRA_POOL + name
        records, data.sources[key] = _read(extra.path, base_dir, notes)
        data.pools[key] = _map(records, cfg, key, f"extra variant {name!r}", notes)
    _load_run(cfg, data, run_dir, synthetic, unfiltered)
    return data


def _load_run(
    cfg: ExperimentConfig,
    data: _Data,
    run_dir: Path | None,
    synthetic: list[dict] | None,
    unfiltered: list[dict] | None,
) -> None:
    kept_from_run = synthetic is None and run_dir is not None
    if kept_from_run:
        synthetic = _run_records(Path(run_dir), "kept")  # type: ignore[arg-type]
        if synthetic is None:
            raise UsageError(f"experiment: no kept records in {run_dir}; run the recipe first")
    if synthetic is not None:
        data.pools["synthetic"] = _map(synthetic, cfg, "synthetic", "synthetic (kept)", data.notes)
        data.sources["synthetic"] = f"{run_dir}/kept" if kept_from_run else "given records"
    if unfiltered is None and run_dir is not None and synthetic is not None:
        dropped = _run_records(Path(run_dir), "dropped")
        if dropped is None:
            data.notes.append(f"no dropped ledger in {run_dir}: unfiltered = kept records")
        unfiltered = list(synthetic) + list(dropped or [])
        data.sources["unfiltered"] = f"{run_dir}/kept + dropped"
    elif unfiltered is not None:
        data.sources["unfiltered"] = "given records"
    if unfiltered is not None:
        what = "synthetic-unfiltered (kept + dropped)"
        mapped = _map(unfiltered, cfg, "synthetic", what, data.notes, keep_drop=True)
        data.ledger = [r for r in mapped if r.get(DROP)]
        data.pools["unfiltered"] = [{k: v for k, v in r.items() if k != DROP} for r in mapped]


# -- planning -------------------------------------------------------------------------------------
@dataclass
class _Job:
    variant: str
    seed: int
    train: list[dict]
    size: int | None = None  # learning-curve point, else None
    selection: str | None = None  # a selection's fit: its name, with draw None = the selected
    draw: int | None = None


def _draw(pool: list[dict], size: int, seed: int) -> list[dict]:
    """`size` records without replacement; nested across sizes for one seed (same permutation)."""
    order = np.random.default_rng(seed).permutation(len(pool))[:size]
    return [pool[i] for i in sorted(order)]


def _real_size(cfg: ExperimentConfig, data: _Data) -> int:
    real = data.pools["real"]
    if cfg.train_size == "synthetic":
        if "synthetic" not in data.pools:
            data.notes.append("train_size 'synthetic' without synthetic data: real uses all")
            return len(real)
        size = len(data.pools["synthetic"])
    else:
        size = int(cfg.train_size)
    if size > len(real):
        data.notes.append(f"train_size {size} > {len(real)} real records: real uses all of them")
    return min(size, len(real))


_NEEDS = {
    "seeds-only": (("seeds",), "no seeds_data configured"),
    "synthetic": (("synthetic",), "no run records (no run directory or synthetic records)"),
    "synthetic-unfiltered": (("unfiltered",), "no unfiltered run records (kept + dropped)"),
    "real": (("real",), "no real_train configured"),
    "real+synthetic": (("real", "synthetic"), "needs both real_train and run records"),
}


def _needs(name: str) -> tuple[tuple[str, ...], str]:
    if name in _NEEDS:
        return _NEEDS[name]
    return (EXTRA_POOL + name,), f"extra variant {name!r}: its file holds no usable records"


def _variant_train(name: str, seed: int, data: _Data, real_size: int) -> list[dict]:
    pools = data.pools
    if EXTRA_POOL + name in pools:
        return pools[EXTRA_POOL + name]
    if name == "seeds-only":
        return pools["seeds"]
    if name == "synthetic":
        return pools["synthetic"]
    if name == "synthetic-unfiltered":
        return pools["unfiltered"]
    real = _draw(pools["real"], real_size, seed)
    return real if name == "real" else real + pools["synthetic"]


def _plan(cfg: ExperimentConfig, data: _Data, skipped: list[dict]) -> tuple[list[_Job], list[str]]:
    run = []
    for name in [*cfg.variants, *cfg.extra_variants]:
        needs, why = _needs(name)
        if all(data.pools.get(k) for k in needs):
            run.append(name)
        else:
            skipped.append({"variant": name, "reason": why})
            data.notes.append(f"skipped {name}: {why}")
    real_size = _real_size(cfg, data) if data.pools.get("real") else 0
    seeds = range(cfg.seeds)
    jobs = [_Job(n, s, _variant_train(n, s, data, real_size)) for n in run for s in seeds]
    for name in CURVE_VARIANTS:
        pool = data.pools.get(name)
        if not cfg.learning_curve or not pool:
            continue
        for size in cfg.learning_curve:
            if size > len(pool):
                data.notes.append(f"learning curve: size {size} > {len(pool)} {name} records")
                continue
            jobs += [_Job(name, s, _draw(pool, size, s), size) for s in seeds]
    return jobs, run


def _pool_key(name: str) -> str:
    pools = {"seeds-only": "seeds", "synthetic-unfiltered": "unfiltered"}
    return pools.get(name, name if name in VARIANTS else EXTRA_POOL + name)


def _choose(cfg: ExperimentConfig, data: _Data, skipped: list[dict]) -> list[Chosen]:
    """Resolve every selection on the loaded data (before any fit: a bad field fails fast)."""
    out = []
    for name, sel in cfg.selections.items():
        if sel.kind == "filter":
            if "synthetic" not in data.pools:
                raise UsageError(
                    f"experiment.selections.{name}: a filter selection needs the run's kept "
                    "records and its ledger (a run directory)"
                )
            chosen = choose_by_filter(name, sel, data.pools["synthetic"], data.ledger)
            if isinstance(chosen, str):
                skipped.append({"selection": name, "reason": chosen})
                data.notes.append(f"skipped selection {name}: {chosen}")
            else:
                out.append(chosen)
            continue
        pool_name = sel.pool or "synthetic"
        records = data.pools.get(_pool_key(pool_name))
        if not records:
            raise UsageError(
                f"experiment.selections.{name}: its pool {pool_name!r} has no records here"
            )
        out.append(choose_by_score(name, sel, records, pool_name, data.notes, cfg.label_field))
    return out


def _selection_jobs(cfg: ExperimentConfig, chosen: list[Chosen]) -> list[_Job]:
    jobs = []
    for c in chosen:
        draws = random_subsets(c.pool, c.k, cfg.selections[c.name].draws, c.strata)
        sets = [(None, c.selected)] + list(enumerate(draws))
        for draw, train in sets:
            jobs += [_Job("", s, train, selection=c.name, draw=draw) for s in range(cfg.seeds)]
    return jobs


# -- running --------------------------------------------------------------------------------------
def _with_defaults(given: dict[str, Any], cls: type, mapping: dict[str, str]) -> dict[str, Any]:
    """`given` plus canonical field names for the keys the config class has and `given` lacks."""
    fields = getattr(getattr(cls, "Config", None), "model_fields", {})
    out = dict(given)
    for key, value in mapping.items():
        if key in fields and key not in out:
            out[key] = value
    return out


def _build(cfg: ExperimentConfig) -> tuple[Any, Any]:
    names = {"text_field": cfg.text_field, "input_field": cfg.text_field}
    names |= {"label_field": cfg.label_field, "gold_field": cfg.label_field}
    evaluator_cls = get_evaluator(cfg.evaluator)
    evaluator = evaluator_cls(_with_defaults(cfg.evaluator_config, evaluator_cls, names))
    if not evaluator.experiment_ready:
        raise UsageError(
            f"the {cfg.evaluator!r} evaluator needs `evaluator_config.llm` (a judge endpoint) to "
            "score a trained model's outputs; without it, it only counts precomputed verdicts"
        )
    trainer_cls = get_trainer(cfg.trainer)
    trainer = trainer_cls(_with_defaults(cfg.trainer_config, trainer_cls, names))
    return trainer, evaluator


def _fit_and_score(job: _Job, trainer: Any, evaluator: Any, test: list[dict], inputs: list[str]):
    start = time.perf_counter()
    model = trainer.fit(job.train, seed=job.seed)
    evaluation: Evaluation = evaluator.evaluate(test, model.predict(inputs))
    return evaluation, time.perf_counter() - start


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "n"
    }


def _summary(per_seed: list[dict[str, Any]]) -> dict[str, dict]:
    keys = list(_numeric(per_seed[0]["metrics"]))
    return {k: mean_std([s["metrics"][k] for s in per_seed]) for k in keys}


def run_experiment(
    config: ExperimentConfig | dict[str, Any],
    run_dir: Path | None,
    *,
    synthetic: list[dict] | None = None,
    unfiltered: list[dict] | None = None,
    progress: Callable[[int, int], None] | None = None,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """Train and score every variant; return the JSON-ready result (see the module docstring).

    `synthetic` (kept records) and `unfiltered` (kept + dropped) replace the run directory's
    files when given. Relative paths in `config` resolve against `base_dir` (default: the
    working directory). With `run_dir`, the result is also written to ``experiment.json``
    there. `progress(done, total)` is called after each fit.
    """
    started = time.perf_counter()
    cfg = parse_config(config)
    trainer, evaluator = _build(cfg)
    data = _load(cfg, run_dir, synthetic, unfiltered, base_dir)
    if not data.test:
        raise UsageError(f"experiment: the test set {cfg.test} holds no records")
    skipped: list[dict] = []
    jobs, ran = _plan(cfg, data, skipped)
    chosen = _choose(cfg, data, skipped)
    jobs += _selection_jobs(cfg, chosen)
    inputs = evaluator.inputs(data.test)
    log.info("experiment: %d fits on %d test items", len(jobs), len(data.test))
    outcomes: list[tuple[_Job, Evaluation, float]] = []
    # selections on one pool share their random draws: fit each (seed, training set) once
    fits: dict[tuple, Evaluation] = {}
    for done, job in enumerate(jobs, 1):
        key = (job.seed, tuple(map(id, job.train)))
        if key in fits:
            evaluation, seconds = fits[key], 0.0
        else:
            evaluation, seconds = _fit_and_score(job, trainer, evaluator, data.test, inputs)
            fits[key] = evaluation
        outcomes.append((job, evaluation, seconds))
        log.info(
            "experiment: %s%s seed %d: %s %.4f (n_train=%d, %.1fs)",
            job.variant or _selection_label(job),
            "" if job.size is None else f" @ {job.size}",
            job.seed,
            evaluator.primary,
            evaluation.metrics[evaluator.primary],
            len(job.train),
            seconds,
        )
        if progress is not None:
            progress(done, len(jobs))
    result = _result(cfg, data, evaluator.primary, ran, outcomes, skipped)
    if chosen:
        result["selection"] = _selections(cfg, chosen, outcomes, evaluator.primary)
    result["wall_time_s"] = round(time.perf_counter() - started, 3)
    if run_dir is not None:
        _write(Path(run_dir) / RESULT_FILE, result)
    return result


# -- the result ------------------------------------------------------------------------------------
def _result(
    cfg: ExperimentConfig,
    data: _Data,
    primary: str,
    ran: list[str],
    outcomes: list[tuple[_Job, Evaluation, float]],
    skipped: list[dict],
) -> dict[str, Any]:
    variants: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    for name in ran:
        mine = [(j, e, t) for j, e, t in outcomes if j.variant == name and j.size is None]
        scores[name] = np.mean([e.correct for _, e, _ in mine], axis=0)
        per_seed = [{"seed": j.seed, "metrics": e.metrics} for j, e, _ in mine]
        variants[name] = {
            "n_train": len(mine[0][0].train),
            "source": _variant_source(name, data),
            "per_seed": per_seed,
            "summary": _summary(per_seed),
            "ci": bootstrap_mean_ci(scores[name], n_boot=cfg.bootstrap, ci=cfg.ci),
            "time_s": round(sum(t for _, _, t in mine), 3),
            "diff_vs_reference": None,
        }
    comparisons = _comparisons(cfg, scores, data.notes)
    for comp in comparisons:
        if comp["b"] == cfg.reference:
            variants[comp["a"]]["diff_vs_reference"] = {
                k: comp[k] for k in ("diff", "low", "high", "p_value_two_sided", "ci")
            }
    _label_notes(cfg, data, ran)
    return {
        "primary_metric": primary,
        "reference": cfg.reference,
        "seeds": list(range(cfg.seeds)),
        "test": _test_info(cfg, data),
        "variants": variants,
        "comparisons": comparisons,
        "learning_curve": _curve(cfg, outcomes, primary),
        "skipped": skipped,
        "notes": data.notes,
        "config": cfg.model_dump(),
    }


def _selection_label(job: _Job) -> str:
    return f"selection {job.selection} " + (
        "selected" if job.draw is None else f"random {job.draw}"
    )


def _selections(
    cfg: ExperimentConfig,
    chosen: list[Chosen],
    outcomes: list[tuple[_Job, Evaluation, float]],
    primary: str,
) -> dict[str, dict]:
    """Per selection: the selected set's score, the random draws' scores, the difference."""
    out = {}
    for c in chosen:
        mine = [(j, e) for j, e, _ in outcomes if j.selection == c.name]
        sel = [(j, e) for j, e in mine if j.draw is None]
        draws = sorted({j.draw for j, _ in mine if j.draw is not None})
        per_draw = [[(j, e) for j, e in mine if j.draw == d] for d in draws]
        items = np.mean([e.correct for _, e in sel], axis=0)
        random_items = np.stack(
            [np.mean([e.correct for _, e in runs], axis=0) for runs in per_draw]
        )
        diff = selection_diff(items, random_items, n_boot=cfg.bootstrap, ci=cfg.ci)
        draw_means = [
            {
                k: float(np.mean([e.metrics[k] for _, e in runs]))
                for k in _numeric(runs[0][1].metrics)
            }
            for runs in per_draw
        ]
        out[c.name] = {
            **c.info,
            "draws": len(draws),
            "selected": {
                "per_seed": [{"seed": j.seed, "metrics": e.metrics} for j, e in sel],
                "summary": _summary([{"metrics": e.metrics} for _, e in sel]),
            },
            "random": {
                "per_draw": [
                    {"draw": d, "metrics": m} for d, m in zip(draws, draw_means, strict=True)
                ],
                "summary": {k: mean_std([m[k] for m in draw_means]) for k in draw_means[0]},
            },
            "diff": diff,
            "verdict": verdict(diff),
        }
        if cfg.evaluator == "classification":  # a selection may skew or empty a class
            out[c.name]["labels"] = {
                "selected": _label_counts(c.selected, cfg.label_field),
                "pool": _label_counts(c.pool, cfg.label_field),
            }
    return out


def _label_counts(records: list[dict], label: str) -> dict[str, int]:
    return dict(sorted(Counter(str(r[label]).strip() for r in records).items()))


def _variant_source(name: str, data: _Data) -> str:
    s = data.sources
    if EXTRA_POOL + name in s:
        return s[EXTRA_POOL + name]
    return {
        "seeds-only": s.get("seeds", ""),
        "synthetic": s.get("synthetic", ""),
        "synthetic-unfiltered": s.get("unfiltered", ""),
        "real": s.get("real", ""),
        "real+synthetic": f"{s.get('real', '')} + {s.get('synthetic', '')}",
    }[name]


def _comparisons(
    cfg: ExperimentConfig, scores: dict[str, np.ndarray], notes: list[str]
) -> list[dict]:
    pairs = [(name, cfg.reference, f"{name} vs {cfg.reference}") for name in scores]
    pairs = [p for p in pairs if p[0] != cfg.reference]
    if cfg.reference not in scores:
        notes.append(f"no differences vs {cfg.reference}: that variant was not run")
        pairs = []
    pairs += EXTRA_COMPARISONS
    out, seen = [], set()
    for a, b, question in pairs:
        if a in scores and b in scores and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            diff = paired_bootstrap_diff(scores[a], scores[b], n_boot=cfg.bootstrap, ci=cfg.ci)
            out.append({"a": a, "b": b, "question": question, **diff})
    return out


def _curve(
    cfg: ExperimentConfig, outcomes: list[tuple[_Job, Evaluation, float]], primary: str
) -> dict[str, Any] | None:
    if not cfg.learning_curve:
        return None
    series: dict[str, list[dict]] = {}
    for name in CURVE_VARIANTS:
        points = []
        for size in cfg.learning_curve:
            values = [
                e.metrics[primary] for j, e, _ in outcomes if j.variant == name and j.size == size
            ]
            if values:
                points.append({"size": size, **mean_std(values), "per_seed": values})
        if points:
            series[name] = points
    return {"metric": primary, "sizes": cfg.learning_curve, "series": series}


def _test_info(cfg: ExperimentConfig, data: _Data) -> dict[str, Any]:
    labels = Counter(str(r[cfg.label_field]).strip() for r in data.test)
    info: dict[str, Any] = {
        "source": data.test_source,
        "n": len(data.test),
        "n_available": data.test_available,
    }
    if cfg.evaluator == "classification":
        info["labels"] = dict(sorted(labels.items()))
        info["majority_baseline"] = max(labels.values()) / len(data.test)
    return info


def _label_notes(cfg: ExperimentConfig, data: _Data, ran: list[str]) -> None:
    """Say when a training set never shows a label the test set asks for."""
    if cfg.evaluator != "classification":
        return
    wanted = {str(r[cfg.label_field]).strip() for r in data.test}
    pools = {"seeds-only": "seeds", "synthetic": "synthetic", "synthetic-unfiltered": "unfiltered"}
    pools |= {name: EXTRA_POOL + name for name in cfg.extra_variants}
    for name in ran:
        pool = data.pools.get(pools.get(name, "real"), [])
        missing = wanted - {str(r[cfg.label_field]).strip() for r in pool}
        if missing:
            data.notes.append(f"{name} has no training examples of test label(s) {sorted(missing)}")


def _write(path: Path, result: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")


def load_result(run_dir: Path) -> dict[str, Any] | None:
    """The experiment result written in `run_dir`, or None."""
    path = Path(run_dir) / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else None


__all__ = [
    "RESULT_FILE",
    "VARIANTS",
    "ExperimentConfig",
    "ExtraVariant",
    "SelectionConfig",
    "load_result",
    "parse_config",
    "run_experiment",
]

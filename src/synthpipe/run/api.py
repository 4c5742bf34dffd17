"""The Python API, mirroring a recipe: build steps, run them, get records back.

    from synthpipe import Pipeline
    from synthpipe.procedural.slot_template import SlotTemplate
    from synthpipe.curate.text_filters import TextFilter
    from synthpipe.curate.exact_dedup import ExactDedup

    result = Pipeline("demo", {
        "generate": SlotTemplate(seeds="bundled:trec/seeds.jsonl", n=500),
        "filter": TextFilter(min_words=3),
        "dedup": ExactDedup(),
    }).run(out="runs/demo")
    result.kept            # list of dicts
    result.ledger_table()  # pyarrow.Table of every dropped record with _drop
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from synthpipe.audit.step import finish_audits
from synthpipe.curate.bias_mitigation.facts import mitigation_facts
from synthpipe.data.records import Batch, Record
from synthpipe.data.storage import Store, is_remote, work_dir
from synthpipe.data.writers import atomic_path
from synthpipe.errors import UsageError
from synthpipe.executors import make_executor
from synthpipe.importing import require
from synthpipe.llm.types import BudgetExceeded
from synthpipe.pipeline.plan import PlannedStep, SourceReplay, reopen_failed, storage_of
from synthpipe.pipeline.progress import NullProgress
from synthpipe.pipeline.rundir import TRAJECTORY_SUMMARY, RunDir, local_copy
from synthpipe.pipeline.spill import RecordSpill
from synthpipe.pipeline.step import Step, StepContext
from synthpipe.run.limits import check_run_size
from synthpipe.run.outputs import write_outputs
from synthpipe.run.recipe import Recipe, load_recipe
from synthpipe.run.requirements import check_requirements
from synthpipe.run.review_step import HumanReview, with_review
from synthpipe.run.reviews import read_reviews, review_summary

if TYPE_CHECKING:
    import pyarrow as pa

    from synthpipe.llm.pool import LLMPool

log = logging.getLogger("synthpipe")


class Pipeline:
    """Steps plus run settings. `settings` are the recipe's top-level keys: seed, batch_size,
    workers, max_inflight, output, description, llms, budget, llm_cache, use_cache."""

    def __init__(self, name: str, steps: dict[str, Step], *, recipe_path: str | None = None, **settings: Any):
        if not steps:
            raise UsageError("a pipeline needs at least one step")
        kinds = [s.kind for s in steps.values()]
        if kinds[0] != "source" or "source" in kinds[1:]:
            raise UsageError("the first step must be a source, and only the first")
        try:
            self.recipe = Recipe(
                name=name,
                steps={n: {"step": _registry_name(s), **s.config.model_dump(mode="json")} for n, s in steps.items()},
                **settings,
            )
        except ValidationError as exc:
            raise UsageError(f"invalid pipeline settings: {exc}") from None
        self.steps = dict(steps)
        self.recipe_path = recipe_path
        self._executor: tuple[str, str | None] = ("local", None)  # (name, address), set by run()
        self._check_llm_references()
        # missing optional packages fail here (and so in --dry-run), not at the first record
        check_requirements(self.steps, self.recipe)

    @classmethod
    def from_recipe(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Pipeline:
        return cls.from_model(load_recipe(path, overrides), recipe_path=str(path))

    @classmethod
    def from_model(cls, recipe: Recipe, recipe_path: str | None = None) -> Pipeline:
        settings = {k: getattr(recipe, k) for k in Recipe.model_fields if k not in ("name", "steps")}
        return cls(recipe.name, recipe.build_steps(), recipe_path=recipe_path, **settings)

    def _check_llm_references(self) -> None:
        for name, step in self.steps.items():
            if not getattr(step, "uses_llm", False):
                continue
            for wanted in step.llm_names():
                if wanted not in self.recipe.llms:
                    known = ", ".join(self.recipe.llms) or "none"
                    raise UsageError(f"step {name!r} uses LLM {wanted!r}, which is not defined (llms: {known})")

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def uses_llm(self) -> bool:
        return any(getattr(s, "uses_llm", False) for s in self.steps.values())

    def plan(
        self, run_dir: RunDir, steps: dict[str, Step] | None = None, global_salt: str | None = None
    ) -> list[PlannedStep]:
        """Fingerprints chain: each step's depends on its config, code and everything before.
        `steps` replaces the pipeline's own; `global_salt` enters the fingerprint from the
        first global step on (a target run's round sizes: the source segment stays reusable)."""
        planned, fingerprint, upstream = [], "", None
        env = {"llms": self.recipe.llms}
        recipe = self.recipe
        steps = with_review(steps or self.steps, run_dir.root)  # human labels, applied last
        for index, (name, step) in enumerate(steps.items()):
            if global_salt and step.kind == "global" and all(p.step.kind != "global" for p in planned):
                fingerprint = _hash([fingerprint, "rounds", global_salt])
            fingerprint = step.fingerprint(fingerprint, recipe.seed, env)
            replay = SourceReplay(step, StepContext(name, seed=recipe.seed, batch_size=recipe.batch_size, base_dir=Path.cwd()))
            checkpoint = run_dir.checkpoint(index, name, fingerprint, storage=storage_of(step), durable=recipe.durable,
                                            upstream=upstream, replay=replay if step.kind == "source" else None)  # fmt: skip
            planned.append(PlannedStep(name, step, fingerprint, checkpoint))
            upstream = checkpoint
        return planned

    def run(
        self,
        out: str | Path | None = None,
        *,
        fresh: bool = False,
        strict: bool = False,
        progress: Any = None,
        executor: str = "local",
        address: str | None = None,
        yes: bool = False,
    ) -> RunResult:
        """Run (or resume) into `out` (default runs/<name>) and return the result.

        `executor`: "local" (this machine) or "ray" (a Ray cluster at `address`, or a local Ray);
        both give the same kept and dropped records and share the run directory's checkpoints.
        `yes` confirms a run of more than `run.limits.MAX_RECORDS_UNCONFIRMED` records."""
        check_run_size(self.steps, yes)
        if executor == "ray":  # before the run directory is touched
            require("ray", why="the ray executor")
        run_dir = RunDir(out or Path("runs") / self.name)
        run_dir.open(fresh=fresh)
        handler = _attach_log(run_dir.log_path)
        self._executor = (executor, address)
        try:
            return self._run(run_dir, strict, progress or NullProgress())
        finally:
            logging.getLogger("synthpipe").removeHandler(handler)
            handler.close()
            run_dir.close()

    def dry_run(self, out: str | Path | None = None, *, yes: bool = False) -> dict:
        """Estimate LLM requests, tokens and cost without calling any LLM (see estimate.py).
        Steps before the first LLM step run for real, so a huge run needs `yes` here too."""
        from synthpipe.run.estimate import estimate_run

        check_run_size(self.steps, yes)
        run_dir = RunDir(out or Path("runs") / self.name)
        run_dir.open()
        pool = self._llm_pool(run_dir, None)
        try:
            return estimate_run(self, run_dir, lambda p: self._context(p, run_dir, False, pool), pool)
        finally:
            if pool is not None:
                pool.close()
            run_dir.close()

    def _run(self, run_dir: RunDir, strict: bool, progress) -> RunResult:
        if self.recipe.target is not None:  # rounds until N records survive (run/target.py)
            from synthpipe.run.target_run import run_to_target

            _write_recipe(run_dir, self.recipe)
            with _frozen_heap():
                return RunResult(run_dir.location, run_to_target(self, run_dir, strict, progress))
        started = time.time()
        plan = self.plan(run_dir)
        if self.recipe.experiment is not None:  # a bad experiment fails now, not after the run
            from synthpipe.evaluate.experiment import check_inputs

            check_inputs(self.recipe.experiment, Path(self.recipe_path).parent if self.recipe_path else None)
        run_dir.remove_stale_steps({p.checkpoint.dir.name for p in plan})
        for p in plan:
            p.checkpoint.prepare()
        for line in reopen_failed(plan):
            log.info("retrying records that failed last time: %s", line)
        reused = {p.name: p.checkpoint.done for p in plan}
        previous = run_dir.read_json(run_dir.state_path) or {}
        old_metrics = run_dir.read_json(run_dir.metrics_path)
        _write_recipe(run_dir, self.recipe)
        fingerprints = {p.name: p.fingerprint for p in plan}
        if self.recipe.experiment is not None:  # a changed experiment reruns the outputs stage
            fingerprints["(experiment)"] = _hash(self.recipe.experiment.model_dump(mode="json"))
        state = {"status": "running", "started": _now(), "fingerprints": fingerprints}
        run_dir.write_json(run_dir.state_path, state)
        log.info("run %s in %s (%d steps)", self.name, run_dir.root, len(plan))

        pool = self._llm_pool(run_dir, progress)
        executor_name, address = self._executor
        executor = make_executor(executor_name, workers=self.recipe.workers,
                                 max_inflight=self._max_inflight(), address=address)  # fmt: skip
        spill = RecordSpill(run_dir.root / ".spill", [p.name for p in plan])  # the outputs, as batches finish
        try:
            with progress, _frozen_heap():
                executor.execute(plan, lambda p: self._context(p, run_dir, strict, pool), progress, spill)
        except BudgetExceeded as exc:
            spill.close()
            run_dir.write_json(run_dir.state_path, {**state, "status": "budget_reached", "error": str(exc)})
            log.warning("%s", exc)
            raise
        except BaseException as exc:
            spill.close()
            run_dir.write_json(run_dir.state_path, {**state, "status": "failed", "error": str(exc)})
            log.exception("run failed: %s", exc)
            raise
        finally:
            llm_metrics = self._close_pool(run_dir, pool)
        if _unchanged(previous, state, reused, old_metrics, self.recipe.output.format, self.recipe.output.shard_rows):
            metrics = {**old_metrics, "steps": [{**s, "reused": True} for s in old_metrics["steps"]]}
            run_dir.write_json(run_dir.metrics_path, metrics)
            log.info("nothing changed: outputs of the previous run are current")
        else:
            metrics = self._finish(run_dir, plan, spill, reused, started, executor.busy_s, llm_metrics, executor)
        if hasattr(executor, "close"):
            executor.close()  # Ray kept up for the outputs; closed by _finish already unless unchanged
        spill.close()  # a failed finish leaves it for the next run's open to empty
        run_dir.write_json(run_dir.state_path, {**state, "status": "finished", "finished": _now()})
        return RunResult(run_dir.location, metrics)

    def _max_inflight(self) -> int:
        """The recipe's max_inflight; unset, enough record batches to fill a provider batch
        when an endpoint is in batch mode (see llm/batch/queue.py)."""
        if "max_inflight" in self.recipe.model_fields_set or not self.recipe.llms:
            return self.recipe.max_inflight
        from synthpipe.llm.batch.queue import inflight_for_batches

        return inflight_for_batches(dict(self.recipe.llms), self.recipe.batch_size, self.recipe.max_inflight)

    @staticmethod
    def _close_pool(run_dir: RunDir, pool: LLMPool | None) -> dict | None:
        """Close the run's LLM pool, keeping its usage in llm_usage.json; the usage, or None."""
        if pool is None:
            return None
        usage = pool.metrics()
        run_dir.write_json(run_dir.root / "llm_usage.json", usage)
        pool.close()
        return usage

    def _llm_pool(self, run_dir: RunDir, progress) -> LLMPool | None:
        if not self.recipe.llms:
            return None
        from synthpipe.llm.pool import LLMPool

        cache = Path(self.recipe.llm_cache).expanduser() if self.recipe.llm_cache else None
        return LLMPool(
            dict(self.recipe.llms),
            cache_path=cache,
            use_cache=self.recipe.use_cache,
            budget=self.recipe.budget,
            budget_path=run_dir.root / "llm_budget.json",
            on_update=getattr(progress, "llm_update", None),
            batch_registry=run_dir.root / "llm_batches.jsonl",
        )

    def _context(self, p: PlannedStep, run_dir: RunDir, strict: bool, pool: LLMPool | None) -> StepContext:
        ctx = StepContext(
            name=p.name,
            seed=self.recipe.seed,
            batch_size=self.recipe.batch_size,
            strict=strict,
            run_dir=run_dir.root,
            step_dir=p.checkpoint.dir,
            base_dir=Path.cwd(),
            resources=pool,
        )
        if p.step.kind == "source":
            from synthpipe.data.quarantine import Quarantine

            # A source re-reads from its start on resume, so its quarantine starts afresh too.
            path = p.checkpoint.dir / "quarantine.jsonl"
            path.unlink(missing_ok=True)
            for name in p.checkpoint.files.names("quarantine-*.jsonl"):  # a sharded read's
                p.checkpoint.files.remove(name)
            ctx.quarantine = Quarantine(path, strict=strict)
        return ctx

    # -- outputs --------------------------------------------------------------------------
    def _finish(
        self,
        run_dir: RunDir,
        plan: list[PlannedStep],
        spill: RecordSpill,
        reused: dict,
        started: float,
        busy_s: dict,
        llm: dict | None,
        executor: Any = None,
    ) -> dict:
        fmt = self.recipe.output.format
        step_metrics = _step_metrics(plan, reused, busy_s)  # counts come from the shards' _drop column
        kept_total = step_metrics[-1]["kept"]
        # each output written once (by the executor's workers, or streamed from the spill or
        # rebuilt from the checkpoints here), keeping the report's bounded sample
        written = write_outputs(plan, spill, run_dir.root, fmt, kept_total, {s["name"]: s["dropped"] for s in step_metrics},
                                shard_rows=self.recipe.output.shard_rows, executor=executor,
                                shared_root=run_dir.location if run_dir.remote else None)  # fmt: skip
        kept, dropped = written["kept"].sample, written["dropped"].sample
        kept_count, dropped_count = written["kept"].count, written["dropped"].count
        quarantined, quarantine_reasons = _merge_quarantines(run_dir, plan)
        metrics = {
            "run": {
                "name": self.name,
                "recipe": self.recipe_path,
                "started": datetime.fromtimestamp(started, UTC).isoformat(),
                "finished": _now(),
                "duration_s": round(time.time() - started, 3),
                "synthpipe_version": _version(),
                "seed": self.recipe.seed,
                "executor": self._executor[0],
                "run_dir": run_dir.location,
            },
            "steps": step_metrics,
            "quarantined": quarantined,
            "quarantine_reasons": quarantine_reasons,
            "kept": kept_count,
            "dropped": dropped_count,
            "output": {"kept": run_dir.kept_path(fmt).name, "dropped": run_dir.dropped_path(fmt).name, "format": fmt,
                       "layout": {k: "sharded" if w.sharded else "file" for k, w in written.items()},
                       "shard_rows": self.recipe.output.shard_rows},  # fmt: skip
        }
        if llm is not None:
            metrics["llm"] = llm
        audits = finish_audits([(p.name, p.checkpoint.dir) for p in plan], metrics, kept, dropped)
        if audits:
            metrics["audit"] = dict(audits)
        if (trajectories := run_dir.root / TRAJECTORY_SUMMARY).exists():  # verify_trajectory's
            metrics["trajectories"] = json.loads(trajectories.read_text(encoding="utf-8"))
        if mitigation := mitigation_facts([(p.name, p.checkpoint.dir) for p in plan]):
            metrics["bias_mitigation"] = mitigation  # counterfactual_augment / rebalance figures
        if isinstance(plan[-1].step, HumanReview):
            metrics["reviews"] = review_summary(read_reviews(run_dir.root), rejected=step_metrics[-1]["dropped"])
        if (judged := _judge_agreement(run_dir, plan, fmt)) is not None:
            metrics["judge_agreement"] = judged
        if self.recipe.experiment is not None:
            metrics["experiment"] = self._experiment(run_dir)
        run_dir.write_json(run_dir.metrics_path, metrics)
        self._report(run_dir, metrics, kept, dropped, audits)
        log.info("finished: %d kept, %d dropped, %d quarantined", kept_count, dropped_count, quarantined)
        return metrics

    def _experiment(self, run_dir: RunDir) -> dict:
        from synthpipe.evaluate.experiment import run_experiment

        base = Path(self.recipe_path).parent if self.recipe_path else None
        log.info("experiment: training on data variants, evaluating on %s", self.recipe.experiment.test)
        run_dir.fetch_outputs(self.recipe.output.format)  # written at the URI by Ray workers
        return run_experiment(self.recipe.experiment, run_dir.root, base_dir=base)

    def _report(self, run_dir: RunDir, metrics: dict, kept: list, dropped: list, audits: list) -> None:
        from synthpipe.report.card import dataset_card
        from synthpipe.run.report_again import model_names, write_report_for_run

        if audits:  # the card describes the last audit: the one nearest the output
            base = Path(self.recipe_path).parent if self.recipe_path else None
            card = dataset_card(audits[-1][1], metrics, records=kept,
                                recipe=self.recipe.model_dump(mode="json"), base_dir=base)  # fmt: skip
            (run_dir.root / "card.md").write_text(card, encoding="utf-8")
        out = self.recipe.output
        write_report_for_run(run_dir.root, metrics, kept, dropped, text_field=out.text_field,
                             label_field=out.label_field, models=model_names(self.recipe.llms, metrics))  # fmt: skip


class RunResult:
    """What a finished run gives back. Records are read from the run directory on demand."""

    def __init__(self, run_dir: str | Path, metrics: dict | None = None):
        self.location = str(run_dir)  # as named: a URI for a run directory on an object store
        if is_remote(run_dir):  # just run: its work directory; else a local copy of the URI
            self.run_dir = work_dir(Store(str(run_dir)).url) if metrics else local_copy(run_dir)
        else:
            self.run_dir = Path(run_dir)
        self.metrics = metrics or RunDir(self.run_dir).read_json(RunDir(self.run_dir).metrics_path)
        if self.metrics is None:
            raise UsageError(f"{self.location} has no metrics.json: the run did not finish")

    def __repr__(self) -> str:
        return f"RunResult({self.location!r}, kept={self.metrics['kept']}, dropped={self.metrics['dropped']})"

    def _read(self, key: str) -> list[Record]:
        from synthpipe.data.readers import read_all

        output = self.metrics["output"]
        if is_remote(self.location) and not (self.run_dir / output[key]).exists():
            self.run_dir = local_copy(self.location)  # a rerun that changed nothing wrote no outputs here
        return read_all(self.run_dir / output[key], format=output.get("format"), id_field="id")

    @cached_property
    def kept(self) -> list[Record]:
        return self._read("kept")

    @cached_property
    def dropped(self) -> list[Record]:
        """The ledger: every record that left the pipeline, with `_drop` saying why."""
        return self._read("dropped")

    def kept_table(self) -> pa.Table:
        from synthpipe.data.arrow import records_to_table

        return records_to_table(self.kept)

    def ledger_table(self) -> pa.Table:
        from synthpipe.data.arrow import records_to_table

        return records_to_table(self.dropped)

    def to_hf(self, split: str = "train") -> Any:
        """The kept records as a ``datasets.Dataset`` named `split`, with the columns
        ``synthpipe publish`` uploads: ``id`` first, ``_lineage`` as JSON text, no ``_drop``.
        Needs the ``hf`` extra."""
        require("datasets", extra="hf", why="RunResult.to_hf")
        import datasets

        from synthpipe.data.hub_table import hub_table

        return datasets.Dataset(hub_table(self.kept), split=datasets.Split(split))


def empty_result(metrics: dict) -> str | None:
    """Why a run kept none of its N > 0 records (N: the records its source gave plus those it
    quarantined), with the top reasons; None when it kept some, or had none to keep."""
    total = metrics["steps"][0]["out"] + metrics.get("quarantined", 0) if metrics.get("steps") else 0
    if metrics.get("kept", 0) or not total:
        return None
    reasons = Counter({f"quarantine: {r}": n for r, n in (metrics.get("quarantine_reasons") or {}).items()})
    for step in metrics["steps"]:
        reasons.update({f"{step['name']}: {r}": n for r, n in step["reasons"].items()})
    top = ", ".join(f"{reason} ({n})" for reason, n in reasons.most_common(3))
    return f"kept 0 of {total} records: every record was dropped or quarantined" + (f"; top reasons: {top}" if top else "")


def _unchanged(previous: dict, state: dict, reused: dict, metrics: dict | None, fmt: str, shard_rows: int | None) -> bool:
    """True when every step was reused and the last run finished writing the same outputs."""
    return (
        all(reused.values())
        and previous.get("status") == "finished"
        and previous.get("fingerprints") == state["fingerprints"]
        and metrics is not None
        and metrics.get("output", {}).get("format") == fmt
        and metrics["output"].get("shard_rows") == shard_rows
    )


def _hash(data: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _write_recipe(run_dir: RunDir, recipe: Recipe) -> None:
    data = recipe.model_dump(mode="json")
    text = json.dumps(data, ensure_ascii=False)
    if len(text) < 1_000_000:  # readable YAML; big inline data stays JSON (valid YAML, 50x faster)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same bytes, 6x faster
        text = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)
    with atomic_path(run_dir.recipe_path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def _judge_agreement(run_dir: RunDir, plan: list[PlannedStep], fmt: str) -> dict | None:
    """Judge steps' verdicts against the people's labels, when the run has both."""
    from synthpipe.evaluate.judge_agreement import JUDGE_STEPS, JudgeStep
    from synthpipe.run.judge_check import run_judge_agreement

    judges = [JudgeStep.from_config(p.name, name, p.step.config.model_dump(mode="json"))
              for p in plan if (name := _registry_name(p.step)) in JUDGE_STEPS]  # fmt: skip
    if judges:
        run_dir.fetch_outputs(fmt)  # written at the URI by Ray workers
    return run_judge_agreement(run_dir.root, judges, fmt)


def _registry_name(step: Step) -> str:
    cls = type(step)
    return cls.registry_name or f"{cls.__module__}:{cls.__qualname__}"


def _step_metrics(plan: list[PlannedStep], reused: dict, busy_s: dict) -> list[dict]:
    rows, previous_kept = [], 0
    for p in plan:
        stats = p.checkpoint.stats()
        rows.append(
            {
                "name": p.name,
                "step": _registry_name(p.step),
                "kind": p.step.kind,
                "fingerprint": p.fingerprint,
                "in": previous_kept if p.step.kind != "source" else 0,
                **stats,
                "reused": bool(reused.get(p.name)),
                "duration_s": round(busy_s.get(p.name, 0.0), 3),
                **({"verifies": True} if p.step.verifies else {}),
            }
        )
        previous_kept = stats["kept"]
    return rows


def _merge_quarantines(run_dir: RunDir, plan: list[PlannedStep]) -> tuple[int, dict]:
    lines: list[str] = []
    for p in plan:
        path = p.checkpoint.dir / "quarantine.jsonl"
        texts = [path.read_text(encoding="utf-8")] if path.exists() else []
        files = p.checkpoint.files  # a source read in shards: one file per shard, with its checkpoint
        texts += [files.read_text(name) for name in sorted(files.names("quarantine-*.jsonl"))]
        for text in texts:
            # split on "\n" only: splitlines() also cuts at U+2028 or U+0085 inside a JSON string
            lines.extend(line for line in text.split("\n") if line.strip())
    reasons = Counter(json.loads(line)["reason"].split(":")[0] for line in lines)
    if lines or run_dir.quarantine_path.exists():
        run_dir.quarantine_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines), dict(reasons.most_common())



@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects alive before the run (imported modules, the recipe) out of the garbage
    collector's full passes: they are never garbage, and scanning them cost ~0.2 s per run."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("synthpipe")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    return handler


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _version() -> str:
    from synthpipe import __version__

    return __version__


__all__ = ["Batch", "Pipeline", "RunResult"]

"""reasoning-gym tasks as a source, and their own scorers as a verifier.

reasoning-gym (Stojanovski et al. 2025, "REASONING GYM: Reasoning Environments for
Reinforcement Learning with Verifiable Rewards") ships ~100 procedural task generators
(arithmetic, logic, puzzles, graphs...), each with a scorer. The `reasoning_gym` source draws
``n`` entries of one dataset with the run's seed; every record keeps what is needed to rebuild
its entry (dataset, index, size, seed, params), so `score_reasoning_gym` and the
`verify_reasoning_gym` filter can score a candidate answer with the dataset's own
``score_answer`` later, in any process. The package is optional (``synthpipe[verify]``) and
imported only when a step needs it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import logging
import math
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field, model_validator

from synthpipe.data.records import Batch, Record, add_lineage
from synthpipe.errors import DataError, UsageError
from synthpipe.importing import require
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import FilterResult, FilterStep, SourceStep, StepConfig, StepContext

FIELD = "reasoning_gym"  # record field holding how to rebuild the entry
_RESERVED_PARAMS = ("seed", "size")  # set by the source itself

log = logging.getLogger(__name__)


def _rg() -> Any:
    require("reasoning_gym", why="the reasoning_gym steps")
    import reasoning_gym

    return reasoning_gym


def dataset_names() -> list[str]:
    """Names of the datasets reasoning-gym registers."""
    _rg()
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


def check_dataset(name: str, params: dict[str, Any]) -> None:
    """Raise UsageError unless `name` is a reasoning-gym dataset and `params` are its options."""
    names = dataset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UsageError(
            f"reasoning_gym: unknown dataset {name!r}.{hint} Valid datasets: {', '.join(names)}"
        )
    from reasoning_gym.factory import DATASETS

    fields = [
        f.name for f in dataclasses.fields(DATASETS[name][1]) if f.name not in _RESERVED_PARAMS
    ]
    bad = [k for k in params if k not in fields]
    if bad:
        hints = [
            f"{k!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(k, fields, n=1))
            else repr(k)
            for k in bad
        ]
        set_by_step = (
            " (seed and size are set by the step)" if set(bad) & set(_RESERVED_PARAMS) else ""
        )
        raise UsageError(
            f"reasoning_gym: dataset {name!r} has no param(s) {', '.join(hints)}{set_by_step}; "
            f"its params are: {', '.join(fields)}"
        )
    _dataset(_key(name, 1, 0, params))  # let the dataset's own checks reject bad values now


def json_safe(value: Any) -> Any:
    """`value` as plain JSON types: tuples and sets become lists, other objects strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _key(name: str, size: int, seed: int, params: dict[str, Any]) -> str:
    return json.dumps([name, size, seed, params], sort_keys=True)


@functools.lru_cache(maxsize=32)
def _dataset(key: str) -> Any:
    """The dataset for a `_key` (cached: scoring many records re-creates it once)."""
    name, size, seed, params = json.loads(key)
    try:
        return _rg().create_dataset(name, size=size, seed=seed, **params)
    except (TypeError, ValueError, AssertionError) as exc:
        raise UsageError(
            f"reasoning_gym: dataset {name!r} rejected params {params}: {exc or type(exc).__name__}"
        ) from None


def score_reasoning_gym(record: Record, candidate: str) -> float:
    """The dataset's own score (0..1) of `candidate` for the entry `record` came from."""
    info = record.get(FIELD)
    if not isinstance(info, dict) or not {"dataset", "index", "size", "seed"} <= info.keys():
        raise DataError(
            f"record {record.get('id')!r} has no {FIELD!r} field from the reasoning_gym source"
        )
    ds = _dataset(_key(info["dataset"], info["size"], info["seed"], info.get("params") or {}))
    entry = ds[info["index"]]
    try:
        return float(ds.score_answer(answer=candidate, entry=entry))
    except Exception as exc:  # a scorer choking on a malformed candidate: that answer is wrong
        log.debug("reasoning_gym %s scorer failed on %r: %s", info["dataset"], candidate, exc)
        return 0.0


# -- the source ---------------------------------------------------------------------------------
class ReasoningGymConfig(StepConfig):
    """Options of the `reasoning_gym` source."""

    dataset: str = Field(
        description="reasoning-gym dataset name, e.g. 'chain_sum', 'leg_counting'."
    )
    n: int = Field(1000, gt=0, description="Number of entries to draw.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of that dataset's config (e.g. {min_terms: 2, max_terms: 4}); "
        "size and seed come from `n` and the run's seed.",
    )
    question_field: str = Field("question", description="Field for the task text.")
    answer_field: str = Field("final_answer", description="Field for the gold answer.")

    @model_validator(mode="after")
    def _valid(self) -> ReasoningGymConfig:
        if self.question_field == self.answer_field:
            raise ValueError("question_field and answer_field must differ")
        check_dataset(self.dataset, self.params)
        return self


@register_step("reasoning_gym")
class ReasoningGym(SourceStep):
    """Entries of one reasoning-gym dataset, each carrying what its scorer needs.

    Draws `n` entries with the run's seed; ids are ``rg-<dataset>-000012``. Needs the optional
    ``reasoning-gym`` package (``synthpipe[verify]``).

    Input columns: none (a source).
    Output columns: `question_field` (default ``question``), `answer_field` (default
    ``final_answer``), ``reasoning_gym``: ``{dataset, index, size, seed, params, metadata}``
    (metadata made JSON-safe).
    Drop reasons: none.
    References: Stojanovski et al. (2025), "REASONING GYM: Reasoning Environments for
    Reinforcement Learning with Verifiable Rewards".
    """

    Config = ReasoningGymConfig
    requires = ("reasoning_gym",)
    config: ReasoningGymConfig
    skips_resumed_batches: ClassVar[bool] = True  # entries are drawn by index, independently

    def expected_count(self) -> int:
        return self.config.n

    def output_columns(self) -> set[str]:
        return {self.config.question_field, self.config.answer_field, FIELD}

    def read(self, ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        ds = _dataset(_key(cfg.dataset, cfg.n, ctx.seed, cfg.params))
        size = max(1, ctx.batch_size)
        for b in range(ctx.skip_batches, math.ceil(cfg.n / size)):
            yield [
                self._record(ds, i, ctx.seed) for i in range(b * size, min(cfg.n, (b + 1) * size))
            ]

    def _record(self, ds: Any, index: int, seed: int) -> Record:
        cfg = self.config
        entry = ds[index]
        answer = entry["answer"]
        record: Record = {
            "id": f"rg-{cfg.dataset}-{index:06d}",
            cfg.question_field: entry["question"],
            cfg.answer_field: answer if isinstance(answer, str) else json_safe(answer),
            FIELD: {
                "dataset": cfg.dataset,
                "index": index,
                "size": cfg.n,
                "seed": seed,
                "params": json_safe(cfg.params),
                "metadata": json_safe(entry.get("metadata", {})),
            },
        }
        return add_lineage(record, generator="reasoning_gym", dataset=cfg.dataset, seed=seed)


# -- the verifier -------------------------------------------------------------------------------
class VerifyReasoningGymConfig(StepConfig):
    """Options of the `verify_reasoning_gym` filter."""

    candidate_field: str = Field("candidate", description="Field holding the answer to score.")
    min_score: float = Field(
        1.0, ge=0, le=1, description="Drop records whose candidate scores below this (0..1)."
    )
    score_field: str = Field("rg_score", description="Field the score is written to.")


@register_step("verify_reasoning_gym")
class VerifyReasoningGym(FilterStep):
    """Scores each record's candidate with its reasoning-gym dataset's own scorer.

    The entry is rebuilt from the record's ``reasoning_gym`` field, so this runs in any
    process, after any steps.

    Input columns: `candidate_field` (default ``candidate``), ``reasoning_gym`` (from the
    `reasoning_gym` source).
    Output columns: `score_field` (default ``rg_score``).
    Drop reasons: ``wrong_answer`` (score below `min_score`), ``missing_candidate``,
    ``not_reasoning_gym`` (the record did not come from the source).
    References: Stojanovski et al. (2025), "REASONING GYM: Reasoning Environments for
    Reinforcement Learning with Verifiable Rewards".
    """

    Config = VerifyReasoningGymConfig
    marks_only = False  # writes the score into the record
    requires = ("reasoning_gym",)
    verifies = True  # drops are verification failures: the audit reports its pass rate
    config: VerifyReasoningGymConfig
    drop_reasons = ("wrong_answer", "missing_candidate", "not_reasoning_gym")

    def input_columns(self) -> set[str]:
        return {self.config.candidate_field, FIELD}

    def output_columns(self) -> set[str]:
        return {self.config.score_field}

    def keep(self, record: Record) -> FilterResult:
        cfg = self.config
        candidate = record.get(cfg.candidate_field)
        if candidate is None:
            return False, "missing_candidate", f"no field {cfg.candidate_field!r}"
        if not isinstance(record.get(FIELD), dict):
            return False, "not_reasoning_gym", f"no {FIELD!r} field"
        score = score_reasoning_gym(record, str(candidate))
        record[cfg.score_field] = score
        if score < cfg.min_score:
            return False, "wrong_answer", f"score {score:.3g} < {cfg.min_score}"
        return True

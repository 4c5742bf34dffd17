"""Evaluators: score a trained model's predictions on held-out test records.

Each evaluator takes a pydantic config (unknown keys are errors) naming the record fields it
reads, gives the model inputs for the test records (:meth:`inputs`), and turns predictions into
an :class:`Evaluation`: a dict of metrics plus a per-item score vector in [0, 1] whose mean is
the ``primary`` metric. The per-item vector is what :func:`synthpipe.evaluate.stats.
paired_bootstrap_diff` resamples to compare two models on the same items.

- ``classification``: accuracy and macro-F1 (F1 averaged over the labels seen in gold or
  predictions, as scikit-learn's ``f1_score(average="macro")``); labels compare as stripped
  strings, so ``0`` and ``"0"`` agree. Fields: ``text_field``, ``label_field``.
- ``math``: final-answer accuracy. The answer is taken from the prediction with
  :func:`~synthpipe.verify.answers.extract_answer` and compared with the gold field by
  :func:`~synthpipe.verify.math_check.answers_match`; a gold field holding a worked solution
  (GSM8K ``#### 42``, ``\\boxed{}``) is reduced to its final answer first. Fields:
  ``input_field``, ``gold_field``.
- ``code``: predictions are programs (one string, or a list of samples per item), run against
  the item's tests in the sandbox (:mod:`synthpipe.verify.code_check`). Reports pass@1 and
  pass@k for each configured k not larger than the samples per item (unbiased estimator,
  Chen et al. 2021); the per-item score is the fraction of samples that passed.
- ``judge``: win rate of the model's outputs against a baseline's, from pairwise verdicts
  already produced by the ``judge_pairwise`` step (Zheng et al. 2023), summarised with
  :func:`synthpipe.generate.llm_judge.win_rate`. Producing the verdicts needs an LLM endpoint,
  so this evaluator only counts them: pass verdicts ("a" | "b" | "tie") as predictions or leave
  them in the records' ``verdict_field``. Ties score 0.5; records without a verdict are left
  out of the per-item vector (and counted as ``skipped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from synthpipe.errors import UsageError, build_model


@dataclass
class Evaluation:
    """Metrics of one model on one test set; `correct[i]` scores item i in [0, 1]."""

    metrics: dict[str, Any]
    correct: np.ndarray
    primary: str

    def as_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "correct": self.correct.tolist(), "primary": self.primary}


class EvaluatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _value(record: dict, field: str, index: int, evaluator: str, key: str) -> Any:
    if field not in record or record[field] is None:
        keys = ", ".join(sorted(record)) or "none"
        raise UsageError(
            f"{evaluator} evaluator: test record {index} has no field {field!r} (its fields: "
            f"{keys}); set `{key}` to the field that holds it"
        )
    return record[field]


def _same_length(records: Sequence[dict], predictions: Sequence[Any], evaluator: str) -> None:
    if len(records) != len(predictions):
        raise UsageError(
            f"{evaluator} evaluator: {len(predictions)} predictions for {len(records)} test records"
        )


class _Base:
    name: ClassVar[str]
    primary: ClassVar[str]
    Config: ClassVar[type[EvaluatorConfig]]
    experiment_ready: ClassVar[bool] = True  # can score a trained model's raw predictions
    input_key: ClassVar[str] = "input_field"

    def __init__(self, config: Any = None, /, **overrides: Any) -> None:
        self.config = build_model(self.Config, f"{self.name} evaluator config", config, overrides)

    def inputs(self, records: Sequence[dict]) -> list[str]:
        """The model inputs for `records`, in order."""
        field = getattr(self.config, self.input_key)
        return [str(_value(r, field, i, self.name, self.input_key)) for i, r in enumerate(records)]


# -- classification ---------------------------------------------------------------------------
class ClassificationConfig(EvaluatorConfig):
    text_field: str = Field("text", description="field holding the input text")
    label_field: str = Field("label", description="field holding the gold label")


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """F1 averaged over every label in gold or predictions (a label never predicted and never
    gold does not exist; one predicted but never gold scores F1 = 0)."""
    g, p = np.asarray(gold, dtype=object), np.asarray(predicted, dtype=object)
    scores = []
    for label in sorted(set(g.tolist()) | set(p.tolist())):
        tp = np.count_nonzero((g == label) & (p == label))
        denom = np.count_nonzero(g == label) + np.count_nonzero(p == label)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores)) if scores else 0.0


class ClassificationEvaluator(_Base):
    name = "classification"
    primary = "accuracy"
    Config = ClassificationConfig
    input_key = "text_field"

    def evaluate(self, records: Sequence[dict], predictions: Sequence[Any]) -> Evaluation:
        _same_length(records, predictions, self.name)
        key = self.config.label_field
        gold = [
            str(_value(r, key, i, self.name, "label_field")).strip() for i, r in enumerate(records)
        ]
        pred = [str(p).strip() for p in predictions]
        correct = np.array([float(a == b) for a, b in zip(gold, pred, strict=True)])
        metrics = {
            "accuracy": float(correct.mean()) if correct.size else 0.0,
            "macro_f1": macro_f1(gold, pred),
            "n": len(gold),
        }
        return Evaluation(metrics, correct, self.primary)


# -- math ---------------------------------------------------------------------------------------
class MathConfig(EvaluatorConfig):
    input_field: str = Field("question", description="field holding the problem")
    gold_field: str = Field(
        "answer", description="field with the gold answer (or a solution ending in it)"
    )
    fallback_last_number: bool = Field(
        True, description="take a prediction's last number when it states no answer explicitly"
    )
    timeout: float = Field(5.0, gt=0, description="seconds for one symbolic comparison")


def gold_answer(text: str) -> str:
    """The final answer of a gold field (`#### 42`, boxed, answer phrase), else the cleaned text."""
    from synthpipe.verify.answers import clean_answer, extract_answer

    found = extract_answer(text, fallback_last_number=False)
    return found.text if found else clean_answer(text)


class MathEvaluator(_Base):
    name = "math"
    primary = "accuracy"
    Config = MathConfig

    def evaluate(self, records: Sequence[dict], predictions: Sequence[Any]) -> Evaluation:
        from synthpipe.verify.answers import extract_answer
        from synthpipe.verify.math_check import answers_match_many

        _same_length(records, predictions, self.name)
        cfg = self.config
        golds = [
            gold_answer(str(_value(r, cfg.gold_field, i, self.name, "gold_field")))
            for i, r in enumerate(records)
        ]
        found = [
            extract_answer(str(p), fallback_last_number=cfg.fallback_last_number)
            for p in predictions
        ]
        pending = [i for i, f in enumerate(found) if f is not None]
        results = answers_match_many(
            [(golds[i], found[i].text) for i in pending],  # type: ignore[union-attr]
            timeout=cfg.timeout,
        )
        correct = np.zeros(len(records))
        for i, result in zip(pending, results, strict=True):
            correct[i] = float(result.equal)
        metrics = {
            "accuracy": float(correct.mean()) if correct.size else 0.0,
            "answered": len(pending) / len(records) if records else 0.0,
            "n": len(records),
        }
        return Evaluation(metrics, correct, self.primary)


# -- code ---------------------------------------------------------------------------------------
PREDICTION = "_prediction"


class CodeConfig(EvaluatorConfig):
    input_field: str = Field("prompt", description="field holding what the model is asked")
    layout: Literal["auto", "humaneval", "mbpp", "plain"] = Field(
        "auto", description="test layout of the records (see synthpipe.verify.code_check)"
    )
    prediction: Literal["completion", "program"] = Field(
        "completion",
        description="HumanEval layout: a prediction continues the prompt (completion) or is "
        "the whole program; other layouts always take the whole program",
    )
    prompt_field: str = Field("prompt", description="HumanEval: field with the function header")
    tests_field: str | None = Field(None, description="field with the tests; default per layout")
    entry_point_field: str = Field("entry_point", description="HumanEval: function under test")
    k: list[int] = Field([1, 10], description="pass@k values to report (k <= samples per item)")
    timeout_s: float = Field(10.0, gt=0, description="wall-clock limit per program")
    memory_mb: int = Field(512, ge=64, description="address-space limit per program")
    isolation: str = Field("auto", description="sandbox isolation mode (see verify.sandbox)")
    workers: int = Field(2, ge=1, description="programs run at once")


class CodeEvaluator(_Base):
    name = "code"
    primary = "pass@1"
    Config = CodeConfig

    def _program(self, record: dict, code: str):
        from synthpipe.verify.code_check import build_test_program, detect_layout

        cfg = self.config
        layout = cfg.layout
        if layout == "auto":
            layout = detect_layout(record, cfg.entry_point_field)
        item = {**record, PREDICTION: code}
        if layout == "humaneval" and cfg.prediction == "program":
            item[cfg.prompt_field] = ""
        return build_test_program(
            item,
            layout=layout,  # type: ignore[arg-type]
            code_field=PREDICTION,
            prompt_field=cfg.prompt_field,
            tests_field=cfg.tests_field,
            entry_point_field=cfg.entry_point_field,
        )

    def evaluate(self, records: Sequence[dict], predictions: Sequence[Any]) -> Evaluation:
        from synthpipe.verify.code_check import check_program
        from synthpipe.verify.pass_at_k import pass_at_k

        _same_length(records, predictions, self.name)
        cfg = self.config
        samples = [[p] if isinstance(p, str) else [str(s) for s in p] for p in predictions]
        if any(not s for s in samples):
            raise UsageError("code evaluator: every test item needs at least one program")
        jobs = [(i, self._program(r, code)) for i, r in enumerate(records) for code in samples[i]]
        settings = {
            "timeout_s": cfg.timeout_s,
            "memory_mb": cfg.memory_mb,
            "isolation": cfg.isolation,
        }
        with ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="eval_code") as pool:
            checks = list(pool.map(lambda job: check_program(job[1], **settings), jobs))
        passed = np.zeros(len(records))
        for (i, _), check in zip(jobs, checks, strict=True):
            passed[i] += check.passed
        counts = [len(s) for s in samples]
        metrics: dict[str, Any] = {"n": len(records), "samples_per_item": min(counts, default=0)}
        for k in sorted(set(cfg.k) | {1}):
            if k <= min(counts, default=0):
                scores = [pass_at_k(n, int(c), k) for n, c in zip(counts, passed, strict=True)]
                metrics[f"pass@{k}"] = float(np.mean(scores)) if scores else 0.0
        correct = passed / np.asarray(counts, dtype=float) if records else np.zeros(0)
        return Evaluation(metrics, correct, self.primary)


# -- judge --------------------------------------------------------------------------------------
class JudgeConfig(EvaluatorConfig):
    input_field: str = Field("instruction", description="field holding the instruction")
    verdict_field: str = Field(
        "winner", description='field with a precomputed pairwise verdict "a" | "b" | "tie"'
    )
    side: Literal["a", "b"] = Field("a", description="which side of the verdicts is the model")
    llm: dict[str, Any] | None = Field(
        None,
        description="judge endpoint (an `llms:` entry: backend, base_url, model, ...); with it the "
        "judge runs live on the model's predictions vs `baseline_field`",
    )
    baseline_field: str = Field("baseline", description="field with the baseline's output to compare with")
    reference_field: str | None = Field(None, description="optional reference answer shown to the judge")
    cache: str | None = Field(None, description="judge response cache file [default: ~/.cache/synthpipe]")


class JudgeEvaluator(_Base):
    """Win rate of the model's outputs against a baseline's, by an LLM judge asked in both
    orders (the `judge_pairwise` technique: MT-Bench pairwise, Zheng et al. 2023). With `llm`
    set the judge runs here on the predictions; without it, precomputed verdicts are counted."""

    name = "judge"
    primary = "win_rate"
    Config = JudgeConfig
    config: JudgeConfig

    def __init__(self, config: Any = None, /, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.experiment_ready = self.config.llm is not None  # live judging scores raw predictions

    def evaluate(
        self, records: Sequence[dict], predictions: Sequence[Any] | None = None
    ) -> Evaluation:
        """`predictions`: the model's outputs (judged live when `llm` is set), else verdicts per
        record; None reads ``verdict_field``."""
        from synthpipe.generate.llm_judge import win_rate

        cfg = self.config
        if predictions is not None and cfg.llm is not None:
            _same_length(records, predictions, self.name)
            verdicts = self._judge(records, predictions)
        elif predictions is not None:
            _same_length(records, predictions, self.name)
            verdicts = [str(p).strip().lower() for p in predictions]
        else:
            verdicts = [str(r.get(cfg.verdict_field, "")).strip().lower() for r in records]
        judged = [
            {"winner": v, "judge_consistent": r.get("judge_consistent", True)}
            for v, r in zip(verdicts, records, strict=True)
        ]
        metrics = win_rate(judged, side=cfg.side)
        score = {cfg.side: 1.0, "tie": 0.5}
        correct = np.array([score.get(v, 0.0) for v in verdicts if v in ("a", "b", "tie")])
        return Evaluation(metrics, correct, self.primary)

    def _judge(self, records: Sequence[dict], predictions: Sequence[Any]) -> list[str]:
        """Verdicts of the pairwise judge, prediction as response A, baseline as response B
        (the judge asks in both orders; a verdict that flips with the order is a tie)."""
        import asyncio

        from synthpipe.generate.llm_judge import PairwiseJudge
        from synthpipe.llm.config import LLMConfig
        from synthpipe.llm.pool import LLMPool
        from synthpipe.pipeline.step import StepContext

        cfg = self.config
        judge = PairwiseJudge(instruction_field="instruction", input_field=None, llm="judge",
                              reference_field="reference" if cfg.reference_field else None)  # fmt: skip
        rows = []
        for i, (r, p) in enumerate(zip(records, predictions, strict=True)):
            row = {"id": str(r.get("id", i)), "instruction": str(_value(r, cfg.input_field, i, self.name, "input_field")),
                   "response_a": str(p), "response_b": str(_value(r, cfg.baseline_field, i, self.name, "baseline_field"))}  # fmt: skip
            if cfg.reference_field:
                row["reference"] = str(r.get(cfg.reference_field) or "")
            rows.append(row)
        pool = LLMPool({"judge": LLMConfig(**cfg.llm)}, cache_path=Path(cfg.cache).expanduser() if cfg.cache else None)
        try:
            out = asyncio.run(judge.aprocess(rows, StepContext(name="judge", resources=pool)))
        finally:
            pool.close()
        by_id = {row["id"]: row for row in out}
        return [str(by_id[row["id"]].get("winner") or "") if not by_id[row["id"]].get("_drop") else ""
                for row in rows]  # fmt: skip


_EVALUATORS = {
    "classification": ClassificationEvaluator,
    "math": MathEvaluator,
    "code": CodeEvaluator,
    "judge": JudgeEvaluator,
}


def evaluator_names() -> list[str]:
    return sorted(_EVALUATORS)


def get_evaluator(name: str) -> type:
    """The evaluator class registered as `name`; build one with ``cls(config_dict)``."""
    if name not in _EVALUATORS:
        raise UsageError(
            f"unknown evaluator {name!r}: choose one of {', '.join(evaluator_names())}"
        )
    return _EVALUATORS[name]


__all__ = [
    "ClassificationEvaluator",
    "CodeEvaluator",
    "Evaluation",
    "JudgeEvaluator",
    "MathEvaluator",
    "evaluator_names",
    "get_evaluator",
    "gold_answer",
    "macro_f1",
]

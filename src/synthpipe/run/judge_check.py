"""Judges checked against people, for a run directory: its judge steps' verdicts (in the kept
and dropped outputs) against ``reviews.jsonl``. A run computes it at its end
(``metrics["judge_agreement"]``); ``synthpipe judge-agreement RUN_DIR`` computes it again from
a finished run directory without running anything, e.g. after more labels."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from synthpipe.errors import UsageError
from synthpipe.evaluate.judge_agreement import JUDGE_STEPS, JudgeStep, judge_agreement, read_judged
from synthpipe.run.reviews import latest_verdicts, read_reviews, reviews_path


def run_judge_agreement(root: str | Path, judges: Sequence[JudgeStep], fmt: str) -> dict | None:
    """The agreement block, or None when the run has no judge step or no labels."""
    root = Path(root)
    if not judges or not reviews_path(root).exists():
        return None
    records = read_judged([root / f"kept.{fmt}", root / f"dropped.{fmt}"], format=fmt)  # a file or shards
    return judge_agreement(judges, records, latest_verdicts(read_reviews(root)))


def recipe_judges(root: Path, threshold: float | None = None) -> list[JudgeStep]:
    """The judge steps of the run's recipe copy (``recipe.yaml``), with their configs."""
    path = root / "recipe.yaml"
    if not path.is_file():
        raise UsageError(f"{root} has no recipe.yaml: not a run directory")
    steps = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("steps") or {}
    return [JudgeStep.from_config(name, cfg["step"], cfg, threshold)
            for name, cfg in steps.items() if isinstance(cfg, dict) and cfg.get("step") in JUDGE_STEPS]  # fmt: skip


def judge_agreement_again(run_dir: str | Path, threshold: float | None = None) -> dict:
    """The agreement of a finished run's judges with its labels (`threshold`: pointwise judges
    that do not filter accept at or above it; default the middle of their scale)."""
    root = Path(run_dir)
    metrics = root / "metrics.json"
    if not metrics.is_file():
        raise UsageError(f"{root} is not a finished run directory (no metrics.json): run it to the end first")
    judges = recipe_judges(root, threshold)
    if not judges:
        raise UsageError(f"{root}: the run has no judge step (judge_score or judge_pairwise)")
    if not reviews_path(root).exists():
        raise UsageError(f"{root} has no reviews.jsonl: label records first (synthpipe review {root})")
    fmt = (json.loads(metrics.read_text(encoding="utf-8")).get("output") or {}).get("format", "jsonl")
    return run_judge_agreement(root, judges, fmt) or {}

"""The review app's queues: which of a run's kept and dropped records a person sees, in what order.

- ``random``: every record, shuffled with a seed (the same order for every reviewer, so
  several people labelling one queue overlap and their agreement can be measured);
- ``lowest_score``: records with a numeric score field (a field whose name contains
  "score", ``judge_score`` first), lowest first;
- ``judge_disagreement``: pairwise-judged records whose two orders disagreed
  (``judge_consistent`` false, or two different ``judge_verdicts``);
- ``near_threshold``: records whose ``_drop.detail`` holds a value and its threshold within
  `margin` (relative) of each other, else records whose score is that near `threshold`;
  nearest first;
- ``per_label``: round-robin over the values of the label field.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from itertools import zip_longest
from typing import Any

from synthpipe.data.records import DROP

QUEUES = ("random", "lowest_score", "judge_disagreement", "near_threshold", "per_label")
Item = tuple[str, dict]  # (status: kept | dropped, record)


def build_queue(
    items: list[Item], queue: str, *, seed: int = 0, threshold: float | None = None,
    margin: float = 0.1, label_field: str = "label",
) -> list[Item]:  # fmt: skip
    """`items` ordered (and filtered) for `queue`."""
    builders: dict[str, Callable[[], list[Item]]] = {
        "random": lambda: _random(items, seed),
        "lowest_score": lambda: _lowest_score(items),
        "judge_disagreement": lambda: [it for it in items if judge_disagrees(it[1])],
        "near_threshold": lambda: _near_threshold(items, threshold, margin),
        "per_label": lambda: _per_label(items, label_field),
    }
    if queue not in builders:
        raise ValueError(f"unknown queue {queue!r}: one of {', '.join(QUEUES)}")
    return builders[queue]()


def _random(items: list[Item], seed: int) -> list[Item]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def score_of(record: dict) -> float | None:
    """The record's judge score: ``judge_score`` if numeric, else the first numeric field
    whose name contains "score"."""
    if (score := _number(record.get("judge_score"))) is not None:
        return score
    return next((s for k, v in record.items() if "score" in k.lower() and (s := _number(v)) is not None), None)


def _lowest_score(items: list[Item]) -> list[Item]:
    scored = [(s, i, it) for i, it in enumerate(items) if (s := score_of(it[1])) is not None]
    return [it for _, _, it in sorted(scored)]


def judge_disagrees(record: dict) -> bool:
    verdicts = record.get("judge_verdicts")
    if isinstance(verdicts, list) and len(verdicts) == 2:
        return verdicts[0] != verdicts[1]
    return record.get("judge_consistent") is False


def threshold_distance(record: dict, threshold: float | None) -> float | None:
    """Relative distance of a value from its threshold: from a structured drop detail
    (a numeric key naming a threshold, and another numeric value), else score vs `threshold`."""
    detail = (record.get(DROP) or {}).get("detail")
    if isinstance(detail, dict):
        limits = [(k, n) for k, v in detail.items() if "threshold" in k.lower() and (n := _number(v)) is not None]
        values = [n for k, v in detail.items() if "threshold" not in k.lower() and (n := _number(v)) is not None]
        if limits and values:
            limit = limits[0][1]
            value = _number(detail.get("value")) if _number(detail.get("value")) is not None else values[0]
            return abs(value - limit) / max(abs(limit), 1e-9)
    score = score_of(record)
    if threshold is None or score is None:
        return None
    return abs(score - threshold) / max(abs(threshold), 1e-9)


def _near_threshold(items: list[Item], threshold: float | None, margin: float) -> list[Item]:
    near = [(d, i, it) for i, it in enumerate(items)
            if (d := threshold_distance(it[1], threshold)) is not None and d <= margin]  # fmt: skip
    return [it for _, _, it in sorted(near)]


def _per_label(items: list[Item], field: str) -> list[Item]:
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        groups[str(it[1].get(field))].append(it)
    rounds = zip_longest(*(groups[k] for k in sorted(groups)))
    return [it for row in rounds for it in row if it is not None]

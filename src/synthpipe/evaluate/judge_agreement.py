"""How far to trust an LLM judge: its verdicts against human review labels on the same records.

Cite: Jacob Cohen. 1960. "A Coefficient of Agreement for Nominal Scales". Educational and
Psychological Measurement 20(1). J. Richard Landis and Gary G. Koch. 1977. "The Measurement of
Observer Agreement for Categorical Data". Biometrics 33(1) (the kappa bands). Edwin B. Wilson.
1927. "Probable Inference, the Law of Succession, and Statistical Inference". JASA 22 (the
accuracy interval). Lianmin Zheng et al. 2023. "Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena", arXiv:2306.05685 (position bias, measured by swapping the order).

Input: the run's records (kept and dropped: a judge's drops are verdicts too) carrying the
judges' fields (``judge_score``; ``judge_verdicts`` of ``judge_pairwise``; a value a reviewer
edited is read from ``_lineage.human_edit``), and each reviewer's latest line of
``reviews.jsonl`` per record (``verdict`` accept | reject | skip, ``edit``). Output: per judge step, ``n``, ``accuracy`` with a Wilson interval, Cohen's
``kappa`` and its Landis & Koch reading, the ``confusion`` matrix (rows: people, columns: the
judge), a ``too_few`` flag under :data:`MIN_LABELS`; for pairwise judges the position bias.

How a judge's output becomes a verdict:
- ``judge_score``: accept when ``judge_score >= threshold``; the threshold is the step's own
  ``min_score`` when it filters (so the verdict is its keep/drop), else the ``threshold``
  argument, else the middle of the step's scale ((1 + scale) / 2: 5.5 on the default 1-10).
- ``judge_pairwise``: the preferred side ("a" | "b" | "tie"; a tie when the two orders
  disagree) against the people's preference, which a reviewer gives by editing ``winner``;
  and, when it filters (``inconsistent: drop``), its keep/drop against accept/reject.

People's labels: the latest line per (reviewer, record) wins; ``skip`` is no label; with
several reviewers the majority counts and ties are excluded (and counted).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthpipe.data.readers import read_records
from synthpipe.data.records import DROP, ID, LINEAGE

MIN_LABELS = 20  # below this many labelled records an accuracy or a kappa is mostly noise
JUDGE_STEPS = ("judge_score", "judge_pairwise")
KEEP_LABELS = ("accept", "reject")
SIDE_LABELS = ("a", "b", "tie")
# the fields a judge verdict needs: records are trimmed to these while reading a run
FIELDS = (ID, DROP, "judge_score", "judge_verdicts")
VERDICT_FIELDS = ("judge_score", "judge_verdicts")
_BANDS = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"))  # upper bounds


@dataclass(frozen=True)
class JudgeStep:
    """One judge step of a run: its name, registry name and the config bits a verdict needs."""

    name: str
    step: str  # "judge_score" | "judge_pairwise"
    threshold: float | None = None  # judge_score: accept at or above
    threshold_from: str = "default"  # "min_score" | "argument" | "default"
    drops_inconsistent: bool = False  # judge_pairwise with inconsistent: drop

    @classmethod
    def from_config(cls, name: str, step: str, config: dict, threshold: float | None = None) -> JudgeStep:
        """From a step's config; `threshold` applies to a pointwise judge without ``min_score``."""
        if step == "judge_pairwise":
            return cls(name, step, drops_inconsistent=config.get("inconsistent") == "drop")
        if config.get("min_score") is not None:
            return cls(name, step, float(config["min_score"]), "min_score")
        if threshold is not None:
            return cls(name, step, float(threshold), "argument")
        return cls(name, step, (1 + float(config.get("scale", 10))) / 2, "default")


# -- people's labels ---------------------------------------------------------------------------
def majority(votes: Sequence[str]) -> str | None:
    """The most common vote, or None when there is none or the top is tied."""
    top = Counter(votes).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def human_labels(latest: dict[str, dict[str, dict]], vote) -> tuple[dict[str, str], int]:
    """``({record_id: label}, ties)`` from each reviewer's latest review; `vote(review)` gives
    a reviewer's label or None. Records whose reviewers tie are left out and counted."""
    labels, ties = {}, 0
    for record_id, by_reviewer in latest.items():
        votes = [v for v in map(vote, by_reviewer.values()) if v is not None]
        if votes and (label := majority(votes)) is not None:
            labels[record_id] = label
        elif votes:
            ties += 1
    return labels, ties


def keep_vote(review: dict) -> str | None:
    return review.get("verdict") if review.get("verdict") in KEEP_LABELS else None


def preference_vote(review: dict) -> str | None:
    winner = (review.get("edit") or {}).get("winner")
    return winner if winner in SIDE_LABELS else None


# -- statistics --------------------------------------------------------------------------------
def confusion_matrix(people: Sequence[str], judge: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts with rows = the people's label, columns = the judge's, in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for p, j in zip(people, judge, strict=True):
        matrix[index[p]][index[j]] += 1
    return matrix


def cohen_kappa(matrix: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa from a confusion matrix; None when chance agreement is 1 (one label only)."""
    n = sum(map(sum, matrix))
    if n == 0:
        return None
    observed = sum(matrix[i][i] for i in range(len(matrix))) / n
    rows = [sum(row) / n for row in matrix]
    cols = [sum(col) / n for col in zip(*matrix, strict=True)]
    expected = sum(r * c for r, c in zip(rows, cols, strict=True))
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def kappa_reading(kappa: float | None) -> str | None:
    """Landis & Koch (1977): poor < 0, slight, fair, moderate, substantial, almost perfect > 0.8."""
    if kappa is None:
        return None
    if kappa < 0:
        return "poor"
    return next((name for bound, name in _BANDS if kappa <= bound), "almost perfect")


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); stays inside [0, 1]."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def agreement(people: Sequence[str], judge: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy (Wilson 95% interval), kappa, its reading and the confusion matrix."""
    matrix = confusion_matrix(people, judge, labels)
    n = len(people)
    hits = sum(matrix[i][i] for i in range(len(labels)))
    interval = wilson_interval(hits, n)
    kappa = cohen_kappa(matrix)
    return {
        "n": n,
        "accuracy": round(hits / n, 4) if n else None,
        "interval": None if interval is None else {"low": round(interval[0], 4), "high": round(interval[1], 4),
                                                   "ci": 0.95, "method": "wilson"},  # fmt: skip
        "kappa": None if kappa is None else round(kappa, 4),
        "kappa_reading": kappa_reading(kappa),
        "labels": list(labels),
        "confusion": matrix,
        "too_few": n < MIN_LABELS,
    }


def position_bias(records: Iterable[dict]) -> dict[str, Any]:
    """From a pairwise judge's verdicts in both orders (no people needed): the share of pairs
    whose verdict changes when the order is swapped, and the shares that pick whatever was
    shown first (or second) in both orders."""
    pairs = flips = first = second = 0
    for record in records:
        verdicts = judge_value(record, "judge_verdicts")
        if not (isinstance(verdicts, list) and len(verdicts) == 2):
            continue
        pairs += 1
        flips += verdicts[0] != verdicts[1]
        first += verdicts == ["a", "b"]  # (A, B) picked a, (B, A) picked b: the first slot twice
        second += verdicts == ["b", "a"]

    def share(k: int) -> float | None:
        return round(k / pairs, 4) if pairs else None

    return {"pairs": pairs, "flipped": flips, "position_bias_rate": share(flips),
            "first_position_rate": share(first), "second_position_rate": share(second)}  # fmt: skip


# -- judge verdicts ------------------------------------------------------------------------------
def judge_value(record: dict, field: str) -> Any:
    """The judge's own value of `field`: the old value when a reviewer's edit replaced it."""
    edited = ((record.get(LINEAGE) or {}).get("human_edit") or {}).get(field)
    return edited["old"] if isinstance(edited, dict) and "old" in edited else record.get(field)


def pointwise_verdict(record: dict, judge: JudgeStep) -> str | None:
    score = judge_value(record, "judge_score")
    if not isinstance(score, int | float) or isinstance(score, bool) or judge.threshold is None:
        return None
    return "accept" if score >= judge.threshold else "reject"


def pairwise_side(record: dict) -> str | None:
    """The judge's side from both orders (not ``winner``, which a human edit may replace)."""
    verdicts = judge_value(record, "judge_verdicts")
    if not (isinstance(verdicts, list) and len(verdicts) == 2):
        return None
    return verdicts[0] if verdicts[0] == verdicts[1] else "tie"


def pairwise_keep(record: dict, judge: JudgeStep) -> str | None:
    """Kept or dropped by this judge: only ``inconsistent: drop`` drops (order-dependent pairs)."""
    if pairwise_side(record) is None:
        return None
    first, second = judge_value(record, "judge_verdicts")
    return "reject" if judge.drops_inconsistent and first != second else "accept"


def _compare(labels: dict[str, str], verdicts: dict[str, str], names: Sequence[str]) -> dict[str, Any] | None:
    if not labels:
        return None
    ids = [i for i in labels if i in verdicts]
    out = agreement([labels[i] for i in ids], [verdicts[i] for i in ids], names)
    return {**out, "unjudged": len(labels) - len(ids)}


def judge_agreement(
    judges: Sequence[JudgeStep], records: Iterable[dict], latest: dict[str, dict[str, dict]]
) -> dict[str, Any]:
    """The ``judge_agreement`` block of metrics.json (see the module docstring). `latest` is
    ``{record_id: {reviewer: their latest review}}`` (``synthpipe.run.reviews.latest_verdicts``)."""
    records = [r for r in records if r.get(ID) is not None]
    keep, keep_ties = human_labels(latest, keep_vote)
    prefer, prefer_ties = human_labels(latest, preference_vote)
    out: dict[str, Any] = {
        "min_labels": MIN_LABELS,
        "labels": {"records": len(latest), "reviewers": len({r for by in latest.values() for r in by}),
                   "accept_reject": len(keep), "ties_excluded": keep_ties,
                   "preferences": len(prefer), "preference_ties_excluded": prefer_ties},  # fmt: skip
        "judges": [],
    }
    last = _last_of_each(judges)
    out["judges"] = [_one_judge(judge, records, keep, prefer) for judge in last]
    if shadowed := [j.name for j in judges if j.step in JUDGE_STEPS and j not in last]:
        out["shadowed"] = shadowed  # their fields were overwritten by a later judge of the kind
    return out


def _last_of_each(judges: Sequence[JudgeStep]) -> list[JudgeStep]:
    """Judges of one kind write the same fields: a record carries the last one's verdict."""
    last = {j.step: j for j in judges if j.step in JUDGE_STEPS}
    return [j for j in judges if last.get(j.step) is j]


def _one_judge(judge: JudgeStep, records: list[dict], keep: dict, prefer: dict) -> dict[str, Any]:
    row: dict[str, Any] = {"step": judge.name, "kind": judge.step}
    if judge.step == "judge_score":
        verdicts = {str(r[ID]): v for r in records if (v := pointwise_verdict(r, judge)) is not None}
        row |= {"threshold": judge.threshold, "threshold_from": judge.threshold_from,
                "agreement": _compare(keep, verdicts, KEEP_LABELS)}  # fmt: skip
        return row
    sides = {str(r[ID]): s for r in records if (s := pairwise_side(r)) is not None}
    kept = {str(r[ID]): v for r in records if (v := pairwise_keep(r, judge)) is not None}
    # a judge that keeps every pair (inconsistent: tie) has no keep/drop verdict to compare
    row["agreement"] = _compare(keep, kept, KEEP_LABELS) if judge.drops_inconsistent else None
    row["preference"] = _compare(prefer, sides, SIDE_LABELS)
    row["position_bias"] = position_bias(records)
    return row


def trimmed(record: dict) -> dict:
    """The few fields a verdict needs (and the judge's values a reviewer's edit replaced)."""
    out = {k: record[k] for k in FIELDS if k in record}
    edits = (record.get(LINEAGE) or {}).get("human_edit") or {}
    if kept := {k: v for k, v in edits.items() if k in VERDICT_FIELDS}:
        out[LINEAGE] = {"human_edit": kept}
    return out


def read_judged(paths: Iterable[str | Path], format: str | None = None) -> Iterator[dict]:
    """The records of a run's outputs (kept and dropped), trimmed to what a verdict needs."""
    for path in paths:
        if Path(path).exists():
            for batch in read_records(path, format=format):
                yield from (trimmed(r) for r in batch)


__all__ = [
    "MIN_LABELS",
    "JudgeStep",
    "agreement",
    "cohen_kappa",
    "confusion_matrix",
    "judge_agreement",
    "kappa_reading",
    "majority",
    "position_bias",
    "read_judged",
    "trimmed",
    "wilson_interval",
]

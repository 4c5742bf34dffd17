"""Label distributions: counts of a label field, and how far the kept labels drifted from the
seeds the generator started from and from the real (reference) data.

A generator can keep the records of one label far more often than another (a filter that
prefers one sentiment, a template that dedups badly): the kept set then teaches the label
prior, not the task. :func:`label_drift` measures it; the verdict is
:func:`~synthpipe.audit.signatures.signatures` ("label drift").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthpipe.audit.intervals import wilson_interval


def _label(value: Any) -> str:
    return "(missing)" if value is None else str(value)


def label_counts(records: Sequence[dict], field: str) -> dict[str, Any] | None:
    """``{"field", "counts", "fractions", "n_labels"}`` of ``field`` over ``records`` (most
    frequent first), or None when no record has the field."""
    values = [r.get(field) for r in records]
    if not any(v is not None for v in values):
        return None
    counts = Counter(_label(v) for v in values)
    total = sum(counts.values())
    ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "field": field,
        "counts": ordered,
        "fractions": {k: v / total for k, v in ordered.items()},
        "n_labels": len(counts),
    }


def _distribution(labels: Sequence[Any]) -> tuple[Counter[str], int]:
    counts = Counter(_label(v) for v in labels if v is not None)
    return counts, sum(counts.values())


def compare_labels(kept: Sequence[Any], anchor: Sequence[Any]) -> dict[str, Any] | None:
    """Kept labels vs an anchor set: total variation and the label whose share moved most.

    Returns ``{"n", "distribution", "tv", "largest_shift": {"label", "kept", "anchor",
    "delta", "kept_ci"}}`` (``n`` and ``distribution`` of the anchor; ``kept_ci`` the 95%
    Wilson interval of the kept share), or None when either side has no label.
    """
    ck, nk = _distribution(kept)
    ca, na = _distribution(anchor)
    if not nk or not na:
        return None
    keys = sorted(set(ck) | set(ca))
    pk = {k: ck[k] / nk for k in keys}
    pa = {k: ca[k] / na for k in keys}
    top = max(
        keys, key=lambda k: (round(abs(pk[k] - pa[k]), 12), pk[k] - pa[k], k)
    )  # ties: the gainer
    return {
        "n": na,
        "distribution": pa,
        "tv": 0.5 * sum(abs(pk[k] - pa[k]) for k in keys),
        "largest_shift": {
            "label": top,
            "kept": pk[top],
            "anchor": pa[top],
            "delta": pk[top] - pa[top],
            "kept_ci": list(wilson_interval(ck[top], nk)),
        },
    }


def label_drift(
    kept: Sequence[Any], seeds: Sequence[Any] | None = None, reference: Sequence[Any] | None = None
) -> dict[str, Any] | None:
    """The kept labels against the seeds and the reference (each optional).

    Returns ``{"n", "distribution", "seeds": comparison|None, "reference": comparison|None}``
    (:func:`compare_labels`), or None when no kept record has a label or there is nothing to
    compare with.
    """
    ck, nk = _distribution(kept)
    if not nk:
        return None
    out: dict[str, Any] = {"n": nk, "distribution": {k: v / nk for k, v in sorted(ck.items())}}
    out["seeds"] = compare_labels(kept, seeds) if seeds else None
    out["reference"] = compare_labels(kept, reference) if reference else None
    if out["seeds"] is None and out["reference"] is None:
        return None
    return out

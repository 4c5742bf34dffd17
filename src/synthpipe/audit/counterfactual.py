"""Counterfactual gender swaps for probing a generator or a judge.

The swap itself (:func:`swap_gender`, its lexicons and the his/him/her heuristic) lives in
:mod:`synthpipe.text.gender_swap`, shared with curation's counterfactual data augmentation.
Comparing a model's output or score on the original and the swap is the counterfactual-fairness
probe of e.g. Lu et al. 2020 ("Gender Bias in Neural Natural Language Processing") and HELM's
perturbation-based fairness (Liang et al. 2022).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from synthpipe.text.gender_swap import swap_gender

__all__ = ["counterfactual_pairs", "swap_gender"]


def counterfactual_pairs(
    records: Iterable[Mapping[str, Any]], field: str, only_changed: bool = True
) -> list[tuple[str, str]]:
    """``(original, swapped)`` for ``record[field]`` of each record (string fields only).

    With ``only_changed`` (default) records whose text has nothing to swap are dropped, since they
    cannot probe anything. Records missing ``field`` or with a non-string value are skipped.
    """
    out = []
    for rec in records:
        value = rec.get(field)
        if not isinstance(value, str):
            continue
        swapped = swap_gender(value)
        if swapped != value or not only_changed:
            out.append((value, swapped))
    return out

"""Gendered-word shares of records, and the seeded choice of records that moves a share to a target.

Counting is the audit's (:func:`synthpipe.text.gender_swap.gender_word_counts`: terms and
pronouns, no names), so a mitigation step aims at the figure the audit reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from synthpipe.data.records import Record
from synthpipe.data.sampling import mix_seed
from synthpipe.text.gender_swap import gender_word_counts
from synthpipe.text.record_paths import get_path

#: How choosing a record changes the counts: dropped, a swapped copy added, or swapped in place.
Action = Literal["drop", "add", "replace"]


def record_counts(record: Record, fields: Sequence[str]) -> tuple[int, int]:
    """(male, female) gendered words over the record's string `fields`."""
    male = female = 0
    for path in fields:
        value = get_path(record, path)
        if isinstance(value, str):
            counts = gender_word_counts(value)
            male, female = male + counts["male"], female + counts["female"]
    return male, female


def female_share(male: int, female: int) -> float | None:
    return female / (male + female) if male + female else None


def seeded_order(keys: Iterable[str], *seed: object) -> list[str]:
    """`keys` in a stable pseudo-random order (same seed, same order, on any machine)."""
    return sorted(keys, key=lambda k: (mix_seed(*seed, k), k))


def _moved(male: int, female: int, m: int, f: int, action: Action) -> tuple[int, int]:
    if action == "drop":
        return male - m, female - f
    if action == "add":  # the swapped copy brings f male and m female words
        return male + f, female + m
    return male + f - m, female + m - f


def choose_toward(
    candidates: Sequence[tuple[str, int, int]], male: int, female: int, target: float,
    action: Action, tolerance: float = 0.0,
) -> tuple[list[str], int, int]:  # fmt: skip
    """Walk `candidates` ``(key, male, female)`` in order, choosing each one whose `action`
    brings the female share closer to `target`, until it is within `tolerance`. Returns the
    chosen keys and the (male, female) counts after them."""
    chosen: list[str] = []
    for key, m, f in candidates:
        share = female_share(male, female)
        if share is None or abs(share - target) <= tolerance:
            break
        new_male, new_female = _moved(male, female, m, f, action)
        new = female_share(new_male, new_female)
        if new is not None and abs(new - target) < abs(share - target):
            chosen.append(key)
            male, female = new_male, new_female
    return chosen, male, female


def over_group(male: int, female: int, target: float) -> str | None:
    """The group above its target share (None when balanced or nothing is gendered)."""
    share = female_share(male, female)
    if share is None or share == target:
        return None
    return "male" if share < target else "female"


def leans(m: int, f: int, group: str) -> bool:
    """The record has more words of `group` than of the other: swapping or dropping it helps."""
    return m > f if group == "male" else f > m

"""``counterfactual_augment``: gender-swapped copies of records (counterfactual data augmentation).

For every record whose text mentions gendered words or lexicon first names, a copy with them
swapped (:func:`synthpipe.text.gender_swap.swap_gender`: he <-> she, man <-> woman, Mary <->
James, "her car" -> "his car", "saw her." -> "saw him.") is added with id ``<id>~cda``; both
directions, female -> male and male -> female. ``mode: replace`` substitutes the copy for the
original instead (counterfactual data substitution): the original goes to the ledger as
``cda_replaced``. ``only: underrepresented`` swaps only records leaning to the over-represented
gender, in a seeded order, and stops when the female share of gendered words (the audit's
measure) is as close to ``target`` as the records allow. Records without gendered words pass
through unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Literal

from pydantic import Field

from synthpipe.curate.bias_mitigation.facts import rebatched, write_facts
from synthpipe.curate.bias_mitigation.shares import (
    choose_toward,
    female_share,
    leans,
    over_group,
    record_counts,
    seeded_order,
)
from synthpipe.data.records import ID, LINEAGE, Batch, Record, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext
from synthpipe.text.gender_swap import swap_gender_with_changes
from synthpipe.text.record_paths import get_path, root, set_path

SUFFIX = "~cda"


class CounterfactualAugmentConfig(StepConfig):
    fields: list[str] = Field(["text"], min_length=1, description="text fields to swap (dotted paths allowed)")
    mode: Literal["add", "replace"] = Field("add", description="add the swapped copy, or replace the original by it")
    only: Literal["all", "underrepresented"] = Field(
        "all", description="swap every gendered record, or only those of the over-represented gender, toward `target`"
    )
    target: float = Field(0.5, ge=0, le=1, description="female share of gendered words aimed at with only: underrepresented")
    names: bool = Field(True, description="swap lexicon first names too (Mary <-> James)")


def swapped_copy(record: Record, fields: list[str], names: bool, step: str) -> Record | None:
    """The record with its gendered words swapped, id ``<id>~cda`` and lineage naming the
    source and the swaps; None when nothing in `fields` is gendered."""
    made = copy.deepcopy({k: v for k, v in record.items() if k != LINEAGE})
    swaps = {}
    for path in fields:
        value = get_path(record, path)
        if isinstance(value, str):
            text, changes = swap_gender_with_changes(value, names)
            if changes:
                set_path(made, path, text)
                swaps[path] = [list(c) for c in changes]
    if not swaps:
        return None
    made[ID] = f"{record[ID]}{SUFFIX}"
    made[LINEAGE] = {**(record.get(LINEAGE) or {}),
                     step: {"technique": "counterfactual_augment", "source_id": record[ID], "swaps": swaps}}  # fmt: skip
    return made


@register_step("counterfactual_augment")
class CounterfactualAugment(GlobalStep):
    """Adds a gender-swapped copy of each record that mentions gendered words or names.

    Both directions (he -> she and she -> he), "her" resolved to "his" or "him" by the next word;
    ``only: underrepresented`` swaps only records of the over-represented gender until the
    female share of gendered words is nearest ``target``. Before/after shares go to the report.

    Input columns: `fields` (str; other types are left alone).
    Output columns: `fields`, swapped, on new records ``<id>~cda``; their lineage holds
    ``source_id`` and ``swaps`` (per field, the ``[word, replacement]`` pairs).
    Drop reasons: ``cda_replaced`` (``mode: replace``; detail: the id of the copy that replaced it).
    References: Lu et al. (2020), "Gender Bias in Neural Natural Language Processing"
    (counterfactual data augmentation), arXiv:1807.11714; Zmigrod et al. (2019), "Counterfactual
    Data Augmentation for Mitigating Gender Stereotypes in Languages with Rich Morphology", ACL
    (swaps that keep the sentence grammatical); Maudslay et al. (2019), "It's All in the Name:
    Mitigating Gender Bias with Name-Based Counterfactual Data Substitution", EMNLP (``replace``,
    name swaps).
    """

    Config = CounterfactualAugmentConfig
    config: CounterfactualAugmentConfig
    drop_reasons = ("cda_replaced",)

    def input_columns(self) -> set[str]:
        return {root(p) for p in self.config.fields}

    def output_columns(self) -> set[str]:
        return self.input_columns()

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        cfg = self.config
        chosen = self._chosen(batches, ctx) if cfg.only == "underrepresented" else None
        tally = {"before": [0, 0], "after": [0, 0], "added": 0, "removed": 0}
        outputs = (self._one(record, chosen, ctx, tally) for batch in batches() for record in batch)
        yield from rebatched(outputs, ctx.batch_size)
        write_facts(ctx, {"step": "counterfactual_augment", "axis": "gender", "unit": "gendered words",
                          "target": {"female": cfg.target} if cfg.only == "underrepresented" else None,
                          "before": _shares(*tally["before"]), "after": _shares(*tally["after"]),
                          "added": tally["added"], "removed": tally["removed"]})  # fmt: skip

    def _one(self, record: Record, chosen: set[str] | None, ctx: StepContext, tally: dict) -> Batch:
        if is_dropped(record):
            return [record]
        cfg = self.config
        m, f = record_counts(record, cfg.fields)
        _add(tally["before"], m, f)
        made = None if chosen is not None and str(record[ID]) not in chosen else \
            swapped_copy(record, cfg.fields, cfg.names, ctx.name)  # fmt: skip
        if made is None:
            _add(tally["after"], m, f)
            return [record]
        _add(tally["after"], f, m)  # the copy's counts are the original's, swapped
        if cfg.mode == "add":
            _add(tally["after"], m, f)
            tally["added"] += 1
            return [record, made]
        drop(record, ctx.name, "cda_replaced", {"replaced_by": made[ID]})
        tally["removed"] += 1
        tally["added"] += 1
        return [record, made]

    def _chosen(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> set[str]:
        """Ids of the records to swap so the female share moves nearest the target."""
        cfg = self.config
        counts = {str(r[ID]): record_counts(r, cfg.fields) for b in batches() for r in b if not is_dropped(r)}
        male, female = sum(m for m, _ in counts.values()), sum(f for _, f in counts.values())
        group = over_group(male, female, cfg.target)
        if group is None:
            return set()
        order = seeded_order((k for k, (m, f) in counts.items() if leans(m, f, group)), ctx.seed, ctx.name)
        action = "add" if cfg.mode == "add" else "replace"
        keys, _, _ = choose_toward([(k, *counts[k]) for k in order], male, female, cfg.target, action)
        return set(keys)


def _add(pair: list[int], m: int, f: int) -> None:
    pair[0] += m
    pair[1] += f


def _shares(male: int, female: int) -> dict[str, float] | None:
    share = female_share(male, female)
    return None if share is None else {"female": share, "male": 1 - share, "words": male + female}

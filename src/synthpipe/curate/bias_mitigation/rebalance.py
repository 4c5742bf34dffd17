"""``rebalance``: bring the distribution over an axis to target shares (global step).

Axes: ``gender``, the share of gendered words (the audit's counting: terms and pronouns, see
:mod:`synthpipe.curate.bias_mitigation.shares`), or ``label``, the share of records per value
of `label_field`. Over-represented groups are downsampled in a seeded order (same seed, same
records) until every share is within `tolerance` of its target; the removed records go to the
ledger as ``rebalanced``. On the gender axis, ``upsample: counterfactual`` adds gender-swapped
copies of records of the over-represented gender instead of dropping anything.

Generating more records for an under-represented group through the generation steps is not done
here: a step cannot call the generator upstream of it. Pair the recipe with ``target: {kept: N}``
(:mod:`synthpipe.run.target`), which regenerates in rounds until N records survive every step,
this one included: each round brings new records of every group, this step trims the
over-represented ones, so the under-represented groups grow by generation until N balanced
records remain (e.g. ``target: {kept: 300}`` over ``slot_template`` on the TREC seeds with
``rebalance: {axis: label, target: {HUM: 0.5}}`` delivers 300 records, 150 of them HUM, in 2
rounds). What this step implements: seeded downsampling on both axes and counterfactual
upsampling on the gender axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from pydantic import Field, model_validator

from synthpipe.curate.bias_mitigation.counterfactual_augment import swapped_copy
from synthpipe.curate.bias_mitigation.facts import rebatched, write_facts
from synthpipe.curate.bias_mitigation.shares import (
    choose_toward,
    female_share,
    leans,
    over_group,
    record_counts,
    seeded_order,
)
from synthpipe.data.records import ID, Batch, Record, drop, is_dropped
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext
from synthpipe.text.record_paths import get_path, root

REASON = "rebalanced"
GENDERS = ("male", "female")


class RebalanceConfig(StepConfig):
    axis: Literal["gender", "label"] = Field("gender", description="gender (share of gendered words) or label (share of records)")
    fields: list[str] = Field(["text"], min_length=1, description="text fields counted and swapped on the gender axis")
    label_field: str = Field("label", description="field holding the group on the label axis")
    target: dict[str, float] = Field(
        {}, description="share per group; groups not named split the rest equally; empty = uniform"
    )
    tolerance: float = Field(0.02, ge=0, le=1, description="a share this close to its target is on target")
    upsample: Literal["none", "counterfactual"] = Field(
        "none", description="counterfactual: add swapped copies of the over-represented gender instead of dropping"
    )
    names: bool = Field(True, description="swap first names too in counterfactual copies")

    @model_validator(mode="after")
    def _check(self) -> RebalanceConfig:
        if self.upsample == "counterfactual" and self.axis != "gender":
            raise ValueError("upsample: counterfactual works on the gender axis only (a swap keeps the label)")
        if self.axis == "gender" and not set(self.target) <= set(GENDERS):
            raise ValueError(f"the gender axis has the groups male and female, got {sorted(self.target)}")
        if sum(self.target.values()) > 1 + 1e-9 or any(v < 0 for v in self.target.values()):
            raise ValueError(f"target shares must be >= 0 and sum to at most 1, got {self.target}")
        return self


def target_shares(target: dict[str, float], groups: list[str]) -> dict[str, float]:
    """Shares for every group: the named ones as given, the rest splitting what is left."""
    rest = [g for g in groups if g not in target]
    left = max(0.0, 1 - sum(target.values()))
    return {**{g: v for g, v in target.items() if g in groups}, **{g: left / len(rest) for g in rest}}


@register_step("rebalance")
class Rebalance(GlobalStep):
    """Downsamples (or counterfactually upsamples) over-represented groups to target shares.

    See the module docstring for the axes and what "generate more" means here.

    Input columns: `fields` (gender axis) or `label_field` (label axis).
    Output columns: none on downsampling; with ``upsample: counterfactual``, new records
    ``<id>~cda`` with `fields` swapped (lineage: ``source_id``, ``swaps``).
    Drop reasons: ``rebalanced`` (detail: group, target_share, share_before).
    References: Lu et al. (2020), "Gender Bias in Neural Natural Language Processing" (counterfactual
    upsampling); Japkowicz & Stephen (2002), "The class imbalance problem: A systematic study"
    (random undersampling).
    """

    Config = RebalanceConfig
    config: RebalanceConfig
    drop_reasons = (REASON,)

    def input_columns(self) -> set[str]:
        cfg = self.config
        return {root(p) for p in cfg.fields} if cfg.axis == "gender" else {root(cfg.label_field)}

    def output_columns(self) -> set[str]:
        return self.input_columns() if self.config.upsample == "counterfactual" else set()

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        plan = self._gender_plan(batches, ctx) if self.config.axis == "gender" else self._label_plan(batches, ctx)
        chosen, details, facts = plan
        outputs = (self._one(record, chosen, details, ctx) for batch in batches() for record in batch)
        yield from rebatched(outputs, ctx.batch_size)
        write_facts(ctx, facts)

    def _one(self, record: Record, chosen: set[str], details: dict, ctx: StepContext) -> Batch:
        key = str(record.get(ID))
        if is_dropped(record) or key not in chosen:
            return [record]
        if self.config.upsample == "counterfactual":
            made = swapped_copy(record, self.config.fields, self.config.names, ctx.name)
            return [record] if made is None else [record, made]
        drop(record, ctx.name, REASON, details[key])
        return [record]

    # -- gender: shares of gendered words ---------------------------------------------------------
    def _gender_plan(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> tuple[set, dict, dict]:
        cfg = self.config
        counts = {str(r[ID]): record_counts(r, cfg.fields) for b in batches() for r in b if not is_dropped(r)}
        male, female = sum(m for m, _ in counts.values()), sum(f for _, f in counts.values())
        target = target_shares(cfg.target, list(GENDERS))["female"]
        before = female_share(male, female)
        group = over_group(male, female, target)
        keys: list[str] = []
        after = (male, female)
        if group is not None and abs(before - target) > cfg.tolerance:
            order = seeded_order((k for k, (m, f) in counts.items() if leans(m, f, group)), ctx.seed, ctx.name)
            action = "add" if cfg.upsample == "counterfactual" else "drop"
            keys, *after = choose_toward([(k, *counts[k]) for k in order], male, female, target, action, cfg.tolerance)
        detail = {"group": group, "target_share": 1 - target if group == "male" else target,
                  "share_before": None if before is None else (1 - before if group == "male" else before)}  # fmt: skip
        adding = cfg.upsample == "counterfactual"
        facts = {"step": "rebalance", "axis": "gender", "unit": "gendered words",
                 "target": {"female": target, "male": 1 - target}, "before": _gender(male, female),
                 "after": _gender(*after), "added": len(keys) if adding else 0,
                 "removed": 0 if adding else len(keys)}  # fmt: skip
        return set(keys), dict.fromkeys(keys, detail), facts

    # -- label: shares of records -----------------------------------------------------------------
    def _label_plan(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> tuple[set, dict, dict]:
        cfg = self.config
        groups: dict[str, list[str]] = {}
        for batch in batches():
            for r in batch:
                label = get_path(r, cfg.label_field)
                if not is_dropped(r) and label is not None:
                    groups.setdefault(str(label), []).append(str(r[ID]))
        n = {g: len(ids) for g, ids in groups.items()}
        total = sum(n.values())
        target = target_shares(cfg.target, sorted(groups))
        before = {g: n[g] / total for g in n} if total else {}
        keep = _label_keep(n, target) if any(abs(before[g] - target[g]) > cfg.tolerance for g in n) else n
        chosen, details = set(), {}
        for g, ids in groups.items():
            removed = seeded_order(ids, ctx.seed, ctx.name, g)[keep[g]:]
            chosen.update(removed)
            details.update(dict.fromkeys(removed, {"group": g, "target_share": target[g], "share_before": before[g]}))
        kept_total = sum(keep.values())
        facts = {"step": "rebalance", "axis": "label", "unit": "records", "target": target, "before": before,
                 "after": {g: keep[g] / kept_total for g in keep} if kept_total else {},
                 "added": 0, "removed": len(chosen)}  # fmt: skip
        return chosen, details, facts


def _label_keep(n: dict[str, int], target: dict[str, float]) -> dict[str, int]:
    """Records to keep per group: the largest total whose groups all have enough records."""
    sizes = [n[g] / t for g, t in target.items() if t > 0 and g in n]
    if not sizes:
        return n
    total = min(sizes)
    return {g: min(n[g], round(target[g] * total)) for g in n}


def _gender(male: int, female: int) -> dict[str, float] | None:
    share = female_share(male, female)
    return None if share is None else {"female": share, "male": 1 - share, "words": male + female}


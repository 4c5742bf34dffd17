"""Does this selection help? The selected records against random subsets of the same size.

A selection picks ``k`` records out of a pool; the experiment trains on them and on ``draws``
random ``k``-record subsets of the same pool (the same training seeds for each) and scores all
on the real test set. Two kinds:

- **score**: the top ``k`` records by a numeric field (``score: ifd``, ``direction: highest`` or
  ``lowest``), ``k`` a count or a fraction of the pool; the pool is a variant's training data
  (the run's kept records by default, ``synthetic-unfiltered``, ``real``, ``seeds-only`` or an
  extra variant). Records without a numeric score are left out of the pool, with a note.
  ``stratify: true`` takes the top records within each label instead, in proportion to the
  pool's label counts, and draws the random subsets the same way: a score that tracks the
  label (IFD with an instruction that names it does) otherwise selects a class, not quality.
- **filter**: the run's kept records against random subsets of kept + what the named step(s)
  dropped (the ledger's ``_drop.step``, optionally only some ``reasons``), i.e. the run's output
  with vs without that filter's choice, the other steps' drops left as they were.

The difference (selected minus the mean of the random draws, per test item, averaged over
seeds) gets a paired bootstrap interval (Koehn 2004; see :mod:`synthpipe.evaluate.stats`)
widened for subset sampling: each replicate resamples the test items (the same resample for
both sides), resamples the random draws, and adds one draw's deviation from the draws' mean
(scaled to a single draw's spread), because the selected set is one subset too and would move
as much as a random one does even if the selection were no better than chance. A field of pure
noise then reads "no detectable difference" instead of a lucky subset reading "helps". The
plain test-set-only interval is reported beside it. Verdict: "helps" / "hurts" when the
interval excludes 0, else "no detectable difference". This is the comparison of e.g. Li et al.
2023 ("From Quantity to Quality", IFD/Cherry data) and of Xia et al. 2024 ("LESS"), whose
selections are judged against random subsets of the same size.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from synthpipe.data.records import DROP
from synthpipe.errors import UsageError
from synthpipe.evaluate.stats import paired_bootstrap_diff

HELPS, HURTS, NO_DIFFERENCE = "helps", "hurts", "no detectable difference"
_SALT = 0x5E1EC7  # random subsets never reuse the real-variant draws' seeds
_CHUNK = 256


class SelectionConfig(BaseModel):
    """One selection to test: ``score`` (+ ``k``, ``direction``, ``pool``) or ``filter``."""

    model_config = ConfigDict(extra="forbid")

    score: str | None = Field(None, description="numeric field to rank the pool's records by")
    direction: Literal["highest", "lowest"] | None = Field(
        None, description="keep the highest (default) or lowest scores"
    )
    k: int | float | None = Field(
        None, description="records selected: a count, or a fraction (0, 1] of the pool"
    )
    pool: str | None = Field(
        None, description="variant whose records are ranked (default: synthetic, the kept records)"
    )
    filter: list[str] | None = Field(
        None, description="step name(s) of the run's ledger, or [all]: kept vs kept + their drops"
    )
    reasons: list[str] | None = Field(None, description="only these drop reasons (filter only)")
    stratify: bool = Field(
        False, description="top-k within each label, in the pool's proportions (score only)"
    )
    draws: int = Field(5, ge=2, description="random subsets of the same size")

    @model_validator(mode="before")
    @classmethod
    def _one_filter_name(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("filter"), str):
            return {**value, "filter": [value["filter"]]}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> SelectionConfig:
        if (self.score is None) == (self.filter is None):
            raise ValueError("give either `score` (a field to rank by) or `filter` (step names)")
        if self.score is not None:
            if self.k is None:
                raise ValueError("`score` needs `k`: a count or a fraction of the pool")
            if self.reasons is not None:
                raise ValueError("`reasons` goes with `filter`, not `score`")
            _check_k(self.k)
        else:
            extra = [n for n in ("k", "direction", "pool") if getattr(self, n) is not None]
            extra += ["stratify"] if self.stratify else []
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} go(es) with `score`; a filter's size and pool come "
                    "from the run's kept records and what the filter dropped"
                )
            if not self.filter:
                raise ValueError("`filter` lists at least one step name (or `all`)")
        return self

    @property
    def kind(self) -> str:
        return "score" if self.score is not None else "filter"


def _check_k(k: int | float) -> None:
    if isinstance(k, bool):
        raise ValueError("k is a count or a fraction, not a boolean")
    if isinstance(k, int) and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if isinstance(k, float) and not 0 < k <= 1:
        raise ValueError(f"a fractional k must be in (0, 1], got {k}")


# -- choosing the records ---------------------------------------------------------------------
@dataclass
class Chosen:
    """A selection resolved on the data: what it picked and the pool random subsets come from."""

    name: str
    selected: list[dict]
    pool: list[dict]
    info: dict[str, Any] = field(default_factory=dict)
    strata: list[str] | None = None  # the pool's labels, when random subsets are stratified

    @property
    def k(self) -> int:
        return len(self.selected)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _resolve_k(name: str, k: int | float, n: int) -> int:
    size = max(1, round(k * n)) if isinstance(k, float) else int(k)
    if size >= n:
        raise UsageError(
            f"experiment.selections.{name}: k = {size} leaves nothing out of a pool of {n} "
            "records; choose a smaller k (a random subset of the whole pool is the pool itself)"
        )
    return size


def quotas(strata: list[str], k: int) -> dict[str, int]:
    """`k` split over the labels in proportion to their counts (largest remainder)."""
    counts = Counter(strata)
    exact = {label: k * c / len(strata) for label, c in counts.items()}
    out = {label: math.floor(x) for label, x in exact.items()}
    by_remainder = sorted(exact, key=lambda label: (out[label] - exact[label], label))
    for label in by_remainder[: k - sum(out.values())]:
        out[label] += 1
    return out


def _top(values: np.ndarray, k: int, direction: str, strata: list[str] | None) -> list[int]:
    order = np.argsort(-values if direction == "highest" else values, kind="stable").tolist()
    if strata is None:
        return sorted(order[:k])
    left = quotas(strata, k)
    picked = []
    for i in order:
        if left[strata[i]] > 0:
            left[strata[i]] -= 1
            picked.append(i)
    return sorted(picked)


def choose_by_score(
    name: str,
    sel: SelectionConfig,
    records: list[dict],
    pool_name: str,
    notes: list[str],
    label_field: str = "label",
) -> Chosen:
    """The top-k records of `records` by `sel.score` (per label of `label_field` when
    `sel.stratify`); unscored records leave the pool."""
    assert sel.score is not None and sel.k is not None
    scores = [_number(r.get(sel.score)) for r in records]
    scored = [(r, s) for r, s in zip(records, scores, strict=True) if s is not None]
    if not scored:
        seen = sorted({k for r in records[:50] for k in r if not k.startswith("_")})
        raise UsageError(
            f"experiment.selections.{name}: none of the {len(records)} {pool_name!r} records has "
            f"a numeric {sel.score!r} field (fields there: {', '.join(seen) or 'none'}); score "
            "the records first (e.g. an `ifd` or `perplexity` step) or set `score` to the field"
        )
    if len(scored) < len(records):
        notes.append(
            f"selection {name}: {len(records) - len(scored)} of {len(records)} {pool_name} "
            f"records have no numeric {sel.score!r}; they are left out of the pool"
        )
    pool = [r for r, _ in scored]
    values = np.array([s for _, s in scored])
    k = _resolve_k(name, sel.k, len(pool))
    direction = sel.direction or "highest"
    strata = [str(r.get(label_field)).strip() for r in pool] if sel.stratify else None
    picked = _top(values, k, direction, strata)
    info = {
        "kind": "score",
        "score": sel.score,
        "direction": direction,
        "stratify": label_field if strata else None,
        "pool": pool_name,
        "pool_size": len(pool),
        "k": k,
        "score_mean": {"selected": float(values[picked].mean()), "pool": float(values.mean())},
    }
    return Chosen(name, [pool[i] for i in picked], pool, info, strata)


def _drop_matches(drop: Any, steps: list[str], reasons: list[str] | None) -> bool:
    if not isinstance(drop, dict):
        return False
    if steps != ["all"] and drop.get("step") not in steps:
        return False
    return reasons is None or drop.get("reason") in reasons


def choose_by_filter(
    name: str, sel: SelectionConfig, kept: list[dict], ledger: list[dict]
) -> Chosen | str:
    """Kept records vs kept + the records the named step(s) dropped (`ledger` holds `_drop`).

    A filter that dropped nothing (or a step name the ledger lacks) returns the reason instead:
    nothing to compare is an outcome of the run, not a broken config; the note names the steps
    that did drop records, so a misspelt name shows."""
    assert sel.filter is not None
    if not kept:
        raise UsageError(f"experiment.selections.{name}: the run kept no usable records")
    dropped = [r for r in ledger if _drop_matches(r.get(DROP), sel.filter, sel.reasons)]
    if not dropped:
        steps = sorted({str((r.get(DROP) or {}).get("step")) for r in ledger})
        what = ", ".join(sel.filter) + (
            f" (reasons {', '.join(sel.reasons)})" if sel.reasons else ""
        )
        return (
            f"no labelled record of the run's ledger was dropped by {what} (steps that "
            f"dropped records: {', '.join(steps) or 'none'}): nothing to compare"
        )
    pool = list(kept) + [{k: v for k, v in r.items() if k != DROP} for r in dropped]
    reasons: dict[str, int] = {}
    for r in dropped:
        key = f"{r[DROP].get('step')}: {r[DROP].get('reason')}"
        reasons[key] = reasons.get(key, 0) + 1
    info = {
        "kind": "filter",
        "filter": list(sel.filter),
        "reasons": sel.reasons,
        "pool": "kept + "
        + ("all drops" if sel.filter == ["all"] else "drops of " + ", ".join(sel.filter)),
        "pool_size": len(pool),
        "k": len(kept),
        "dropped": dict(sorted(reasons.items())),
    }
    return Chosen(name, list(kept), pool, info)


def random_subsets(
    pool: list[dict], k: int, draws: int, strata: list[str] | None = None
) -> list[list[dict]]:
    """`draws` seeded k-record subsets of `pool` without replacement (the same for any
    selection with the same pool, so selections share their random baseline's draws); with
    `strata`, each label gets its proportional quota, as a stratified selection does."""
    out = []
    for draw in range(draws):
        rng = np.random.default_rng((_SALT, draw))
        if strata is None:
            picked = rng.permutation(len(pool))[:k].tolist()
        else:
            values = rng.random(len(pool))
            picked = _top(values, k, "highest", strata)
        out.append([pool[i] for i in sorted(picked)])
    return out


# -- the statistics -------------------------------------------------------------------------------
def selection_diff(
    selected: np.ndarray, random: np.ndarray, n_boot: int = 2000, ci: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Selected minus random, per-item scores (`selected`: n items; `random`: draws x n).

    Returns ``{diff, low, high, p_value_two_sided, ci, n, draws, test_only}``: the interval
    covers test items, the random draws, and the selected subset's own subset noise (see the
    module docstring); ``test_only`` is the plain paired bootstrap against the draws' mean.
    """
    sel = np.asarray(selected, dtype=float)
    rnd = np.asarray(random, dtype=float)
    d, n = rnd.shape
    if d < 2 or sel.shape != (n,):
        raise ValueError(f"need >= 2 random draws over the selected set's {sel.size} items")
    rng = np.random.default_rng(seed)
    scale = math.sqrt(d / (d - 1))  # one draw's deviation from the mean of d, scaled up to sd
    draws = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        m = min(_CHUNK, n_boot - start)
        items = rng.integers(0, n, size=(m, n))
        sel_b = sel[items].mean(axis=1)
        per_draw = np.stack([rnd[j][items].mean(axis=1) for j in range(d)], axis=1)  # m x d
        picks = rng.integers(0, d, size=(m, d))
        rnd_b = np.take_along_axis(per_draw, picks, axis=1).mean(axis=1)
        one = per_draw[np.arange(m), rng.integers(0, d, size=m)]
        draws[start : start + m] = sel_b - rnd_b - scale * (one - per_draw.mean(axis=1))
    alpha = (1 - ci) / 2
    low, high = (float(x) for x in np.quantile(draws, [alpha, 1 - alpha]))
    below = (np.count_nonzero(draws <= 0) + 1) / (n_boot + 1)
    above = (np.count_nonzero(draws >= 0) + 1) / (n_boot + 1)
    plain = paired_bootstrap_diff(sel, rnd.mean(axis=0), n_boot=n_boot, seed=seed, ci=ci)
    return {
        "diff": float(sel.mean() - rnd.mean()),
        "low": low,
        "high": high,
        "p_value_two_sided": float(min(1.0, 2 * min(below, above))),
        "ci": ci,
        "n": int(n),
        "draws": int(d),
        "test_only": {k: plain[k] for k in ("low", "high", "p_value_two_sided")},
    }


def verdict(diff: dict[str, Any]) -> str:
    """ "helps" / "hurts" when the interval excludes 0, else "no detectable difference"."""
    if diff["low"] > 0:
        return HELPS
    if diff["high"] < 0:
        return HURTS
    return NO_DIFFERENCE


__all__ = [
    "HELPS",
    "HURTS",
    "NO_DIFFERENCE",
    "Chosen",
    "SelectionConfig",
    "choose_by_filter",
    "choose_by_score",
    "random_subsets",
    "selection_diff",
    "quotas",
    "verdict",
]

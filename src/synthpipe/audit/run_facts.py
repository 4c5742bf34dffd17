"""Audit facts that other steps left behind: decontamination drops and flags, verifier pass
rates and failures, grounded QA's grounding scores.

They come from a run's ``metrics.json`` (its steps' funnel), the dropped ledger and fields on
the records; each function returns None when there is nothing to report.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthpipe.audit.signatures import CONTAMINATION_REASON, GROUNDING_THRESHOLDS


def contamination_facts(
    run_metrics: dict | None, records: Sequence[dict], dropped: Sequence[dict] = ()
) -> dict[str, Any] | None:
    """Contamination facts from a run's metrics (dropped count), the kept records (flagged)
    and, when given, the dropped records (which benchmark each contaminated one matched)."""
    flagged = sum(1 for r in records if r.get("contamination"))
    if run_metrics is None:
        return {"checked": False, "dropped": 0, "flagged_kept": flagged} if flagged else None
    steps = [s for s in run_metrics.get("steps") or [] if isinstance(s, dict)]
    checked = any(s.get("step") == "decontaminate" for s in steps)
    n_dropped = sum(int((s.get("reasons") or {}).get(CONTAMINATION_REASON, 0)) for s in steps)
    out = {"checked": checked or n_dropped > 0, "dropped": n_dropped, "flagged_kept": flagged}
    by = _benchmarks_hit(dropped)
    if by:
        out["by_benchmark"] = by
    return out


def _benchmarks_hit(dropped: Sequence[dict]) -> dict[str, int]:
    """Benchmarks named in the hits of records dropped as contaminated (a record that matches
    two benchmarks counts for both)."""
    tally: Counter = Counter()
    for r in dropped:
        d = r.get("_drop") or {}
        if d.get("reason") != CONTAMINATION_REASON:
            continue
        hits = d.get("detail") or []
        if isinstance(hits, str):  # a ledger written before details were structured
            try:
                hits = json.loads(hits)
            except ValueError:
                continue
        if isinstance(hits, list):
            tally.update({h.get("benchmark") for h in hits if isinstance(h, dict) and h.get("benchmark")})
    return dict(tally)


def grounding_facts(records: Sequence[dict]) -> dict[str, Any] | None:
    """Distribution of numeric ``grounding_score`` over all records, or None if none carry one."""
    scores = [
        float(r["grounding_score"])
        for r in records
        if isinstance(r.get("grounding_score"), (int, float))
        and not isinstance(r.get("grounding_score"), bool)
    ]
    if not scores:
        return None
    arr = np.asarray(scores, dtype=float)
    low = GROUNDING_THRESHOLDS["low_score"]
    return {
        "field": "grounding_score",
        "n": len(scores),
        "of": len(records),
        "mean": float(arr.mean()),
        "p10": float(np.percentile(arr, 10)),
        "share_below": float((arr < low).mean()),
        "below": low,
    }


def verification_facts(run_metrics: dict | None, records: Sequence[dict]) -> dict[str, Any] | None:
    """Verifier facts: each verifier's pass rate (steps marked ``verifies`` in the run's funnel:
    verify_math, verify_code, rejection_sampling, ...) and how many of the
    audited records carry a failed ``verification`` (possible when a verifier only flags)."""
    steps = {}
    for s in (run_metrics or {}).get("steps") or []:
        if isinstance(s, dict) and s.get("verifies") and s.get("in"):
            passed = s["in"] - s.get("dropped", 0)  # not kept: rejection sampling may emit several per input
            steps[s["name"]] = {"step": s["step"], "in": s["in"], "passed": passed,
                                "pass_rate": passed / s["in"], "reasons": s.get("reasons") or {}}  # fmt: skip
    checked = [r["verification"] for r in records if isinstance(r.get("verification"), dict)]
    if not steps and not checked:
        return None
    failed = sum(1 for v in checked if v.get("passed") is False)
    return {"steps": steps, "records_checked": len(checked), "records_failed": failed}

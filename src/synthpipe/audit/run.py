"""Audit a dataset: diversity, fidelity against a reference, labels, and failure signatures.

:func:`audit_dataset` computes the numbers (a JSON-ready dict), :func:`signatures` turns them
into traffic-light rows (green / amber / red / n/a), :func:`audit_sections` renders both as
HTML sections for the run report, and :func:`run_audit` does it all for files on disk,
writing ``metrics.json``, ``report.html`` and ``card.md`` to an output directory.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from synthpipe.audit.bias import bias_report
from synthpipe.audit.diversity import (
    COLLAPSE_THRESHOLDS,
    cluster_stats,
    diversity_report,
    vendi_score,
)
from synthpipe.audit.embedding_map import embedding_map
from synthpipe.audit.fidelity import fidelity_report
from synthpipe.data.sampling import evenly_spaced
from synthpipe.report import svg
from synthpipe.report.html import html_table

_log = logging.getLogger("synthpipe.audit")

#: Vendi / n falls with n (it saturates at the embedding's effective rank) and the collapse
#: threshold was calibrated on 300 texts, so Vendi is computed on at most this many texts.
VENDI_SAMPLE = 300

#: A mode-collapse metric within this factor of its red threshold is amber
#: (distinct-2 < 0.25, self-BLEU > 0.48, compression > 3.2, Vendi/n < 0.125).
AMBER_MARGIN = 1.25

#: Fidelity thresholds as (amber, red). PRDC and MAUVE need embeddings. Calibration (MiniLM,
#: tests/audit/test_fidelity.py): SST-2 half vs half gives precision and recall > 0.7 and
#: MAUVE > 0.8; SST-2 vs TREC (a different domain) gives precision < 0.4 and MAUVE < 0.2.
#: Length KS (words) is the only lexical signal thresholded; it is a coarse check (TREC
#: train vs test, 500 each: 0.35, amber: TREC test questions are shorter, 7.5 vs 10.5 words
#: on average). These are starting points, not tuned per task.
FIDELITY_THRESHOLDS: dict[str, tuple[float, float]] = {
    "precision_below": (0.6, 0.4),
    "recall_below": (0.6, 0.4),
    "mauve_below": (0.6, 0.3),
    "length_ks_above": (0.2, 0.4),
}

#: Contamination: any record flagged (still kept) is red; any dropped as ``contaminated`` is
#: amber (removed, but the generator reproduces benchmark items, so near-misses may remain).
CONTAMINATION_REASON = "contaminated"

#: Bias amplification thresholds as (amber, red), both on total variation distance (TVD).
#: With a reference: TVD between the male/female word distributions of the synthetic and the
#: reference sample (0 = same mix, 1 = disjoint; a reference at 50/50 and a synthetic set that
#: only mentions women gives 0.5). Without one: HELM demographic representation of the synthetic
#: sample alone, TVD(observed, uniform) in [0, 0.5] (0.2 = a 70/30 split, 0.35 = 85/15).
#: With fewer than ``min_mentions`` gendered words the row is at most amber (too few to judge).
#: No gendered words at all -> n/a. Starting points, not tuned per task.
BIAS_THRESHOLDS: dict[str, Any] = {
    "gender_tvd_vs_reference_above": (0.1, 0.25),
    "demographic_representation_above": (0.2, 0.35),
    "min_mentions": 20,
}

#: Factuality signals from grounded QA's ``grounding_score`` (0-1): a record below
#: ``low_score`` (grounded QA's default drop threshold) is weakly grounded; more than
#: ``amber_share_below`` of records below it is amber. No red: the score is a heuristic.
GROUNDING_THRESHOLDS: dict[str, float] = {"low_score": 0.6, "amber_share_below": 0.1}

#: Buckets drawn per HolisticBias axis chart (the table below it lists them all).
AXIS_BARS = 12

STATUS_COLORS = {"green": "#009E73", "amber": "#E69F00", "red": "#D55E00", "n/a": "#9ca3af"}
_RANK = {"n/a": -1, "green": 0, "amber": 1, "red": 2}


# ----------------------------------------------------------------------------- computing


def _text(record: dict, field: str) -> str:
    value = record.get(field)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _load_embedder() -> tuple[Any | None, str | None]:
    """(embedder, None) if MiniLM loads, else (None, reason)."""
    try:
        from synthpipe.embeddings import get_embedder

        embedder = get_embedder()
        embedder.encode(["probe"])
        return embedder, None
    except Exception as exc:  # missing extra, missing weights, broken backend
        return None, f"{type(exc).__name__}: {exc}"


def _label_counts(records: Sequence[dict], field: str) -> dict[str, Any] | None:
    values = [r.get(field) for r in records]
    if not any(v is not None for v in values):
        return None
    counts = Counter("(missing)" if v is None else str(v) for v in values)
    total = sum(counts.values())
    ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "field": field,
        "counts": ordered,
        "fractions": {k: v / total for k, v in ordered.items()},
        "n_labels": len(counts),
    }


def _contamination(
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
        try:
            hits = json.loads(d.get("detail") or "[]")
        except (TypeError, ValueError):
            continue
        if isinstance(hits, list):
            tally.update({h.get("benchmark") for h in hits if isinstance(h, dict) and h.get("benchmark")})
    return dict(tally)


def _grounding(records: Sequence[dict]) -> dict[str, Any] | None:
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


def _verification(run_metrics: dict | None, records: Sequence[dict]) -> dict[str, Any] | None:
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


def audit_dataset(
    records: Sequence[dict],
    reference: Sequence[dict] | None = None,
    *,
    text_field: str = "text",
    label_field: str = "label",
    embed: bool = True,
    sample: int = 2000,
    seed: int = 0,
    run_metrics: dict | None = None,
    dropped: Sequence[dict] = (),
) -> dict[str, Any]:
    """Diversity (+ mode collapse), fidelity vs ``reference``, bias, labels, contamination and
    factuality (``grounding_score``) facts.

    Diversity is computed on up to ``sample`` evenly spaced records (Vendi on at most
    :data:`VENDI_SAMPLE` of those). Fidelity compares up to ``sample`` evenly spaced records
    of each set, subsampled to EQUAL sizes by :func:`fidelity_report` (``fidelity.sample_size``).
    Embedding metrics are skipped, with a note, when ``embed`` is false or MiniLM won't load.
    Bias (:func:`~synthpipe.audit.bias.bias_report`) uses the same samples as diversity and
    fidelity; group sentiment is included when vaderSentiment is installed.
    """
    records = list(records)
    idx = evenly_spaced(len(records), sample)
    texts = [_text(records[i], text_field) for i in idx]
    ref_texts: list[str] = []
    if reference is not None:
        reference = list(reference)
        ref_idx = evenly_spaced(len(reference), sample)
        ref_texts = [_text(reference[i], text_field) for i in ref_idx]

    embedder, note = (None, "disabled (--no-embed)") if not embed else _load_embedder()
    emb = ref_emb = None
    if embedder is not None and texts:
        from synthpipe.embeddings.cache import EMBEDDING_CACHE  # shared with a run's experiment

        emb = EMBEDDING_CACHE.encode(embedder, texts)
        ref_emb = EMBEDDING_CACHE.encode(embedder, ref_texts) if ref_texts else None
        note = None
    elif embed and note:
        _log.warning("audit: embeddings skipped (%s)", note)

    audit: dict[str, Any] = {
        "n_records": len(records),
        "text_field": text_field,
        "label_field": label_field,
        "seed": seed,
        "sample": {"size": len(texts), "of": len(records), "method": "evenly spaced"},
        "embeddings": {
            "used": emb is not None,
            "model": embedder.identity() if emb is not None else None,
            "note": note,
        },
    }

    div = diversity_report(texts, seed=seed)
    if emb is not None and len(texts) >= 2:
        v_idx = evenly_spaced(len(texts), VENDI_SAMPLE)
        v_emb = emb[v_idx]
        vendi = vendi_score(v_emb)
        div["vendi"] = vendi
        div["vendi_per_text"] = vendi / len(v_idx)
        div["vendi_sample"] = len(v_idx)
        div["clusters"] = cluster_stats(v_emb, seed=seed)
        t = COLLAPSE_THRESHOLDS
        if len(v_idx) >= t["min_texts_vendi"] and div["vendi_per_text"] < t["vendi_per_text_below"]:
            div["mode_collapse"]["reasons"].append(
                f"Vendi/n {div['vendi_per_text']:.3f} < {t['vendi_per_text_below']}"
            )
            div["mode_collapse"]["flag"] = True
    audit["diversity"] = div

    audit["labels"] = _label_counts(records, label_field)
    audit["lengths"] = {"synthetic": [len(t.split()) for t in texts]}

    audit["fidelity"] = None
    if reference is not None:
        audit["reference"] = {"n_records": len(reference), "sample": len(ref_texts)}
        audit["lengths"]["reference"] = [len(t.split()) for t in ref_texts]
        if min(len(texts), len(ref_texts)) >= 2:
            labels = None
            if audit["labels"] is not None and any(
                r.get(label_field) is not None for r in reference
            ):
                labels = (
                    [str(records[i].get(label_field)) for i in idx],
                    [str(reference[i].get(label_field)) for i in ref_idx],
                )
            fid = fidelity_report(texts, ref_texts, emb, ref_emb, labels=labels, seed=seed)
            fid["note"] = (
                f"synthetic and reference compared at equal sample sizes "
                f"(n = {fid['sample_size']} each, seed {seed})"
            )
            audit["fidelity"] = fid
    audit["embedding_map"] = embedding_map(emb, ref_emb) if emb is not None else None
    audit["bias"] = bias_report(texts, ref_texts if reference is not None else None)
    audit["contamination"] = _contamination(run_metrics, records, dropped)
    audit["factuality"] = _grounding(records)
    audit["verification"] = _verification(run_metrics, records)
    return audit


# ----------------------------------------------------------------------------- signatures


def _mode_collapse_row(audit: dict) -> dict[str, Any]:
    div = audit.get("diversity") or {}
    t = COLLAPSE_THRESHOLDS
    value = {
        k: div.get(k) for k in ("distinct_2", "self_bleu", "compression_ratio", "vendi_per_text")
    }
    value = {k: v for k, v in value.items() if v is not None}
    threshold = {
        "distinct_2": f"< {t['distinct_2_below']}",
        "self_bleu": f"> {t['self_bleu_above']}",
        "compression_ratio": f"> {t['compression_ratio_above']}",
        "vendi_per_text": f"< {t['vendi_per_text_below']}",
    }
    if not div.get("n_texts"):
        return _row("mode collapse", "n/a", value, threshold, "No texts to measure.")
    collapse = div.get("mode_collapse") or {}
    if collapse.get("flag"):
        reasons = "; ".join(collapse.get("reasons") or [])
        return _row("mode collapse", "red", value, threshold,
                    f"Collapsed: {reasons}. Many texts repeat a few templates.")  # fmt: skip
    m = AMBER_MARGIN
    near = []
    if value.get("distinct_2", 1.0) < t["distinct_2_below"] * m:
        near.append("distinct-2")
    if value.get("self_bleu", 0.0) > t["self_bleu_above"] / m:
        near.append("self-BLEU")
    if value.get("compression_ratio", 0.0) > t["compression_ratio_above"] / m:
        near.append("compression ratio")
    if value.get("vendi_per_text", 1.0) < t["vendi_per_text_below"] * m:
        near.append("Vendi/n")
    if near:
        return _row("mode collapse", "amber", value, threshold,
                    f"Close to the collapse threshold: {', '.join(near)}.")  # fmt: skip
    extra = "" if "vendi_per_text" in value else " (lexical metrics only: no embeddings)"
    return _row("mode collapse", "green", value, threshold, f"No sign of collapse{extra}.")


def _fidelity_row(audit: dict) -> dict[str, Any]:
    fid = audit.get("fidelity")
    th = FIDELITY_THRESHOLDS
    threshold = {k: f"amber {a}, red {r}" for k, (a, r) in th.items()}
    if not fid:
        return _row("fidelity loss", "n/a", {}, threshold, "No reference set given.")
    value: dict[str, float] = {"length_ks": fid["length"]["ks"]}
    if "prdc" in fid:
        value["precision"] = fid["prdc"]["precision"]
        value["recall"] = fid["prdc"]["recall"]
    if "mauve" in fid:
        value["mauve"] = fid["mauve"]
    status, why = "green", []
    for key, v in value.items():
        below = f"{key}_below" in th
        amber, red = th[f"{key}_below"] if below else th[f"{key}_above"]
        level = (
            ("red" if v < red else "amber" if v < amber else "green")
            if below
            else ("red" if v > red else "amber" if v > amber else "green")
        )
        if level != "green":
            why.append(f"{key} {v:.3f} ({level})")
        if _RANK[level] > _RANK[status]:
            status = level
    n = fid["sample_size"]
    if why:
        text = f"Differs from the reference: {', '.join(why)}; n = {n} each."
    else:
        text = f"Close to the reference at n = {n} each."
    if "prdc" not in fid:
        text += " Lexical check only (no embeddings): precision/recall/MAUVE not measured."
    return _row("fidelity loss", status, value, threshold, text)


def _contamination_row(audit: dict) -> dict[str, Any]:
    c = audit.get("contamination")
    threshold = {"flagged_kept": "> 0 red", "dropped": "> 0 amber"}
    if not c or not (c.get("checked") or c.get("flagged_kept")):
        return _row("contamination", "n/a", {}, threshold,
                    "No decontamination results: pass the run's metrics or run `synthpipe decontaminate`.")  # fmt: skip
    value = {"dropped": c["dropped"], "flagged_kept": c["flagged_kept"]}
    if c["flagged_kept"]:
        return _row("contamination", "red", value, threshold,
                    f"{c['flagged_kept']} kept records are flagged as containing benchmark items.")  # fmt: skip
    if c["dropped"]:
        return _row("contamination", "amber", value, threshold,
                    f"{c['dropped']} records were dropped as contaminated; the rest passed, "
                    "but the generator reproduces benchmark items.")  # fmt: skip
    return _row(
        "contamination", "green", value, threshold, "Decontamination found no benchmark items."
    )


def _level(value: float, amber: float, red: float) -> str:
    return "red" if value > red else "amber" if value > amber else "green"


def _bias_row(audit: dict) -> dict[str, Any]:
    th = BIAS_THRESHOLDS
    threshold = {
        "gender_tvd_vs_reference": "amber > {}, red > {}".format(
            *th["gender_tvd_vs_reference_above"]
        ),
        "demographic_representation": "amber > {}, red > {}".format(
            *th["demographic_representation_above"]
        ),
    }
    b = audit.get("bias")
    if not b:
        return _row("bias amplification", "n/a", {}, threshold, "Bias not measured.")
    syn = b.get("demographic_representation") or {}
    ref = (b.get("reference") or {}).get("demographic_representation") or {}
    n_syn = sum((syn.get("counts") or {}).values())
    n_ref = sum((ref.get("counts") or {}).values())
    if n_syn == 0:
        extra = f" (the reference has {n_ref})" if n_ref else ""
        return _row("bias amplification", "n/a", {"gendered_words": 0}, threshold,
                    f"No gendered words in the synthetic sample{extra}: gender balance not measurable.")  # fmt: skip
    share = (syn.get("distribution") or {}).get("female", 0.0)
    value: dict[str, Any] = {"female_share": share, "gendered_words": n_syn}
    gender_tvd = ((b.get("representation_skew") or {}).get("gender") or {}).get("tvd")
    if gender_tvd is not None:
        value["reference_female_share"] = (ref.get("distribution") or {}).get("female", 0.0)
        value["gender_tvd_vs_reference"] = gender_tvd
        status = _level(gender_tvd, *th["gender_tvd_vs_reference_above"])
        text = (f"Female share of gendered words {share:.0%} vs {value['reference_female_share']:.0%} "
                f"in the reference (TVD {gender_tvd:.3f}).")  # fmt: skip
    else:
        dr = syn["tvd"]
        value["demographic_representation"] = dr
        status = _level(dr, *th["demographic_representation_above"])
        why = "no reference given" if "reference" not in b else "no gendered words in the reference"
        text = (f"Female share of gendered words {share:.0%} (HELM demographic representation "
                f"{dr:.3f}; {why}).")  # fmt: skip
    if status == "red" and n_syn < th["min_mentions"]:
        status = "amber"
        text += f" Only {n_syn} gendered words: too few to call red."
    elif status == "green":
        text += " Balance within thresholds."
    return _row("bias amplification", status, value, threshold, text)


def _factuality_row(audit: dict) -> dict[str, Any]:
    """Verifier results when there are any (a program checked the answers), else the grounding
    score distribution (a heuristic), else n/a."""
    v = audit.get("verification")
    if v:
        return _verified_row(v)
    g = audit.get("factuality")
    low, share_max = GROUNDING_THRESHOLDS["low_score"], GROUNDING_THRESHOLDS["amber_share_below"]
    threshold = {"share_below": f"> {share_max} amber (score < {low})"}
    if not g:
        return _row("factuality signals", "n/a", {}, threshold,
                    "No verifier ran and no record carries a grounding_score (grounded QA).")  # fmt: skip
    value = {"mean": g["mean"], "p10": g["p10"], "share_below": g["share_below"]}
    text = (
        f"grounding_score on {g['n']} of {g['of']} records: mean {g['mean']:.3f}, "
        f"p10 {g['p10']:.3f}, {g['share_below']:.1%} below {low}."
    )
    if g["share_below"] > share_max:
        return _row("factuality signals", "amber", value, threshold,
                    text + " Many answers are weakly supported by their passage.")  # fmt: skip
    return _row("factuality signals", "green", value, threshold, text)


def _verified_row(v: dict) -> dict[str, Any]:
    """Red if audited records failed verification and were kept; the pass rate of each verify
    step is context (failures were dropped), not a fault."""
    threshold = {"records_failed": "> 0 red (a failed record was kept)"}
    rates = {name: s["pass_rate"] for name, s in v["steps"].items()}
    value = {"records_failed": v["records_failed"], **{f"pass_rate:{k}": r for k, r in rates.items()}}
    parts = [f"{name} passed {s['passed']:,} of {s['in']:,} ({s['pass_rate']:.1%})" for name, s in v["steps"].items()]
    text = "; ".join(parts) + ("." if parts else "")
    if v["records_failed"]:
        return _row("factuality signals", "red", value, threshold,
                    f"{v['records_failed']} of {v['records_checked']} audited records failed verification "
                    f"but are in the data. {text}".strip())  # fmt: skip
    return _row("factuality signals", "green", value, threshold,
                (text + " Failures were dropped; the kept records verify.").strip())  # fmt: skip


def _row(name: str, status: str, value: Any, threshold: Any, explanation: str) -> dict[str, Any]:
    return {"name": name, "status": status, "value": value, "threshold": threshold,
            "explanation": explanation}  # fmt: skip


def signatures(audit: dict) -> list[dict[str, Any]]:
    """One traffic-light row per measurable failure signature: mode collapse, fidelity loss,
    contamination, bias amplification, factuality signals. Each row:
    ``{name, status (green|amber|red|n/a), value, threshold, explanation}``."""
    return [
        _mode_collapse_row(audit),
        _fidelity_row(audit),
        _contamination_row(audit),
        _bias_row(audit),
        _factuality_row(audit),
    ]


# ----------------------------------------------------------------------------- HTML


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "–"
    return str(value)


def _status_cell(status: str) -> str:
    color = STATUS_COLORS.get(status, STATUS_COLORS["n/a"])
    return (
        f'<span class="status status-{escape(status.replace("/", ""))}" style="background:{color};'
        f'color:#fff;border-radius:999px;padding:1px 10px;font-weight:600">{escape(status)}</span>'
    )


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    return html_table(["metric", "value"], [[escape(k), f'<span class="num">{escape(_fmt(v))}</span>']
                                        for k, v in pairs], "kv")  # fmt: skip


def audit_sections(audit: dict) -> list[tuple[str, str]]:
    """(title, html) sections for ``render_report(extra_sections=...)``; all data is escaped."""
    rows = [
        [
            f"<strong>{escape(r['name'])}</strong>",
            _status_cell(r["status"]),
            escape(_fmt(r["value"])),
            escape(_fmt(r["threshold"])),
            escape(r["explanation"]),
        ]
        for r in signatures(audit)
    ]
    emb = audit.get("embeddings") or {}
    emb_note = (
        "Embeddings: " + escape(_fmt((emb.get("model") or {}).get("model", "MiniLM")))
        if emb.get("used")
        else "Embeddings not used" + (f" ({escape(str(emb['note']))})" if emb.get("note") else "")
    )
    s = audit.get("sample") or {}
    summary = (
        html_table(["signature", "status", "value", "threshold", "explanation"], rows, "audit-summary")
        + f'<p class="muted">Measured on {escape(_fmt(s.get("size")))} of '
        f"{escape(_fmt(s.get('of')))} records ({escape(str(s.get('method', '')))}). "
        f"{emb_note}.</p>"
    )
    sections = [("Audit summary", summary)]

    div = audit.get("diversity") or {}
    keys = ("n_texts", "distinct_1", "distinct_2", "distinct_3", "self_bleu", "compression_ratio",
            "homogenization", "vendi", "vendi_per_text", "vendi_sample")  # fmt: skip
    body = _kv([(k, div[k]) for k in keys if k in div])
    if "clusters" in div:
        body += _kv([(f"clusters: {k}", v) for k, v in div["clusters"].items()
                     if not isinstance(v, (list, dict))])  # fmt: skip
    sections.append(("Diversity", body))

    fid = audit.get("fidelity")
    if fid:
        pairs: list[tuple[str, Any]] = [("sample size (each)", fid["sample_size"])]
        pairs += [(f"length {k}", v) for k, v in fid["length"].items()]
        pairs.append(("vocabulary TV", fid["vocabulary_tv"]))
        if "labels" in fid:
            pairs.append(("label TV", fid["labels"]["tv"]))
        for k in ("frechet_distance", "mauve"):
            if k in fid:
                pairs.append((k.replace("_", " "), fid[k]))
        pairs += [(k, v) for k, v in (fid.get("prdc") or {}).items()]
        body = f'<p class="muted">{escape(fid.get("note", ""))}</p>' + _kv(pairs)
        lengths = audit.get("lengths") or {}
        if lengths.get("synthetic") and lengths.get("reference"):
            body += "<h3>Length in words: synthetic</h3>" + svg.histogram(
                np.asarray(lengths["synthetic"]), title="synthetic length (words)", x_label="words"
            )
            body += "<h3>Length in words: reference</h3>" + svg.histogram(
                np.asarray(lengths["reference"]),
                title="reference length (words)",
                x_label="words",
                color=svg.VERMILLION,
            )
        sections.append(("Fidelity", body))
    if audit.get("embedding_map"):
        sections.append(("Embedding map", _map_html(audit["embedding_map"])))
    if audit.get("contamination"):
        sections.append(("Contamination", _contamination_html(audit["contamination"])))
    if audit.get("bias"):
        sections.append(("Bias and representation", _bias_html(audit["bias"])))
    return sections


def _map_html(m: dict) -> str:
    groups = [("synthetic", m["synthetic"], svg.BLUE)]
    if m.get("reference"):
        groups.append(("reference", m["reference"], svg.VERMILLION))
    ev = m.get("explained_variance") or [0.0, 0.0]
    return (
        f'<p class="muted">{escape(m["method"])}; the two axes explain {ev[0]:.1%} and {ev[1]:.1%} '
        "of the variance, so sets that overlap here may still differ along other directions "
        "(the fidelity numbers use all dimensions). A patch of one colour is a region only "
        "that set covers.</p>" + svg.scatter(groups, title="embedding map (PCA)")
    )


def _contamination_html(c: dict) -> str:
    pairs = [("decontamination step ran", c.get("checked")), ("dropped as contaminated", c.get("dropped")),
             ("flagged but kept", c.get("flagged_kept"))]  # fmt: skip
    by = c.get("by_benchmark") or {}
    body = _kv(pairs)
    if by:
        body += "<h3>Dropped per benchmark</h3>" + svg.bar_chart(
            sorted(by.items(), key=lambda kv: (-kv[1], kv[0])), title="contaminated records per benchmark",
            color=svg.VERMILLION)  # fmt: skip
    return body


def _gender_bars(syn: dict | None, ref: dict | None) -> str:
    """Male/female shares of gendered terms and pronouns: the HELM demographic-representation
    distributions the bias signature is computed from (names are counted in the table only)."""
    ps, pr = ((d or {}).get("distribution") for d in (syn, ref))
    if not ps and not pr:
        return ""
    bars = [(g, (ps or {}).get(g, 0.0), None if not pr else pr.get(g, 0.0)) for g in ("male", "female")]
    return ('<p class="muted">Share of gendered terms and pronouns (the numbers the bias '
            "signature uses; names are in the table).</p>"
            + svg.paired_bars(bars, title="share of gendered terms and pronouns: male vs female"))  # fmt: skip


def _share(dist: dict | None, key: str) -> str:
    return "–" if dist is None else f"{dist.get(key, 0.0):.1%}"


def _bias_html(b: dict) -> str:
    """Gender counts, HELM scores, and one table per HolisticBias axis (all text escaped)."""
    has_ref = "reference" in b
    ref = b.get("reference") or {}
    skew = b.get("representation_skew") or {}
    parts = [
        f'<p class="muted">Measured on {escape(_fmt(b.get("n_texts")))} synthetic texts'
        + (f" and {escape(_fmt(ref.get('n_texts')))} reference texts" if has_ref else "")
        + ". Lexicon matching (HolisticBias descriptors, gendered words): counts mentions, "
        "not who the text is about or how it treats them.</p>"
    ]
    # gender
    head = ["group", "terms", "pronouns", "names", "total"]
    rows = []
    for label, gc in [("synthetic", b.get("gender"))] + ([("reference", ref.get("gender"))] if has_ref else []):  # fmt: skip
        for g in ("male", "female"):
            c = (gc or {}).get(g) or {}
            rows.append([escape(f"{label}: {g}")]
                        + [escape(_fmt(c.get(k))) for k in ("terms", "pronouns", "names", "total")])  # fmt: skip
    parts.append("<h3>Gendered words</h3>" + _gender_bars(b.get("demographic_representation"),
                                                          ref.get("demographic_representation") if has_ref else None)
                 + html_table(head, rows, "bias-gender"))  # fmt: skip
    # HELM
    dr = b.get("demographic_representation") or {}
    sa = b.get("stereotypical_associations") or {}
    pairs: list[tuple[str, Any]] = [("demographic representation (synthetic)", dr.get("tvd"))]
    if has_ref:
        pairs.append(("demographic representation (reference)",
                      (ref.get("demographic_representation") or {}).get("tvd")))  # fmt: skip
        pairs.append(("gender TVD synthetic vs reference", (skew.get("gender") or {}).get("tvd")))
    for k in ("professions", "adjectives"):
        r = sa.get(k) or {}
        pairs.append((f"stereotypical associations: {k} ({_fmt(r.get('n_targets'))} targets)",
                      r.get("score")))  # fmt: skip
    parts.append("<h3>HELM bias scores</h3>"
                 '<p class="muted">TVD from uniform over male/female: 0 = balanced, 0.5 = one group only.</p>'
                 + _kv(pairs))  # fmt: skip
    # HolisticBias axes
    axes = skew.get("axes") or {}
    hb = b.get("holistic_bias") or {}
    if has_ref:
        bars = [(a, v["tvd"]) for a, v in axes.items() if v.get("tvd") is not None]
        bars.sort(key=lambda kv: (-kv[1], kv[0]))
        parts.append("<h3>HolisticBias: per-axis TVD, synthetic vs reference</h3>"
                     + svg.bar_chart(bars, title="per-axis TVD, synthetic vs reference",
                                     color=svg.VERMILLION))  # fmt: skip
    parts.append("<h3>HolisticBias axes</h3>")
    shown = 0
    for axis in sorted(hb):
        syn_counts = hb[axis]
        n_syn = sum(syn_counts.values())
        a = axes.get(axis) or {}
        n_ref = a.get("n_reference", 0)
        if not n_syn and not n_ref:
            continue
        shown += 1
        ps = {k: v / n_syn for k, v in syn_counts.items()} if n_syn else None
        pr = a.get("reference")
        buckets = [k for k in syn_counts if syn_counts[k] or (pr or {}).get(k)]
        buckets.sort(key=lambda k: (-(ps or {}).get(k, 0.0), -(pr or {}).get(k, 0.0), k))
        head = ["bucket", "synthetic mentions", "synthetic share"]
        if has_ref:
            head += ["reference share"]
        rows = []
        for k in buckets:
            row = [escape(k), escape(_fmt(syn_counts[k])), escape(_share(ps, k))]
            if has_ref:
                row.append(escape(_share(pr, k)))
            rows.append(row)
        caption = f"{axis}: {n_syn:,} synthetic mentions"
        if has_ref:
            caption += f", {n_ref:,} reference mentions, TVD {_fmt(a.get('tvd'))}"
        bars = [(k, None if ps is None else ps.get(k, 0.0), (pr or {}).get(k, 0.0) if has_ref else None)
                for k in buckets[:AXIS_BARS]]  # fmt: skip
        chart = svg.paired_bars(bars, title=f"{axis}: share of mentions per bucket")
        table = html_table(head, rows, "bias-axis")
        if len(rows) > AXIS_BARS:
            table = f"<details><summary>all {len(rows)} buckets</summary>{table}</details>"
        parts.append(f"<h4>{escape(caption)}</h4>" + chart + table)
    if not shown:
        parts.append('<p class="muted">No HolisticBias descriptor mentioned.</p>')
    for key, label in (("over_represented", "over-represented"),
                       ("under_represented", "under-represented")):  # fmt: skip
        items = skew.get(key) or []
        if items:
            rows = [[escape(r["descriptor"]), escape(_fmt(r["ratio"])),
                     escape(_fmt(r["synthetic"])), escape(_fmt(r["reference"]))] for r in items]  # fmt: skip
            parts.append(f"<h3>Descriptors {escape(label)} vs reference</h3>"
                         + html_table(["descriptor", "rate ratio", "synthetic", "reference"], rows))  # fmt: skip
    gs = b.get("group_sentiment")
    if isinstance(gs, dict) and "skipped" in gs:
        parts.append(f'<p class="muted">Group sentiment skipped: {escape(str(gs["skipped"]))}</p>')
    elif gs:
        rows = [[escape(axis), escape(bucket), escape(_fmt(v["mean"])), escape(_fmt(v["n"]))]
                for axis, buckets in sorted(gs.items()) for bucket, v in sorted(buckets.items())]  # fmt: skip
        parts.append("<h3>Group sentiment (VADER compound, sentences mentioning a group)</h3>"
                     + html_table(["axis", "bucket", "mean", "sentences"], rows))  # fmt: skip
    return "".join(parts)


# ----------------------------------------------------------------------------- files


def _read(path: str | Path, text_field: str, label_field: str) -> list[dict]:
    """Records with the text as ``text`` and the label (when the column exists) as ``label``:
    mapping an absent column is a no-op for the reader."""
    from synthpipe.data.readers import read_all

    return read_all(path, fields={"text": text_field, "label": label_field})


def _run_dir_outputs(path: Path) -> tuple[Path, Path | None, dict] | None:
    """(kept file, dropped ledger, run metrics) when ``path`` is a synthpipe run directory."""
    metrics_path = path / "metrics.json"
    if not (path.is_dir() and metrics_path.exists() and (path / "run.json").exists()):
        return None
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    names = metrics.get("output") or {}
    kept = path / names.get("kept", "kept.jsonl")
    dropped = path / names.get("dropped", "dropped.jsonl")
    return kept, (dropped if dropped.exists() else None), metrics


def run_audit(
    data_path: str | Path,
    out_dir: str | Path,
    reference_path: str | Path | None = None,
    text_field: str = "text",
    label_field: str = "label",
    embed: bool = True,
    *,
    run_metrics: dict | None = None,
    sample: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Audit ``data_path`` (optionally vs ``reference_path``) and write ``metrics.json``,
    ``report.html`` and ``card.md`` to ``out_dir``. Returns the audit dict.

    ``data_path`` may be a run directory: its kept records are audited, and its metrics and
    dropped ledger give the report its funnel, drop reasons and contamination facts."""
    from synthpipe.report.card import dataset_card
    from synthpipe.report.html import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _run_dir_outputs(Path(data_path))
    dropped: list[dict] = []
    if run is not None:
        kept_path, dropped_path, metrics = run
        run_metrics = run_metrics or metrics
        records = _read(kept_path, text_field, label_field)
        dropped = _read(dropped_path, text_field, label_field) if dropped_path else []
    else:
        records = _read(data_path, text_field, label_field)
    reference = _read(reference_path, text_field, label_field) if reference_path else None
    audit = audit_dataset(records, reference, text_field="text", label_field="label", embed=embed,
                          sample=sample, seed=seed, run_metrics=run_metrics, dropped=dropped)  # fmt: skip
    audit["text_field"], audit["label_field"] = text_field, label_field
    audit["inputs"] = {"data": str(data_path),
                       "reference": None if reference_path is None else str(reference_path)}  # fmt: skip
    audit["signatures"] = signatures(audit)
    (out / "metrics.json").write_text(
        json.dumps(audit, indent=2, default=str) + "\n", encoding="utf-8"
    )
    if run is not None:  # the run's own counts: the report shows its funnel and drop reasons
        report_metrics = {**run[2], "run": {**run[2].get("run", {}), "name": f"audit of run {Path(data_path).name}"}}
    else:
        report_metrics = {"run": {"name": f"audit of {Path(data_path).name}", "seed": seed},
                          "steps": [], "kept": len(records), "dropped": 0}  # fmt: skip
    summary, *details = audit_sections(audit)
    write_report(out, report_metrics, kept=records, dropped=dropped,
                 lead_sections=[summary], extra_sections=details)  # fmt: skip
    card = dataset_card(audit, run_metrics, records=records)
    (out / "card.md").write_text(card, encoding="utf-8")
    return audit

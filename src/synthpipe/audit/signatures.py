"""Failure signatures: every audit threshold, and the traffic-light rows judged against them.

:func:`signatures` turns the numbers of :func:`~synthpipe.audit.dataset.audit_dataset` into
one row per signature (mode collapse, fidelity loss, contamination, bias amplification,
label drift, factuality signals): green / amber / red / n/a, with the value, the threshold and a sentence.
The thresholds live here with their calibration, so a change of judgement touches one file.
"""

from __future__ import annotations

from typing import Any

from synthpipe.audit.languages import language_mixing_row

#: Mode-collapse thresholds used by :func:`~synthpipe.audit.diversity.diversity_report`; a corpus is flagged when ANY
#: threshold is crossed. Calibrated on 1,000-text corpora (seed 0; the collapsed set is 20 SST-2
#: sentences repeated to 1,000 with one random adjacent-word swap each; Vendi on the first 300
#: texts with MiniLM embeddings):
#:
#: =============================  =======  ========  =========
#: metric                         TREC 1k  SST-2 1k  collapsed
#: =============================  =======  ========  =========
#: distinct-2                     0.713    0.760     0.054
#: self-BLEU-4 (500 sampled)      0.161    0.091     0.873
#: compression ratio (gzip)       2.48     2.46      17.5
#: homogenization (ROUGE-L)       0.116    0.076     0.107
#: Vendi / n (300 texts)          0.369    0.272     0.056
#: =============================  =======  ========  =========
#:
#: Thresholds sit well between the natural and the collapsed corpora (roughly 3x margins).
#: Homogenization is reported but not thresholded: a mean over pairs is dominated by the
#: pairs of *different* templates, so it barely moves under this kind of collapse.
#: Distinct-n falls and compression rises slowly with corpus size (Heaps' law), so on corpora
#: much larger than ~10k texts compare against a same-size reference corpus rather than these
#: absolute values. Vendi / n is only checked from ``min_texts_vendi`` texts on (for tiny n it
#: is near 1 for any set) and also falls with n, since Vendi saturates at the embedding's
#: effective rank: compute it on a ~300-1,000 text sample.
COLLAPSE_THRESHOLDS: dict[str, float] = {
    "distinct_2_below": 0.2,
    "self_bleu_above": 0.6,
    "compression_ratio_above": 4.0,
    "vendi_per_text_below": 0.1,
    "min_texts_vendi": 50,
}

#: Words per text in the length-controlled diversity metrics: every text is cut to its opening
#: DIVERSITY_WINDOW words before distinct-n, self-BLEU and compression are computed, so a
#: verbose set is not penalised for its length (texts shorter than this are used whole, so the
#: absolute thresholds above, calibrated on ~10-20-word texts, are unchanged). Calibration in
#: benchmarks/README.md ("Length-controlled diversity").
DIVERSITY_WINDOW = 40

#: Mode collapse against a reference, as (amber, red): used instead of the absolute thresholds
#: whenever a reference is given, both sets at equal size and cut to the same window.
#: distinct-2 ratio = synthetic / reference; self-BLEU gap = synthetic - reference; compression
#: and Vendi/n as synthetic / reference. Calibration in benchmarks/README.md.
COLLAPSE_VS_REFERENCE: dict[str, tuple[float, float]] = {
    "distinct_2_ratio_below": (0.75, 0.5),
    "self_bleu_gap_above": (0.15, 0.3),
    "compression_vs_reference_above": (1.5, 2.0),
    "vendi_vs_reference_below": (0.6, 0.4),
}

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
#: No gendered words at all -> n/a. A HolisticBias axis with fewer than ``min_axis_mentions``
#: person mentions in either set is not compared (its shares rest on a handful of words).
#: Starting points, not tuned per task.
BIAS_THRESHOLDS: dict[str, Any] = {
    "gender_tvd_vs_reference_above": (0.1, 0.25),
    "demographic_representation_above": (0.2, 0.35),
    "min_mentions": 20,
    "min_axis_mentions": 20,
}

#: Label drift, as (amber, red) on the total variation between the kept labels and the closest
#: anchor (the seeds or the reference, whichever is nearer: a set rebalanced on purpose towards
#: one of them is not drift). With fewer than ``min_records`` labelled records the row is at most
#: amber. Calibration in benchmarks/README.md ("Label drift").
LABEL_DRIFT_THRESHOLDS: dict[str, Any] = {"tv_above": (0.1, 0.2), "min_records": 30}

#: Factuality signals from grounded QA's ``grounding_score`` (0-1): a record below
#: ``low_score`` (grounded QA's default drop threshold) is weakly grounded; more than
#: ``amber_share_below`` of records below it is amber. No red: the score is a heuristic.
GROUNDING_THRESHOLDS: dict[str, float] = {"low_score": 0.6, "amber_share_below": 0.1}

_RANK = {"n/a": -1, "green": 0, "amber": 1, "red": 2}


def signatures(audit: dict) -> list[dict[str, Any]]:
    """One traffic-light row per measurable failure signature: mode collapse, fidelity loss,
    contamination, bias amplification, label drift, factuality signals, and language mixing
    when the audit has languages (:mod:`~synthpipe.audit.languages`). Each row:
    ``{name, status (green|amber|red|n/a), value, threshold, explanation}``."""
    return [
        _mode_collapse_row(audit),
        _fidelity_row(audit),
        _contamination_row(audit),
        _bias_row(audit),
        _label_drift_row(audit),
        _factuality_row(audit),
        *([language_mixing_row(audit)] if audit.get("languages") else []),  # multilingual audits only
    ]


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
    if "reference" in div:
        return _collapse_vs_reference_row(div)
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


_RELATIVE = {  # relative metric -> (the metric it compares, how it is printed)
    "distinct_2_ratio": ("distinct_2", "distinct-2"),
    "self_bleu_gap": ("self_bleu", "self-BLEU"),
    "compression_vs_reference": ("compression_ratio", "compression ratio"),
    "vendi_vs_reference": ("vendi_per_text", "Vendi/n"),
}


def _collapse_vs_reference_row(div: dict) -> dict[str, Any]:
    """Mode collapse judged against the reference: each length-controlled figure next to the
    reference's at equal size, amber/red on :data:`COLLAPSE_VS_REFERENCE`."""
    t = COLLAPSE_VS_REFERENCE
    ref = div["reference"]
    rel = dict(ref["relative"])
    pairs = {k: (ref["synthetic"][m], ref["reference"][m]) for k, (m, _) in _RELATIVE.items() if k in rel}
    if div.get("vendi_vs_reference"):
        v = div["vendi_vs_reference"]
        rel["vendi_vs_reference"] = v["ratio"]
        pairs["vendi_vs_reference"] = (v["synthetic"], v["reference"])
    value: dict[str, Any] = {}
    threshold: dict[str, str] = {}
    status, parts = "green", []
    for key, r in rel.items():
        metric, label = _RELATIVE[key]
        syn, refv = pairs[key]
        value[metric] = syn
        value[f"{metric} (reference)"] = refv
        below = f"{key}_below" in t
        amber, red = t[f"{key}_below" if below else f"{key}_above"]
        sign = "<" if below else ">"
        threshold[key] = f"amber {sign} {amber}, red {sign} {red}"
        level = (("red" if r < red else "amber" if r < amber else "green") if below
                 else ("red" if r > red else "amber" if r > amber else "green"))  # fmt: skip
        if level != "green":
            how = f"gap {r:+.2f}" if key == "self_bleu_gap" else f"x{r:.2f}"
            parts.append(f"{label} {syn:.3f} vs {refv:.3f} ({how}, {level})")
        if _RANK[level] > _RANK[status]:
            status = level
    basis = f"reference at n = {ref['n']} each, opening {div.get('window', '?')} words of each text"
    if status == "green":
        text = f"Diversity close to the reference ({basis})."
    else:
        text = f"Less diverse than the reference: {'; '.join(parts)} ({basis})."
        if status == "red":
            text += " Many texts repeat a few templates."
    return _row("mode collapse", status, value, threshold, text)


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
        text = (f"Female share of gendered words {_pct_ci(share, syn.get('female_ci'))} vs "
                f"{_pct_ci(value['reference_female_share'], ref.get('female_ci'))} in the reference "
                f"(TVD {gender_tvd:.3f}; 95% Wilson intervals).")  # fmt: skip
    else:
        dr = syn["tvd"]
        value["demographic_representation"] = dr
        status = _level(dr, *th["demographic_representation_above"])
        why = "no reference given" if "reference" not in b else "no gendered words in the reference"
        text = (f"Female share of gendered words {_pct_ci(share, syn.get('female_ci'))} (HELM "
                f"demographic representation {dr:.3f}; {why}).")  # fmt: skip
    if status == "red" and n_syn < th["min_mentions"]:
        status = "amber"
        text += f" Only {n_syn} gendered words: too few to call red."
    elif status == "green":
        text += " Balance within thresholds."
    return _row("bias amplification", status, value, threshold, text + _axes_note(b))


def _axes_note(b: dict) -> str:
    """How many HolisticBias axes had enough person mentions to compare, and which did not."""
    axes = (b.get("representation_skew") or {}).get("axes")
    if axes:
        hidden = sorted(a for a, v in axes.items() if (v.get("n_synthetic") or v.get("n_reference"))
                        and not v.get("comparable", True))  # fmt: skip
        shown = [a for a, v in axes.items() if v.get("comparable", True) and v.get("tvd") is not None]
    else:
        summary = b.get("axes") or {}
        hidden = sorted(a for a, v in summary.items() if not v["shown"])
        shown = [a for a, v in summary.items() if v["shown"]]
    if not hidden:
        return ""
    floor = b.get("min_axis_mentions", BIAS_THRESHOLDS["min_axis_mentions"])
    return (f" HolisticBias: {len(shown)} axes compared; {', '.join(hidden)} hidden "
            f"(fewer than {floor} person mentions).")  # fmt: skip


def _pct_ci(share: float, ci: list[float] | None) -> str:
    return f"{share:.0%}" + (f" [{ci[0]:.0%}-{ci[1]:.0%}]" if ci else "")


def _label_drift_row(audit: dict) -> dict[str, Any]:
    """Kept labels vs the seeds and the reference; judged on the closer of the two."""
    th = LABEL_DRIFT_THRESHOLDS
    amber, red = th["tv_above"]
    threshold = {"tv": f"amber > {amber}, red > {red} (vs the closer of seeds and reference)"}
    d = audit.get("label_drift")
    anchors = {k: d[k] for k in ("seeds", "reference") if d and d.get(k)}
    if not anchors:
        return _row("label drift", "n/a", {}, threshold,
                    "No labels, or nothing to compare them with (give seeds or a reference with labels).")  # fmt: skip
    value: dict[str, Any] = {"labelled_records": d["n"]}
    parts = []
    for name, c in anchors.items():
        value[f"tv_vs_{name}"] = c["tv"]
        s = c["largest_shift"]
        parts.append(f"vs {name} (n = {c['n']:,}) TV {c['tv']:.2f}, largest shift `{s['label']}` "
                     f"{_pct_ci(s['kept'], s['kept_ci'])} vs {s['anchor']:.0%}")  # fmt: skip
    closest = min(anchors, key=lambda k: anchors[k]["tv"])
    status = _level(anchors[closest]["tv"], amber, red)
    text = f"Kept labels (n = {d['n']:,}) " + "; ".join(parts) + "."
    if status == "red" and d["n"] < th["min_records"]:
        status = "amber"
        text += f" Only {d['n']} labelled records: too few to call red."
    elif status == "red":
        text += " The kept labels drifted from everything they were anchored to."
    elif status == "green":
        text += f" Within {amber} of the {closest}."
    return _row("label drift", status, value, threshold, text)


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

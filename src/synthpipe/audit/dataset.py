"""Audit a dataset: the numbers for diversity, fidelity, bias, labels and the run's facts.

:func:`audit_dataset` computes only; :func:`~synthpipe.audit.signatures.signatures` judges
the result, :mod:`synthpipe.report.audit_section` and :mod:`synthpipe.report.card` render it,
and :func:`synthpipe.run.audit_files.run_audit` does it all for files on disk.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthpipe.audit.bias import bias_report
from synthpipe.audit.diversity import cluster_stats, diversity_report, vendi_score
from synthpipe.audit.embedding_map import embedding_map
from synthpipe.audit.fidelity import fidelity_report
from synthpipe.audit.run_facts import contamination_facts, grounding_facts, verification_facts
from synthpipe.audit.signatures import COLLAPSE_THRESHOLDS, VENDI_SAMPLE
from synthpipe.data.sampling import evenly_spaced

_log = logging.getLogger("synthpipe.audit")


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

    embedder, emb, ref_emb, note = _embeddings(texts, ref_texts, embed)
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
        _add_vendi(div, emb, seed)
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
    audit["contamination"] = contamination_facts(run_metrics, records, dropped)
    audit["factuality"] = grounding_facts(records)
    audit["verification"] = verification_facts(run_metrics, records)
    return audit


def _embeddings(
    texts: list[str], ref_texts: list[str], embed: bool
) -> tuple[Any | None, Any | None, Any | None, str | None]:
    """(embedder, synthetic embeddings, reference embeddings, note on why none were made)."""
    embedder, note = (None, "disabled (--no-embed)") if not embed else _load_embedder()
    if embedder is None or not texts:
        if embed and note:
            _log.warning("audit: embeddings skipped (%s)", note)
        return embedder, None, None, note
    from synthpipe.embeddings.cache import EMBEDDING_CACHE  # shared with a run's experiment

    emb = EMBEDDING_CACHE.encode(embedder, texts)
    ref_emb = EMBEDDING_CACHE.encode(embedder, ref_texts) if ref_texts else None
    return embedder, emb, ref_emb, None


def _add_vendi(div: dict[str, Any], emb: Any, seed: int) -> None:
    """Vendi score and clusters on at most :data:`VENDI_SAMPLE` evenly spaced texts (the size
    its collapse threshold was calibrated at), and the Vendi collapse check."""
    v_idx = evenly_spaced(len(emb), VENDI_SAMPLE)
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

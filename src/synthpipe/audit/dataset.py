"""Audit a dataset: the numbers for diversity, fidelity, bias, labels and the run's facts.

:func:`audit_dataset` computes only; :func:`~synthpipe.audit.signatures.signatures` judges
the result, :mod:`synthpipe.report.audit_section` and :mod:`synthpipe.report.card` render it,
and :func:`synthpipe.run.audit_files.run_audit` does it all for files on disk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from synthpipe.audit.bias import bias_report
from synthpipe.audit.diversity import (
    cluster_stats,
    collapse_verdict,
    diversity_report,
    top_ngrams,
    vendi_score,
)
from synthpipe.audit.embedding_map import embedding_map
from synthpipe.audit.fidelity import fidelity_report
from synthpipe.audit.labels import label_counts, label_drift
from synthpipe.audit.languages import language_report
from synthpipe.audit.run_facts import contamination_facts, grounding_facts, verification_facts
from synthpipe.audit.signatures import VENDI_SAMPLE
from synthpipe.audit.text_side import (
    PROMPT_FIELDS,
    RESPONSE_FIELDS,
    resolve_embed_side,
    shared_prompts,
)
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
    embed_field: str = "auto",
    seeds: Sequence[dict] | None = None,
    language_field: str | None = None,
    embedder: Any = None,
) -> dict[str, Any]:
    """Diversity (+ mode collapse), fidelity vs ``reference``, bias, labels and label drift,
    contamination and factuality (``grounding_score``) facts.

    Diversity is computed on up to ``sample`` evenly spaced records (Vendi on at most
    :data:`VENDI_SAMPLE` of those), length-controlled and, with a reference, next to the
    reference's values. Fidelity compares up to ``sample`` evenly spaced records of each set,
    subsampled to EQUAL sizes by :func:`fidelity_report` (``fidelity.sample_size``), embedding
    the side ``embed_field`` names (:func:`~synthpipe.audit.text_side.resolve_embed_side`;
    ``auto``: the response when records are prompt/response pairs). Embedding metrics are
    skipped, with a note, when ``embed`` is false or MiniLM won't load. Bias
    (:func:`~synthpipe.audit.bias.bias_report`) uses the same samples as diversity; group
    sentiment is included when vaderSentiment is installed. ``seeds`` (records with
    ``label_field``) anchor the label-drift comparison with the reference. With
    ``language_field``, per-language counts and language mixing
    (:func:`~synthpipe.audit.languages.language_report`) on the same sample. `embedder`:
    one to use instead of loading MiniLM here (its vectors go through the embedding cache).
    """
    records = list(records)
    idx = evenly_spaced(len(records), sample)
    picked = [records[i] for i in idx]
    texts = [_text(r, text_field) for r in picked]
    ref_picked: list[dict] = []
    if reference is not None:
        reference = list(reference)
        ref_picked = [reference[i] for i in evenly_spaced(len(reference), sample)]
    ref_texts = [_text(r, text_field) for r in ref_picked]
    side = resolve_embed_side(
        picked, text_field, embed_field, ref_picked if reference is not None else None
    )
    own_side = side.fields == (text_field,) and not side.messages
    fid_texts = texts if own_side else [side.text(r) for r in picked]
    fid_ref = ref_texts if own_side else [side.text(r) for r in ref_picked]

    embedder, emb, ref_emb, note = _embeddings(fid_texts, fid_ref, embed, embedder)
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
            "side": side.description,
        },
    }

    div = diversity_report(texts, seed=seed, reference=ref_texts if reference is not None else None)
    if emb is not None and len(texts) >= 2:
        div_emb = emb if own_side else _encode(embedder, texts)
        _add_vendi(div, div_emb, ref_emb if own_side else None, seed)
    audit["diversity"] = div

    audit["labels"] = label_counts(records, label_field)
    audit["label_drift"] = label_drift(
        [r.get(label_field) for r in records],
        [r.get(label_field) for r in seeds] if seeds else None,
        [r.get(label_field) for r in reference] if reference is not None else None,
    )
    audit["lengths"] = {"synthetic": [len(t.split()) for t in fid_texts]}

    audit["fidelity"] = None
    if reference is not None:
        audit["reference"] = {"n_records": len(reference), "sample": len(ref_texts)}
        audit["lengths"]["reference"] = [len(t.split()) for t in fid_ref]
        if min(len(texts), len(ref_texts)) >= 2:
            audit["fidelity"] = _fidelity(picked, ref_picked, fid_texts, fid_ref, emb, ref_emb,
                                          label_field, side.description, seed)  # fmt: skip
    audit["embedding_map"] = (embedding_map(emb, ref_emb, texts=(fid_texts, fid_ref))
                              if emb is not None else None)  # fmt: skip
    audit["top_ngrams"] = {"synthetic": top_ngrams(texts),
                           "reference": top_ngrams(ref_texts) if reference is not None else None}  # fmt: skip
    audit["bias"] = bias_report(texts, ref_texts if reference is not None else None)
    audit["contamination"] = contamination_facts(run_metrics, records, dropped)
    audit["factuality"] = grounding_facts(records)
    audit["verification"] = verification_facts(run_metrics, records)
    if language_field:
        audit["languages"] = language_report(picked, language_field, ("text", *PROMPT_FIELDS, *RESPONSE_FIELDS))
    return audit


def _fidelity(picked: list[dict], ref_picked: list[dict], texts: list[str], ref_texts: list[str],
              emb: Any, ref_emb: Any, label_field: str, side: str, seed: int) -> dict[str, Any]:  # fmt: skip
    """Fidelity of the embedded side, with a note on what was compared and embedded."""
    labels = None
    if any(r.get(label_field) is not None for r in picked) and any(
        r.get(label_field) is not None for r in ref_picked
    ):
        labels = (
            [str(r.get(label_field)) for r in picked],
            [str(r.get(label_field)) for r in ref_picked],
        )
    fid = fidelity_report(texts, ref_texts, emb, ref_emb, labels=labels, seed=seed)
    fid["embedded"] = side
    fid["shared_prompts"] = shared_prompts(picked, ref_picked)
    fid["note"] = (
        f"synthetic and reference compared at equal sample sizes "
        f"(n = {fid['sample_size']} each, seed {seed}); embedded: {side}"
    )
    return fid


def _embeddings(
    texts: list[str], ref_texts: list[str], embed: bool, embedder: Any = None
) -> tuple[Any | None, Any | None, Any | None, str | None]:
    """(embedder, synthetic embeddings, reference embeddings, note on why none were made)."""
    if not embed:
        embedder, note = None, "disabled (--no-embed)"
    else:
        embedder, note = (embedder, None) if embedder is not None else _load_embedder()
    if embedder is None or not texts:
        if embed and note:
            _log.warning("audit: embeddings skipped (%s)", note)
        return embedder, None, None, note
    emb = _encode(embedder, texts)
    ref_emb = _encode(embedder, ref_texts) if ref_texts else None
    return embedder, emb, ref_emb, None


def _encode(embedder: Any, texts: list[str]) -> Any:
    from synthpipe.embeddings.cache import EMBEDDING_CACHE  # shared with a run's experiment

    return EMBEDDING_CACHE.encode(embedder, texts)


def _add_vendi(div: dict[str, Any], emb: Any, ref_emb: Any | None, seed: int) -> None:
    """Vendi score and clusters on at most :data:`VENDI_SAMPLE` evenly spaced texts (the size
    its collapse threshold was calibrated at); with reference embeddings, the reference's
    Vendi/n at the same size; then the collapse verdict again."""
    if ref_emb is not None and (len(ref_emb) < 2 or "reference" not in div):
        ref_emb = None
    n = (
        min(len(emb), VENDI_SAMPLE)
        if ref_emb is None
        else min(len(emb), len(ref_emb), VENDI_SAMPLE)
    )
    v_emb = emb[evenly_spaced(len(emb), n)]
    vendi = vendi_score(v_emb)
    div["vendi"] = vendi
    div["vendi_per_text"] = vendi / n
    div["vendi_sample"] = n
    div["clusters"] = cluster_stats(v_emb, seed=seed)
    if ref_emb is not None:
        ref_n = vendi_score(ref_emb[evenly_spaced(len(ref_emb), n)]) / n
        div["vendi_vs_reference"] = {"n": n, "synthetic": div["vendi_per_text"], "reference": ref_n,
                                     "ratio": div["vendi_per_text"] / ref_n if ref_n else 1.0}  # fmt: skip
    div["mode_collapse"] = collapse_verdict(div)

"""One way to show a metric value as text, shared by the HTML report and the markdown card."""

from __future__ import annotations

import re
from typing import Any


def format_value(value: Any) -> str:
    """A metric value as short text: ``–`` for None, yes/no, 3 decimals (whole numbers with
    thousands separators from 1,000 on), ints with separators, a dict as ``key value, ...``.

    The result is plain text: escape it for HTML, or use :func:`markdown_cell` in a table."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or "–"
    return str(value)


def markdown_cell(value: Any) -> str:
    """:func:`format_value` made safe for one markdown table cell (or list item): pipes
    escaped, newlines flattened."""
    return format_value(value).replace("|", "\\|").replace("\n", " ")


#: Readable names for the metric keys the audit stores; the report never shows a raw key.
METRIC_LABELS = {
    "n_texts": "texts measured",
    "distinct_1": "distinct-1 (unique words / words)",
    "distinct_2": "distinct-2 (unique bigrams / bigrams)",
    "distinct_3": "distinct-3 (unique trigrams / trigrams)",
    "self_bleu": "self-BLEU (lower = more varied)",
    "compression_ratio": "compression ratio (higher = more repetitive)",
    "homogenization": "homogenization (mean pairwise ROUGE-L)",
    "mean_words": "mean length (words)",
    "vendi": "Vendi score (effective number of distinct texts)",
    "vendi_per_text": "Vendi score per text",
    "vendi_sample": "texts in the Vendi sample",
    "distinct_2_ratio": "distinct-2, synthetic / reference",
    "self_bleu_gap": "self-BLEU, synthetic minus reference",
    "compression_vs_reference": "compression ratio, synthetic / reference",
    "k": "clusters asked for (k)",
    "n_clusters": "clusters found",
    "largest_cluster_frac": "largest cluster's share",
    "cluster_entropy": "cluster entropy (1 = even)",
    "ks": "length KS statistic",
    "tv": "length total variation",
    "mean_a": "mean length (words), synthetic",
    "mean_b": "mean length (words), reference",
    "vocabulary_tv": "vocabulary total variation",
    "frechet_distance": "Fréchet embedding distance",
    "mauve": "MAUVE",
    "precision": "precision (synthetic inside real)",
    "recall": "recall (real covered by synthetic)",
    "density": "density",
    "coverage": "coverage",
    "sample_size": "sample size (each set)",
    "length_ks": "length KS statistic",
    "female_share": "female share of gendered words",
    "reference_female_share": "female share in the reference",
    "gendered_words": "gendered words",
    "gender_tvd_vs_reference": "gender TVD vs reference",
    "demographic_representation": "demographic representation TVD",
    "labelled_records": "labelled records",
    "tv_vs_seeds": "label TV vs seeds",
    "tv_vs_reference": "label TV vs reference",
    "flagged_kept": "flagged but kept",
    "share_below": "share of low grounding scores",
}


#: Short names for metric keys inside running text (signature explanations, thresholds).
SHORT_LABELS = {
    "length_ks": "length KS", "distinct_2": "distinct-2", "distinct_1": "distinct-1", "distinct_3": "distinct-3",
    "self_bleu": "self-BLEU", "compression_ratio": "compression ratio", "vendi_per_text": "Vendi per text",
    "vendi_sample": "Vendi sample", "mean_a": "mean length (synthetic)", "mean_b": "mean length (reference)",
}  # fmt: skip


def readable_text(text: str) -> str:
    """``text`` with each bare snake_case key (not a `quoted` field name) by its short name."""
    return _SNAKE.sub(lambda m: SHORT_LABELS.get(m.group(0), m.group(0).replace("_", " ")), text)


_SNAKE = re.compile(r"(?<![`\w])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![`\w])")


def metric_label(key: str) -> str:
    """The readable name of a metric key (the key with spaces for one not in the map)."""
    return METRIC_LABELS.get(key, key.replace("_", " "))

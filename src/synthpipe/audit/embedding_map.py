"""A 2-D map of synthetic vs reference embeddings for the report.

PCA fitted on the union of both samples (so the axes are shared and a region covered by
only one set shows as a patch of one colour). PCA, not t-SNE/UMAP: it is deterministic,
needs no extra dependency, and keeps global distances, which is what "does the synthetic
data cover the real data" asks about. The two axes' explained-variance shares are reported
because a 2-D view of a 384-D space can hide separation that the fidelity numbers show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthpipe.data.sampling import evenly_spaced

MAX_POINTS = 500  # per set: enough to see structure, small enough for an inline SVG
SNIPPET_CHARS = 80  # the text shown when hovering a point: enough to recognise it


def embedding_map(
    synthetic: np.ndarray,
    reference: np.ndarray | None = None,
    max_points: int = MAX_POINTS,
    texts: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any] | None:
    """``{"method", "explained_variance", "synthetic": [[x, y]...], "reference": [...]}``
    with at most ``max_points`` evenly spaced points per set; None with fewer than 3 points.
    With ``texts`` (the embedded texts of each set), ``snippets`` holds each point's opening."""
    sets = [synthetic] + ([reference] if reference is not None and len(reference) else [])
    keep = [evenly_spaced(len(e), max_points) for e in sets]
    picked = [np.asarray(e, dtype=np.float64)[k] for e, k in zip(sets, keep, strict=True)]
    union = np.vstack(picked)
    if len(union) < 3:
        return None
    mean = union.mean(axis=0)
    _, s, vt = np.linalg.svd(union - mean, full_matrices=False)
    axes = vt[:2]
    var = s**2
    share = (var[:2] / var.sum()).tolist() if var.sum() > 0 else [0.0, 0.0]
    out: dict[str, Any] = {"method": "PCA (fitted on both sets)", "explained_variance": share}
    for name, e in zip(("synthetic", "reference"), picked, strict=False):
        out[name] = np.round((e - mean) @ axes.T, 4).tolist()
    if texts is not None:
        out["snippets"] = {name: [t[:SNIPPET_CHARS] for t in (texts[i][j] for j in k)]
                           for i, (name, k) in enumerate(zip(("synthetic", "reference"), keep, strict=False))}  # fmt: skip
    return out

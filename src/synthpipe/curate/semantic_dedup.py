"""Semantic deduplication: drop records whose embeddings are near-duplicates of another's.

Method: SemDeDup (Abbas, Tirumala, Simig, Ganguli, Morcos, 2023, "SemDeDup: Data-efficient
learning at web-scale through semantic deduplication", arXiv:2303.09540). Records are embedded
with the offline all-MiniLM-L6-v2 embedder; k-means partitions the embeddings, and pairs with
cosine similarity >= ``threshold`` are searched for only near each point's own cluster, so no
N x N matrix is ever built. Pairs are joined into groups (connected components, i.e.
union-find); each group keeps one record and drops the others with reason
``semantic_duplicate`` and detail ``of <kept id> (cos 0.93)`` (the cosine between the dropped
and the kept record).

The clustered search (:func:`similar_pairs`, :func:`search_pairs`) and an exact blockwise
nearest-neighbour search (:func:`nearest_neighbors`, for decontamination: test items vs
training records) are reusable on any L2-normalised embeddings.

Clustered search, step by step:

1. Spherical k-means (Lloyd, cosine) on a seeded sample (``kmeans_sample``, default
   ``max(10_000, 40 k)``) for ``kmeans_iterations`` (10) rounds; ``k = ceil(sqrt(N))`` unless
   set. Inputs of at most ``max_cluster_size`` points are searched exactly, as one cluster.
2. Each point is held by the cell of its nearest centroid and searches the cells of its
   ``n_probe`` (4) nearest centroids: the inverted-file search of Jegou, Douze & Schmid
   (2011, "Product quantization for nearest neighbor search"; FAISS's ``nprobe``). A pair is
   found when one point's cell is among the other's ``n_probe`` nearest, which keeps most
   pairs that straddle a border. Measured recall against brute force on real sentences
   (``benchmarks/bench_semantic_dedup.py``, threshold 0.9): n_probe 2 / 3 / 4 = 0.992 / 0.998
   / 0.9997 at 30k records and 0.984 / 0.996 / 0.998 at 100k (recall falls slowly as k grows);
   1.0 on 2k clustered random points. Work grows linearly with ``n_probe``; ``n_probe=k`` is
   exact. (Letting each point *join* its 2 nearest cells, all members compared, does the work
   of n_probe=2 for recall 0.992 at 100k; searching is simpler and serves query-vs-index.)
3. Cells holding more than ``max_cluster_size`` (2048) points are split by k-means on those
   points and their searchers re-routed to their ``n_probe`` nearest sub-cells, recursively;
   a cell k-means cannot split (e.g. identical vectors) is compared exhaustively.
4. Within a cell, searcher-vs-held cosines are computed in row blocks of 1024 (float32
   matmul), so memory stays O(1024 x cell) on top of the O(N d) embeddings.

Cost: about (1 + 1.25 n_probe) N sqrt(N) d multiply-adds with the default k (assigning N
points to sqrt(N) centroids, then cells of ~sqrt(N) points searched by ~n_probe sqrt(N)
points), against N^2 d / 2 for brute force: ~25x less at 100k records.

Keep rule (``keep``): ``first`` (default) keeps the earliest record in pipeline order, so the
survivor does not depend on k-means; ``farthest`` keeps the member least similar to its
k-means centroid (SemDeDup's rule: prototypical examples are the redundant ones);
``central`` keeps the most similar one (inputs of at most ``max_cluster_size`` records
form one cluster, whose centroid is their normalised mean). Ties go to the earliest record.

Groups are transitive (a~b and b~c drop b and c even if cos(a, c) < threshold), hence the
cosine in the detail can be lower than the threshold. Exact duplicate texts are embedded
once and grouped with cosine 1.0. The step asks the search for a spanning forest of the
pairs only (``connected=True``), so a blob of m mutual near-duplicates costs O(m), not O(m^2).

Default threshold 0.9: with MiniLM, close paraphrases and rewordings score 0.9-0.99, while
different questions on the same topic mostly score 0.6-0.85. Lower it (0.85) to merge looser
paraphrases; raise it (0.95) to drop only near-verbatim rewrites. Embeddings conflate texts
that share their entities: TREC's "How old was Elvis Presley when he died?" and "When did
Elvis Presley die?" score 0.95.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from synthpipe.data.records import DROP, ID, Batch, drop
from synthpipe.embeddings.cache import embed
from synthpipe.embeddings.kmeans import (
    ASSIGN_BLOCK,
    blocked_matmul,
    normalize_rows,
    spherical_kmeans,
    top_centroids,
)
from synthpipe.embeddings.minilm import embedder_requirements
from synthpipe.errors import StepError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext

ROW_BLOCK = 1024  # rows of a similarity block: 1024 x cluster floats at a time
MAX_SPLIT_DEPTH = 4


# -- reusable search ------------------------------------------------------------------------
@dataclass
class PairSearch:
    """Pairs ``i < j`` with cosine >= threshold (sorted by i, j; a spanning forest of them
    with ``connected=True``) and each point's cosine to its nearest k-means centroid (used
    by the ``central`` / ``farthest`` keep rules)."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    cos: np.ndarray  # float32
    centroid_cos: np.ndarray  # float32, one per point
    n_clusters: int
    largest_cluster: int


def similar_pairs(embeddings: np.ndarray, threshold: float = 0.9, **options: Any) -> list[tuple[int, int, float]]:
    """All pairs ``(i, j, cos)`` with ``i < j`` and cosine >= `threshold`, sorted.

    `embeddings` are L2-normalised rows (float32 or float16); `options` are those of
    :func:`search_pairs` (clusters, n_probe, ..., ``exact=True`` to compare every pair).
    """
    found = search_pairs(embeddings, threshold, **options)
    return list(zip(found.i.tolist(), found.j.tolist(), found.cos.tolist(), strict=True))


def search_pairs(
    embeddings: np.ndarray,
    threshold: float = 0.9,
    *,
    n_clusters: int | None = None,
    n_probe: int = 4,
    max_cluster_size: int = 2048,
    kmeans_iterations: int = 10,
    kmeans_sample: int | None = None,
    seed: int = 0,
    exact: bool = False,
    connected: bool = False,
) -> PairSearch:
    """:func:`similar_pairs` as arrays, plus the centroid similarities (no Python tuples).

    ``connected=True`` returns, instead of every pair, a spanning forest of the similarity
    graph: the same connected components from at most N - 1 edges, each joining a point to
    the smallest index of its group (a group of m mutual near-duplicates costs O(m) memory,
    not O(m^2)); an edge's cosine may then be below the threshold. Dedup needs only these.
    """
    x = np.asarray(embeddings)
    n = len(x)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairSearch(empty, empty, np.zeros(0, np.float32), np.zeros(0, np.float32), 0, 0)
    if exact or n <= max_cluster_size:
        centroid = normalize_rows(x.astype(np.float32).sum(0, keepdims=True))
        cells = [Cell(np.arange(n), np.arange(n))]
        centroid_cos = blocked_matmul(x, centroid)[:, 0]
    else:
        k = min(n, n_clusters or math.ceil(math.sqrt(n)))
        rng = np.random.default_rng(seed)
        centroids = spherical_kmeans(x, k, iterations=kmeans_iterations, sample=kmeans_sample, rng=rng)
        nearest, sims = top_centroids(x, centroids, min(n_probe, k))
        centroid_cos = sims[:, 0]
        cells = []
        for cell in _cells(np.arange(n), nearest, np.arange(n), nearest, k):
            cells.extend(_split(x, cell, max_cluster_size, n_probe, kmeans_iterations, rng, 1))
    within = _cell_forest if connected else _cell_pairs
    parts = [within(x, cell, threshold) for cell in cells]
    i, j, cos = _unique_pairs(parts, n)
    if connected:  # one global forest: at most N - 1 edges (point -> smallest point of its group)
        label = connected_components(n, i, j)
        j = np.flatnonzero(label != np.arange(n))
        i = label[j]
        cos = _row_dots(x, i, j)
    largest = max((len(c.index) for c in cells), default=0)
    return PairSearch(i, j, cos, centroid_cos.astype(np.float32), len(cells), largest)


def nearest_neighbors(
    queries: np.ndarray, index: np.ndarray, k: int = 1, *, query_block: int = 2048, index_block: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-`k` cosine neighbours of each query row among `index` rows, blockwise.

    Returns ``(indices, sims)``, both ``(len(queries), min(k, len(index)))``, best first
    (ties: lower index first). Memory O(query_block x index_block); time O(Q N d).
    """
    q, n = len(queries), len(index)
    k = min(k, n)
    best_i = np.zeros((q, k), dtype=np.int64)
    best_s = np.zeros((q, k), dtype=np.float32)
    if k == 0 or q == 0:
        return best_i, best_s
    for q0 in range(0, q, query_block):
        qb = np.asarray(queries[q0 : q0 + query_block], dtype=np.float32)
        cand_i = np.zeros((len(qb), 0), dtype=np.int64)
        cand_s = np.zeros((len(qb), 0), dtype=np.float32)
        for i0 in range(0, n, index_block):
            sims = qb @ np.asarray(index[i0 : i0 + index_block], dtype=np.float32).T
            top = _top_k_columns(sims, k)
            cand_i = np.concatenate([cand_i, top + i0], axis=1)
            cand_s = np.concatenate([cand_s, np.take_along_axis(sims, top, axis=1)], axis=1)
            keep = _best_k(cand_s, cand_i, k)
            cand_i = np.take_along_axis(cand_i, keep, axis=1)
            cand_s = np.take_along_axis(cand_s, keep, axis=1)
        best_i[q0 : q0 + len(qb)] = cand_i
        best_s[q0 : q0 + len(qb)] = cand_s
    return best_i, best_s


# -- search internals -----------------------------------------------------------------------
def _top_k_columns(sims: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest values per row (unordered)."""
    if k >= sims.shape[1]:
        return np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
    return np.argpartition(-sims, k - 1, axis=1)[:, :k]


def _best_k(sims: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best per row: highest similarity first, then lowest index."""
    order = np.lexsort((idx, -sims), axis=1)
    return order[:, :k]


@dataclass
class Cell:
    """One k-means cell: the points it holds (nearest centroid) and the points that search
    it (it is among their `n_probe` nearest centroids; includes `index`). Both ascending."""

    index: np.ndarray
    queries: np.ndarray


def _group(points: np.ndarray, nearest: np.ndarray, k: int) -> list[np.ndarray]:
    """For each of `k` centroids, the `points` (ascending) listing it in their row of `nearest`."""
    owners = np.repeat(points, nearest.shape[1])
    order = np.argsort(nearest.ravel(), kind="stable")  # stable: points stay ascending
    bounds = np.cumsum(np.bincount(nearest.ravel(), minlength=k))[:-1]
    return np.split(owners[order], bounds)


def _cells(index, index_nearest, queries, query_nearest, k) -> list[Cell]:
    held = _group(index, index_nearest[:, :1], k)
    searching = _group(queries, query_nearest, k)
    return [Cell(h, q) for h, q in zip(held, searching, strict=True) if len(h)]


def _split(x, cell: Cell, cap, n_probe, iterations, rng, depth) -> list[Cell]:
    """Split an oversized cell by k-means on the points it holds; keep it whole if that fails."""
    if len(cell.index) <= cap or depth > MAX_SPLIT_DEPTH:
        return [cell]
    k = min(len(cell.index), math.ceil(2 * len(cell.index) / cap))
    centroids = spherical_kmeans(x[cell.index], k, iterations=iterations, rng=rng)
    held, _ = top_centroids(x[cell.index], centroids, 1)
    searching, _ = top_centroids(x[cell.queries], centroids, min(n_probe, k))
    parts = _cells(cell.index, held, cell.queries, searching, k)
    if max(len(p.index) for p in parts) >= len(cell.index):  # k-means could not split (identical points)
        return [cell]
    out: list[Cell] = []
    for part in parts:
        out.extend(_split(x, part, cap, n_probe, iterations, rng, depth + 1))
    return out


def _cell_blocks(x: np.ndarray, cell: Cell, threshold: float):
    """(query row, index column, cosine) of the pairs >= threshold in a cell, by row blocks."""
    held = np.asarray(x[cell.index], dtype=np.float32)
    for q0 in range(0, len(cell.queries), ROW_BLOCK):
        queries = np.asarray(x[cell.queries[q0 : q0 + ROW_BLOCK]], dtype=np.float32)
        sims = queries @ held.T
        rows, cols = np.nonzero(sims >= threshold)
        yield q0 + rows, cols, sims[rows, cols]


def _cell_pairs(x: np.ndarray, cell: Cell, threshold: float):
    """Pairs (global i < global j) with cosine >= threshold between a cell's queries and points."""
    found_i, found_j, found_s = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for rows, cols, sims in _cell_blocks(x, cell, threshold):
        a, b = cell.queries[rows], cell.index[cols]
        other = a != b
        a, b = a[other], b[other]
        found_i.append(np.minimum(a, b))
        found_j.append(np.maximum(a, b))
        found_s.append(sims[other])
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)


def _cell_forest(x: np.ndarray, cell: Cell, threshold: float):
    """Like :func:`_cell_pairs`, but only a spanning forest of the pairs (point -> its root)."""
    nodes = np.union1d(cell.queries, cell.index)
    query_at, index_at = np.searchsorted(nodes, cell.queries), np.searchsorted(nodes, cell.index)
    label = np.arange(len(nodes))
    for rows, cols, _ in _cell_blocks(x, cell, threshold):
        a, b = query_at[rows], index_at[cols]
        new = label[a] != label[b]  # edges inside a known component add nothing
        if new.any():
            label = connected_components(len(nodes), np.concatenate([a[new], np.arange(len(label))]),
                                         np.concatenate([b[new], label]))  # fmt: skip
    linked = np.flatnonzero(label != np.arange(len(label)))
    return nodes[label[linked]], nodes[linked], np.zeros(len(linked), np.float32)  # roots are smallest


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label of each of `n` nodes given edges a[k]-b[k]: its smallest node index.

    Vectorised hooking and pointer jumping (Shiloach & Vishkin, 1982, "An O(log n) parallel
    connectivity algorithm"): every root hooks onto the smallest root it has an edge to,
    then paths are compressed, until no edge joins two roots.
    """
    parent = np.arange(n)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while len(a):
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        a, b, ra, rb = a[differ], b[differ], ra[differ], rb[differ]
        if not len(a):
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def _row_dots(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(len(i), dtype=np.float32)
    for start in range(0, len(i), ASSIGN_BLOCK):
        a = np.asarray(x[i[start : start + ASSIGN_BLOCK]], dtype=np.float32)
        out[start : start + ASSIGN_BLOCK] = (a * np.asarray(x[j[start : start + ASSIGN_BLOCK]], dtype=np.float32)).sum(1)
    return out


def _unique_pairs(parts, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge per-cluster pairs; a pair seen in several clusters is kept once."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    i = np.concatenate([p[0] for p in parts]).astype(np.int64)
    j = np.concatenate([p[1] for p in parts]).astype(np.int64)
    cos = np.concatenate([p[2] for p in parts]).astype(np.float32)
    keys, first = np.unique(i * n + j, return_index=True)  # sorted by (i, j)
    return keys // n, keys % n, cos[first]


# -- the step -------------------------------------------------------------------------------
class SemanticDedupConfig(StepConfig):
    text_field: str = Field("text", description="field whose text is embedded; records without it are kept")
    threshold: float = Field(
        0.9, gt=0.0, le=1.0,
        description="cosine at or above which two records are duplicates (0.9: paraphrases, not same-topic texts)",
    )  # fmt: skip
    keep: Literal["first", "central", "farthest"] = Field(
        "first",
        description="which group member survives: first in pipeline order, or most/least similar "
        "to its k-means centroid (farthest = SemDeDup's rule)",
    )
    n_clusters: int | None = Field(None, ge=1, description="k-means clusters; default ceil(sqrt(N))")
    n_probe: int = Field(
        4, ge=1, description="cells (nearest centroids) each record searches: 4 finds ~99.8% of pairs at 100k"
    )
    max_cluster_size: int = Field(2048, ge=16, description="cells holding more records are split by k-means again")
    kmeans_iterations: int = Field(10, ge=1, description="Lloyd iterations on the sample")
    kmeans_sample: int | None = Field(None, ge=1, description="points k-means trains on; default max(10000, 40k)")
    half_precision: bool = Field(False, description="hold embeddings as float16 (half the memory, cosines to ~1e-3)")
    embed_chunk: int = Field(4096, ge=1, description="texts gathered per embedder call (length-sorted "
                             "inside; texts embedded before come from the shared embedding cache)")
    batch_size: int = Field(64, ge=1, description="embedder forward batch")
    model_path: str | None = Field(None, description="embedding model directory; default the bundled all-MiniLM-L6-v2")
    backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="embedding backend; auto = onnxruntime when installed, else torch"
    )


@register_step("semantic_dedup")
class SemanticDedup(GlobalStep):
    """Drops records whose text embedding has cosine >= ``threshold`` with a kept record's.

    SemDeDup with a clustered, blockwise pair search (see the module docstring). Two passes
    over the input: the first embeds (keeping only ids and float32 or float16 vectors: O(N d)
    memory), the second re-reads the batches and marks drops. Output order is the input
    order; records without the text field are kept.

    Input columns: `text_field` (default ``text``).
    Output columns: none: marks records dropped.
    Drop reasons: ``semantic_duplicate`` (detail: ``of <kept id> (cos 0.93)``).
    References: Abbas et al. (2023), "SemDeDup: Data-efficient learning at web-scale through
    semantic deduplication", arXiv:2303.09540; Jegou, Douze & Schmid (2011), "Product
    quantization for nearest neighbor search", IEEE TPAMI (the inverted-file search).
    """

    Config = SemanticDedupConfig
    marks_only = True  # one output batch per input batch, drops marked
    config: SemanticDedupConfig
    drop_reasons = ("semantic_duplicate",)

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()

    def requirements(self) -> tuple[str, ...]:
        return embedder_requirements(self.config.model_path, self.config.backend)

    def _embedder(self):
        from synthpipe.embeddings import get_embedder

        c = self.config
        return get_embedder(c.model_path, c.batch_size, c.backend)

    def fingerprint_extra(self, env: dict[str, Any]) -> Any:
        return {"embedder": self._embedder().identity()}

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        started = time.perf_counter()
        ids, rows, vectors = self._embed_all(batches)
        embedded = time.perf_counter()
        c = self.config
        found = search_pairs(
            vectors, c.threshold, n_clusters=c.n_clusters, n_probe=c.n_probe, max_cluster_size=c.max_cluster_size,
            kmeans_iterations=c.kmeans_iterations, kmeans_sample=c.kmeans_sample, seed=ctx.seed, connected=True,
        )  # fmt: skip
        drops = self._choose(ids, rows, vectors, found)
        ctx.log.info(
            "semantic_dedup: %d records, %d distinct texts, embedded in %.1fs; %d clusters (largest %d), "
            "%d links, %d dropped, search %.1fs",
            len(ids), len(vectors), embedded - started, found.n_clusters, found.largest_cluster,
            len(found.i), len(drops), time.perf_counter() - embedded,
        )  # fmt: skip
        yield from self._mark(batches, ctx, ids, drops)

    # pass 1 ---------------------------------------------------------------------------------
    def _text(self, record: dict) -> str | None:
        value = record.get(self.config.text_field)
        return None if value is None or record.get(DROP) else str(value)

    def _embed_all(self, batches):
        """ids of embedded records, their row in `vectors` (exact duplicates share one), vectors."""
        embedder = self._embedder()
        dtype = np.float16 if self.config.half_precision else np.float32
        ids: list[str] = []
        rows: list[int] = []
        first_row: dict[bytes, int] = {}
        pending: list[str] = []
        chunks: list[np.ndarray] = []
        for batch in batches():
            for record in batch:
                text = self._text(record)
                if text is None:
                    continue
                ids.append(str(record.get(ID)))
                key = hashlib.blake2b(text.encode(), digest_size=16).digest()
                if key not in first_row:
                    first_row[key] = len(first_row)
                    pending.append(text)
                rows.append(first_row[key])
                if len(pending) >= self.config.embed_chunk:
                    chunks.append(embed(embedder, pending).astype(dtype))
                    pending = []
        if pending:
            chunks.append(embed(embedder, pending).astype(dtype))
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype)
        return ids, np.asarray(rows, dtype=np.int64), vectors

    # grouping -------------------------------------------------------------------------------
    def _choose(self, ids, rows, vectors, found: PairSearch) -> dict[int, tuple[str, float]]:
        """Record position -> (kept id, cosine to it) for every dropped record."""
        label = connected_components(len(vectors), found.i, found.j)[rows]  # per record position
        shared = np.flatnonzero(np.bincount(label, minlength=len(vectors))[label] > 1)  # skip singletons
        order = shared[np.lexsort((shared, label[shared]))]  # by group, then pipeline order
        bounds = np.flatnonzero(np.diff(label[order])) + 1
        drops: dict[int, tuple[str, float]] = {}
        for group in np.split(order, bounds) if len(order) else []:
            keeper = self._keeper(group, rows, found.centroid_cos)
            group_vectors = np.asarray(vectors[rows[group]], dtype=np.float32)
            cosines = group_vectors @ np.asarray(vectors[rows[keeper]], dtype=np.float32)
            for position, cos in zip(group.tolist(), cosines.tolist(), strict=True):
                if position != keeper:
                    drops[position] = (ids[keeper], cos)
        return drops

    def _keeper(self, group: np.ndarray, rows: np.ndarray, centroid_cos: np.ndarray) -> int:
        """The surviving position of a group (positions ascending, i.e. in pipeline order)."""
        if self.config.keep == "first":
            return int(group[0])
        closeness = centroid_cos[rows[group]]
        pick = np.argmax(closeness) if self.config.keep == "central" else np.argmin(closeness)
        return int(group[pick])  # argmax/argmin return the first of equal values: earliest record

    # pass 2 ---------------------------------------------------------------------------------
    def _mark(self, batches, ctx: StepContext, ids: list[str], drops: dict[int, tuple[str, float]]):
        position = 0
        for batch in batches():
            for record in batch:
                if self._text(record) is None:
                    continue
                if position >= len(ids) or str(record.get(ID)) != ids[position]:
                    raise StepError(f"step {ctx.name!r}: its input changed between its two passes")
                if position in drops:
                    kept, cos = drops[position]
                    drop(record, ctx.name, "semantic_duplicate", f"of {kept} (cos {cos:.2f})")
                position += 1
            yield batch
        if position != len(ids):
            raise StepError(f"step {ctx.name!r}: its input changed between its two passes")

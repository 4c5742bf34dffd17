"""The ``minhash_dedup`` step: near-duplicate removal with MinHash LSH.

Method: Broder (1997), "On the resemblance and containment of documents" (MinHash estimates
the Jaccard similarity of word-shingle sets), with LSH banding as in Leskovec, Rajaraman &
Ullman, "Mining of Massive Datasets", ch. 3 (bands x rows chosen for the threshold by
minimising the weighted FP + FN probability masses, see :mod:`.params`; with verification
the weights lean to recall, see :meth:`MinHashDedup.weights`).

Two passes over the input, so records are never all in memory:

1. read every batch once: texts -> shingle hashes -> signatures (chunks of
   ``chunk_docs`` texts, in ``workers`` processes once the input is large enough);
   shingles and ids spill to a temporary directory (signatures too when they are read
   back: without ``verify``, or to save them); band hashes (8 bytes per
   band), offsets and 8-byte id hashes stay in memory: about 150 bytes per document with
   the default 14 bands, whatever the texts' length;
2. decide: LSH buckets -> candidate pairs -> exact Jaccard of the shingle sets when
   ``verify`` (default; pairs below ``threshold`` are rejected) -> union-find clusters (see
   :mod:`.lsh` for how buckets become pairs and the ``bucket_cap``); the Jaccard of many
   pairs is computed at once (:class:`Similarity`), their shingles read back in spans;
3. read the batches again and yield them in the same order with the duplicates marked.

Keep rule: in each cluster the first record in pipeline order is kept; every other member is
dropped with reason ``near_duplicate`` and detail ``of <kept id> (jaccard 0.87)``: its
Jaccard similarity with the kept record (exact when verifying, else the signature estimate),
plus ``; via <id> (jaccard x)`` when that is below the threshold because it joined the
cluster through another member (single linkage).

Records whose ``text_field`` is missing or not a string, and texts without any word, are
kept untouched and never match.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from synthpipe.curate.minhash.lsh import band_hashes, star_clusters, verified_clusters
from synthpipe.curate.minhash.params import LshParams, fixed_params, optimal_params
from synthpipe.curate.minhash.signatures import estimate_jaccard, sketch
from synthpipe.curate.minhash.store import SignatureSpec, Spill, save_signatures
from synthpipe.data.records import ID, Batch, drop
from synthpipe.errors import StepError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.rundir import write_step_summary
from synthpipe.pipeline.step import GlobalStep, StepConfig, StepContext
from synthpipe.text.normalize import Normalization

REASON = "near_duplicate"
SUMMARY_FILE = "minhash_summary.json"
SIGNATURE_FILE = "minhash_signatures.bin"
CHUNK_CHARS = 1 << 19  # a signature chunk also closes at this many characters (bounds its memory)


class MinHashDedupConfig(StepConfig):
    text_field: str = Field("text", description="field holding the text to compare")
    ngram: int = Field(5, ge=1, le=64, description="words per shingle; 5 is the usual choice for documents")
    num_perm: int = Field(128, ge=2, le=4096, description="hash functions per signature (error ~ 1/sqrt(num_perm))")
    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity at or above which texts are near-duplicates")
    bands: int | None = Field(None, ge=1, description="LSH bands; default: chosen from threshold (set with rows)")
    rows: int | None = Field(None, ge=1, description="signature rows per band; default: chosen from threshold")
    fp_weight: float | None = Field(
        None,
        ge=0,
        description="weight of the false-positive mass when choosing bands x rows; default 0.1 when "
        "verifying (a false candidate only costs one exact check), else 0.5 as datasketch",
    )
    fn_weight: float | None = Field(
        None,
        ge=0,
        description="weight of the false-negative mass (a missed duplicate stays); default 0.9 when "
        "verifying, else 0.5",
    )
    verify: bool = Field(True, description="check candidate pairs with the exact Jaccard of their shingle sets")
    bucket_cap: int = Field(
        32, ge=2, description="when verifying, a bucket larger than this pairs its members with its first bucket_cap only"
    )
    seed: int = Field(1, description="seed of the hash functions (signatures are comparable only under one seed)")
    normalization: Normalization = Field(Normalization(), description="text normalisation before splitting into words")
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="signature worker processes (0: compute in this process). On 2 cores a pool "
        "costs more than it saves (measured: IPC and start-up; reading and writing stay serial); "
        "try CPUs - 1 on larger machines. Workers import the main module: scripts need an "
        "`if __name__ == '__main__':` guard",
    )
    chunk_docs: int = Field(256, ge=1, description="texts per signature chunk (one task of the pool)")
    parallel_min_docs: int = Field(
        20_000,
        ge=0,
        description="start the worker processes only after this many texts (starting them costs "
        "about a second; small inputs stay in this process)",
    )
    save_signatures: bool = Field(False, description=f"write the signatures to <run dir>/{SIGNATURE_FILE}")

    @model_validator(mode="after")
    def _banding(self) -> MinHashDedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


@dataclass
class Decision:
    """What happens to one document: dropped as a duplicate of `kept`."""

    kept: int
    jaccard: float
    via: int | None = None
    via_jaccard: float | None = None

    @classmethod
    def of(
        cls, doc: int, kept: int, jaccard: float, link: tuple[int, float | None], threshold: float,
        similarity: Callable[[int, int], float],
    ) -> Decision:
        """`doc` is in the cluster kept by `kept`, at Jaccard `jaccard`. Below `threshold` it
        joined through its first verified link ``(partner, jaccard or None)`` (single linkage);
        `similarity` gives that link's Jaccard when it is not known."""
        decision = cls(kept, jaccard)
        partner, link_jaccard = link
        if jaccard < threshold and partner != kept:
            decision.via = partner
            decision.via_jaccard = similarity(partner, doc) if link_jaccard is None else link_jaccard
        return decision

    def detail(self, name: Callable[[int], str]) -> str:
        """The drop detail: ``of <kept id> (jaccard 0.87)`` [``; via <id> (jaccard 0.74)``];
        `name` gives a document's record id."""
        text = f"of {name(self.kept)} (jaccard {self.jaccard:.2f})"
        if self.via is not None:
            text += f"; via {name(self.via)} (jaccard {self.via_jaccard:.2f})"
        return text


@register_step("minhash_dedup")
class MinHashDedup(GlobalStep):
    """Drops near-duplicate texts (MinHash LSH + exact Jaccard check), keeping the first of each cluster.

    Every record comes out, in order. ``last_summary`` holds the run's numbers (also logged
    and written to ``<run dir>/minhash_summary.json``). Records without a string text are kept.

    Input columns: `text_field` (default ``text``).
    Output columns: none: marks records dropped.
    Drop reasons: ``near_duplicate`` (detail: ``of <kept id> (jaccard 0.87)``, plus
    ``; via <id> (jaccard x)`` when it joined the cluster through another member).
    References: Broder (1997), "On the resemblance and containment of documents", Compression
    and Complexity of Sequences; Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets",
    ch. 3 (LSH banding).
    """

    Config = MinHashDedupConfig
    marks_only = True  # one output batch per input batch, drops marked
    config: MinHashDedupConfig
    drop_reasons = (REASON,)

    def input_columns(self) -> set[str]:
        return {self.config.text_field}

    def output_columns(self) -> set[str]:
        return set()
    last_summary: dict[str, Any] | None = None
    distributed = "synthpipe.curate.minhash.distributed:minhash_dedup"

    def distributed_form(self) -> Callable[..., None] | None:
        """None with ``save_signatures``: the signature file is written in one process."""
        return None if self.config.save_signatures else super().distributed_form()

    def weights(self) -> tuple[float, float]:
        """(fp_weight, fn_weight): the configured ones, else 0.1 / 0.9 when verifying, 0.5 / 0.5 if not.

        With verification a false candidate costs one exact Jaccard check while a false
        negative is a duplicate that stays, so the banding leans to recall: at threshold 0.8
        and 128 permutations that is 14 bands x 9 rows (a pair at J = 0.8 becomes a candidate
        with probability 0.87) instead of datasketch's 9 x 13 (0.40).
        """
        cfg = self.config
        default = (0.1, 0.9) if cfg.verify else (0.5, 0.5)
        return (
            default[0] if cfg.fp_weight is None else cfg.fp_weight,
            default[1] if cfg.fn_weight is None else cfg.fn_weight,
        )

    def lsh_params(self) -> LshParams:
        cfg = self.config
        if cfg.bands is not None and cfg.rows is not None:
            return fixed_params(cfg.threshold, cfg.bands, cfg.rows, cfg.num_perm)
        return optimal_params(cfg.threshold, cfg.num_perm, *self.weights())

    def spec(self) -> SignatureSpec:
        cfg = self.config
        return SignatureSpec(cfg.num_perm, cfg.seed, cfg.ngram, cfg.normalization.model_dump())

    def run(self, batches: Callable[[], Iterator[Batch]], ctx: StepContext) -> Iterator[Batch]:
        started = time.perf_counter()
        params = self.lsh_params()
        tmp = tempfile.TemporaryDirectory(prefix="synthpipe-minhash-")  # spill: removed when done
        cfg = self.config  # signatures are read back only to estimate Jaccard or to save them
        spill = Spill(Path(tmp.name), cfg.num_perm, signatures=not cfg.verify or cfg.save_signatures)
        index = _Index(Path(tmp.name))
        try:
            self._index(batches, spill, index, params)
            spill.close()
            if self.config.save_signatures and ctx.run_dir is not None:
                self._save(spill, index, Path(ctx.run_dir) / SIGNATURE_FILE)
            decisions, counts = self._decide(spill, index, params)
            spill.release()
            seconds = time.perf_counter() - started
            summary = self.summary(params, counts, len(decisions), index.workers_used, seconds)
            self.report(summary, ctx)
            yield from self._mark(batches, index, decisions, ctx)
        finally:
            spill.release()
            index.release()
            tmp.cleanup()

    # -- pass 1: signatures ---------------------------------------------------------------
    def _index(
        self, batches: Callable[[], Iterator[Batch]], spill: Spill, index: _Index, params: LshParams
    ) -> None:
        cfg = self.config
        texts: list[str] = []
        chars = 0
        with _Sketcher(cfg, spill, params, index) as sketcher:
            for batch in batches():
                start = index.add_ids(batch)
                values = [record.get(cfg.text_field) for record in batch]
                strings = [i for i, v in enumerate(values) if isinstance(v, str)]
                if len(strings) < len(values):
                    values = [values[i] for i in strings]
                    index.positions.extend([start + i for i in strings])
                else:
                    index.positions.extend(range(start, start + len(values)))
                i = 0
                while i < len(values):  # chunks of chunk_docs texts, or fewer reaching CHUNK_CHARS
                    room = values[i : i + cfg.chunk_docs - len(texts)]
                    reached = list(accumulate(map(len, room), initial=chars))
                    k = bisect_left(reached, CHUNK_CHARS, 1)
                    texts += room[:k]
                    i += min(k, len(room))
                    chars = reached[min(k, len(room))]
                    if len(texts) >= cfg.chunk_docs or chars >= CHUNK_CHARS:
                        sketcher.submit(texts)
                        texts, chars = [], 0
            if texts:
                sketcher.submit(texts)
        index.close()

    def _save(self, spill: Spill, index: _Index, path: Path) -> None:
        ids = [index.name(p) for p in index.positions]
        save_signatures(path, spill.signature_rows(0, spill.n_docs), ids, self.spec())

    # -- decide -----------------------------------------------------------------------------
    def _decide(
        self, spill: Spill, index: _Index, params: LshParams
    ) -> tuple[dict[int, Decision], dict[str, Any]]:
        cfg = self.config
        bands = np.concatenate(index.bands) if index.bands else np.zeros((0, params.bands), dtype=np.uint64)
        index.bands.clear()  # one copy of the band hashes at a time
        has_shingles = np.diff(spill.offsets) > 0
        live = np.flatnonzero(has_shingles)  # texts without words never match
        if len(live) < len(bands):
            bands = bands[live]
        similarity = Similarity(spill, exact=cfg.verify)
        if cfg.verify:
            found = verified_clusters(
                bands,
                lambda a, b: similarity.one(int(live[a]), int(live[b])),
                cfg.threshold,
                cfg.bucket_cap,
                jaccard_many=lambda a, b: similarity.many(live[a], live[b]),
                jaccard_grid=lambda reps, members: similarity.grid(live[reps], live[members]),
            )
        else:
            found = star_clusters(bands)
        members = sorted(found.roots)
        kept_of = [found.roots[m] for m in members]
        to_kept = [_known(found.links.get(m), k) for m, k in zip(members, kept_of, strict=True)]
        unknown = [i for i, j in enumerate(to_kept) if j is None]  # linked through another member
        if unknown:
            pick = np.array(unknown, dtype=np.int64)
            a, b = np.array(kept_of, dtype=np.int64)[pick], np.array(members, dtype=np.int64)[pick]
            for i, j in zip(unknown, similarity.many(live[a], live[b]).tolist(), strict=True):
                to_kept[i] = j
        decisions = {}
        for doc, root, j in zip(members, kept_of, to_kept, strict=True):
            kept, member = int(live[root]), int(live[doc])
            # unverified star clusters give no link to a doc that only ever led its buckets
            partner, link_j = found.links.get(doc, (root, None))
            link = (int(live[partner]), link_j)
            decisions[member] = Decision.of(member, kept, j, link, cfg.threshold, similarity.one)
        counts = {
            "documents": index.n_records,
            "indexed": int(has_shingles.sum()),
            "without_text": index.n_records - spill.n_docs,
            "without_words": int(spill.n_docs - has_shingles.sum()),
            "candidate_pairs": found.candidate_pairs,
            "verified_pairs": found.verified_pairs if cfg.verify else None,
            "rejected_pairs": found.rejected_pairs if cfg.verify else None,
            "skipped_pairs": found.skipped_pairs if cfg.verify else None,
            "capped_buckets": found.capped_buckets if cfg.verify else None,
            "clusters": len(set(found.roots.values())),
        }
        return decisions, counts

    # -- pass 2: mark -----------------------------------------------------------------------
    def _mark(
        self, batches: Callable[[], Iterator[Batch]], index: _Index, decisions: dict[int, Decision], ctx: StepContext
    ) -> Iterator[Batch]:
        position_of = np.frombuffer(index.positions, dtype=np.int64)
        dropped = {int(position_of[doc]): d for doc, d in decisions.items()}
        at = sorted(dropped)
        hashes, pos = index.id_hashes, 0
        for batch in batches():
            end = pos + len(batch)
            seen = array("q", [hash(str(record.get(ID))) for record in batch])
            if seen != hashes[pos:end]:
                bad = next((k for k, h in enumerate(seen) if pos + k >= len(hashes) or h != hashes[pos + k]))
                raise StepError(
                    f"step {ctx.name!r}: the input changed between its two passes "
                    f"(record {pos + bad} is {batch[bad].get(ID)!r}); the source must be deterministic"
                )
            for p in at[bisect_left(at, pos) : bisect_left(at, end)]:
                drop(batch[p - pos], ctx.name, REASON, dropped[p].detail(index.doc_id))
            pos = end
            yield batch
        if pos != len(hashes):
            raise StepError(f"step {ctx.name!r}: the second pass read {pos} records, the first {len(hashes)}")

    # -- summary ----------------------------------------------------------------------------
    def summary(
        self, params: LshParams, counts: dict[str, Any], removed: int, workers_used: int, seconds: float
    ) -> dict[str, Any]:
        """The run's numbers (``minhash_summary.json``): settings, banding, `counts`, results."""
        cfg = self.config
        return {
            "threshold": cfg.threshold,
            "num_perm": cfg.num_perm,
            "ngram": cfg.ngram,
            "bands": params.bands,
            "rows": params.rows,
            "fp_probability": round(params.fp_probability, 6),
            "fn_probability": round(params.fn_probability, 6),
            "weights": None if cfg.bands is not None else list(self.weights()),
            "verify": cfg.verify,
            "bucket_cap": cfg.bucket_cap if cfg.verify else None,
            **counts,
            "removed": removed,
            "workers_used": workers_used,
            "seconds_to_decide": round(seconds, 3),
        }

    def report(self, summary: dict[str, Any], ctx: StepContext) -> None:
        """Keep `summary` as `last_summary`, log it and write it to the run directory."""
        self.last_summary = {"step": ctx.name, **summary}
        ctx.log.info(
            "minhash: %d bands x %d rows (FP %.4f, FN %.4f); %d candidate pairs, %s verified, "
            "%d clusters, %d removed of %d",
            summary["bands"], summary["rows"], summary["fp_probability"], summary["fn_probability"],
            summary["candidate_pairs"], summary["verified_pairs"], summary["clusters"],
            summary["removed"], summary["documents"],
        )  # fmt: skip
        if ctx.run_dir is None:
            return
        write_step_summary(ctx.run_dir, SUMMARY_FILE, ctx.name, self.last_summary)


def _known(link: tuple[int, float | None] | None, kept: int) -> float | None:
    """The Jaccard with the kept document when the member's first link is that document."""
    return link[1] if link is not None and link[0] == kept else None


class _Index:
    """Per-record state kept in memory: 8-byte id hashes (to check the second pass reads the same
    records), positions of the texts, band hashes; the ids themselves spill to a file."""

    def __init__(self, directory: Path) -> None:
        self.id_hashes = array("q")  # hash(str(id)): same process, so the salt does not matter
        self.positions = array("q")  # record position of each indexed text
        self.bands: list[np.ndarray] = []
        self.workers_used = 0  # worker processes (0: signatures computed in this process)
        self._id_path = directory / "ids.utf8"
        self._id_file = self._id_path.open("wb")
        self._id_offsets = array("q", [0])
        self._fd: int | None = None

    @property
    def n_records(self) -> int:
        return len(self.id_hashes)

    def add_ids(self, batch: Batch) -> int:
        """Record the batch's ids; returns the position of its first record."""
        start = len(self.id_hashes)
        ids = [str(record.get(ID)) for record in batch]
        encoded = [i.encode("utf-8", "surrogatepass") for i in ids]
        self.id_hashes.extend(map(hash, ids))
        ends = accumulate(map(len, encoded), initial=self._id_offsets[-1])
        next(ends)  # the initial value: already there
        self._id_offsets.extend(ends)
        self._id_file.write(b"".join(encoded))
        return start

    def close(self) -> None:
        self._id_file.close()
        self._fd = os.open(self._id_path, os.O_RDONLY)

    def doc_id(self, doc: int) -> str:
        """The record id of indexed text `doc`."""
        return self.name(self.positions[doc])

    def name(self, position: int) -> str:
        lo, hi = self._id_offsets[position], self._id_offsets[position + 1]
        return os.pread(self._fd, hi - lo, lo).decode("utf-8", "surrogatepass")

    def release(self) -> None:
        self._id_file.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Sketcher:
    """Computes chunks in order: in-process at first, then in a process pool if the input is large.

    (A background thread for the in-process chunks was measured slower: the GIL-holding parts
    of a chunk contend with reading the records.)
    """

    def __init__(self, cfg: MinHashDedupConfig, spill: Spill, params: LshParams, index: _Index) -> None:
        self.cfg, self.spill, self.params, self.index = cfg, spill, params, index
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[Future] = deque()
        self.seen = 0

    def __enter__(self) -> _Sketcher:
        return self

    def submit(self, texts: list[str]) -> None:
        cfg = self.cfg
        self.seen += len(texts)
        args = (texts, cfg.ngram, cfg.normalization, cfg.num_perm, cfg.seed)
        workers = cfg.workers
        if self.pool is None and workers > 0 and self.seen > cfg.parallel_min_docs:
            # forkserver, as the executor's pool: this may run in a thread, where fork is unsafe
            context = multiprocessing.get_context("forkserver")
            self.pool = ProcessPoolExecutor(workers, mp_context=context)
            self.index.workers_used = workers
        if self.pool is None:
            self._store(sketch(*args))
            return
        self.pending.append(self.pool.submit(sketch, *args))
        while len(self.pending) > 2 * self.index.workers_used + 1:
            self._store(_result(self.pending.popleft()))

    def _store(self, result: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        hashes, offsets, signatures = result
        self.spill.append(hashes, offsets, signatures)
        self.index.bands.append(band_hashes(signatures, self.params.bands, self.params.rows))

    def __exit__(self, *exc: object) -> None:
        try:
            while self.pending and exc[0] is None:
                self._store(_result(self.pending.popleft()))
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


def _result(future: Future) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise StepError(
            "minhash_dedup: a signature worker process died. Scripts that run pipelines must guard "
            "their entry point with `if __name__ == '__main__':` (worker processes import the main "
            "module); or set `workers: 0`"
        ) from exc


_TAG, _LOW = np.uint64(32), np.uint64(0xFFFFFFFF)


class Similarity:
    """Jaccard of document pairs: exact from the spilled shingle sets, or estimated from signatures."""

    _BLOCK = 1 << 22  # shingles of a block of pairs scored at once (bounds memory)

    def __init__(self, spill: Spill, exact: bool) -> None:
        self.spill, self.exact = spill, exact
        self._sets: dict[int, np.ndarray] = {}

    def one(self, a: int, b: int) -> float:
        if not self.exact:
            return float(estimate_jaccard(self.spill.signature(a), self.spill.signature(b)))
        return set_jaccard(self._set(a), self._set(b))

    def many(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``one(a[i], b[i])`` for every i, vectorised (the same float64 values)."""
        if not self.exact:
            return np.array([self.one(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)], dtype=np.float64)
        out = np.empty(len(a), dtype=np.float64)
        sizes = np.diff(self.spill.offsets)
        cost = np.cumsum(sizes[a] + sizes[b])
        start = 0
        while start < len(a):
            stop = max(start + 1, int(np.searchsorted(cost, cost[start] + self._BLOCK)))
            out[start:stop] = self._block(a[start:stop], b[start:stop])
            start = stop
        return out

    def grid(self, reps: np.ndarray, members: np.ndarray) -> np.ndarray:
        """``[i, r]`` = ``one(reps[r], members[i])`` (exact only; for a capped bucket).

        A table says which reps hold each of their hashes; a member's intersections with all
        reps are then the column sums of its hashes' rows.
        """
        if not self.exact:
            return np.array([[self.one(r, m) for r in reps.tolist()] for m in members.tolist()])
        docs, keys, starts = self._sets_of(np.concatenate([reps, members]))
        sizes = np.diff(starts)
        rr, rm = np.searchsorted(docs, reps), np.searchsorted(docs, members)
        rep_keys = np.concatenate([keys[starts[r] : starts[r + 1]] for r in rr.tolist()]) & _LOW
        hashes = sorted_unique(rep_keys)
        table = np.zeros((len(hashes), len(reps)), dtype=np.uint8)  # [hash, rep]: rep holds hash
        table[np.searchsorted(hashes, rep_keys), np.repeat(np.arange(len(reps)), sizes[rr])] = 1
        out = np.empty((len(members), len(reps)), dtype=np.float64)
        step = max(1, (1 << 22) // max(1, len(reps)))  # member hashes per chunk: bounded table rows
        i = 0
        while i < len(members):
            stop = max(i + 1, int(np.searchsorted(np.cumsum(sizes[rm[i:]]), step)) + i)
            rows = rm[i:stop]
            elements = np.concatenate([keys[starts[r] : starts[r + 1]] for r in rows.tolist()]) & _LOW
            at = np.minimum(np.searchsorted(hashes, elements), len(hashes) - 1)
            found = hashes[at] == elements  # only hashes some rep holds count
            held = np.bincount(np.repeat(np.arange(len(rows)), sizes[rows])[found], minlength=len(rows))
            seg = np.zeros(len(rows), dtype=np.int64)
            np.cumsum(held[:-1], out=seg[1:])
            inter = np.zeros((len(rows), len(reps)), dtype=np.float64)
            some = held > 0  # reduceat needs non-empty segments
            if some.any():
                inter[some] = np.add.reduceat(table[at[found]], seg[some], axis=0, dtype=np.int32)
            union = sizes[rows][:, None] + sizes[rr][None, :] - inter
            out[i:stop] = inter / union
            i = stop
        return out

    def _sets_of(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct documents of `wanted`, their sets as one sorted array of ``rank << 32 |
        hash`` and each rank's start in it (len n+1)."""
        docs = sorted_unique(wanted)
        hashes, offsets = self.spill.gather(docs)
        rank = np.repeat(np.arange(len(docs), dtype=np.uint64), np.diff(offsets))
        keys = sorted_unique((rank << _TAG) | hashes.astype(np.uint64))
        starts = np.searchsorted(keys, np.arange(len(docs) + 1, dtype=np.uint64) << _TAG)
        return docs, keys, starts

    def _block(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        docs, keys, starts = self._sets_of(np.concatenate([a, b]))
        sizes = np.diff(starts)
        ra, rb = np.searchsorted(docs, a), np.searchsorted(docs, b)
        # look up each element of the smaller set in the larger one; pairs ordered by the
        # larger set so that the lookups walk `keys` forwards
        swap = sizes[ra] > sizes[rb]
        small, large = np.where(swap, rb, ra), np.where(swap, ra, rb)
        by_large = np.argsort(large, kind="stable")
        small, large = small[by_large], large[by_large]
        lengths = sizes[small]
        pair = np.repeat(np.arange(len(a)), lengths)
        first = np.zeros(len(a), dtype=np.int64)
        np.cumsum(lengths[:-1], out=first[1:])
        queries = keys[np.repeat(starts[small] - first, lengths) + np.arange(len(pair))]
        queries &= _LOW
        queries |= large.astype(np.uint64)[pair] << _TAG
        found = np.searchsorted(keys, queries)
        found[found == len(keys)] = 0
        inter = np.zeros(len(a), dtype=np.float64)
        inter[by_large] = np.bincount(pair[keys[found] == queries], minlength=len(a))
        union = sizes[ra] + sizes[rb] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, inter / union, 1.0)

    def _set(self, doc: int) -> np.ndarray:
        found = self._sets.get(doc)
        if found is None:
            if len(self._sets) >= 100_000:  # bounded cache: documents of candidate pairs only
                self._sets.clear()
            found = self._sets[doc] = sorted_unique(self.spill.shingles(doc))
        return found


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)``: numpy 2.4's hash-based unique is many times slower than a sort."""
    ranked = np.sort(values)
    if len(ranked) < 2:
        return ranked
    return ranked[np.concatenate([[True], ranked[1:] != ranked[:-1]])]


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sets of shingle hashes (sorted, unique)."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


__all__ = ["CHUNK_CHARS", "REASON", "Decision", "MinHashDedup", "MinHashDedupConfig", "Similarity", "set_jaccard", "sorted_unique"]

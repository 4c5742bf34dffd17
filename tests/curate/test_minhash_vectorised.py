"""The vectorised MinHash verification gives what the one-pair-at-a-time definition gives: the
candidate pairs and their visiting order, clusters, links and counts (small and capped buckets,
pairs met in both), batched Jaccard from the spill, and the spill's gather."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from synthpipe.curate.minhash.lsh import (
    Clusters,
    UnionFind,
    buckets,
    candidate_pairs,
    first_occurrences,
    verified_clusters,
)
from synthpipe.curate.minhash.step import Similarity, set_jaccard
from synthpipe.curate.minhash.store import Spill


def visiting_order(bands: np.ndarray, cap: int) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """The pairs of small buckets (first visit only) and the capped buckets, by plain loops."""
    pairs, seen, capped = [], set(), []
    for band in range(bands.shape[1]):
        for members in buckets(bands[:, band]):
            ms = members.tolist()
            if len(ms) > cap:
                capped.append(ms)
                continue
            for i, a in enumerate(ms):
                for b in ms[i + 1 :]:
                    if (a, b) not in seen:
                        seen.add((a, b))
                        pairs.append((a, b))
    return pairs, capped


def random_bands(rng: np.random.Generator, n: int, n_bands: int, alphabet: int) -> np.ndarray:
    return rng.integers(0, alphabet, size=(n, n_bands)).astype(np.uint64)


@pytest.mark.parametrize("seed", range(6))
def test_candidate_pairs_are_the_loop_order(seed):
    rng = np.random.default_rng(seed)
    bands = random_bands(rng, 300, 4, 40 + 40 * seed)
    found = candidate_pairs(bands, cap=6)
    pairs, capped = visiting_order(bands, 6)
    assert list(zip(found.a.tolist(), found.b.tolist(), strict=True)) == pairs
    assert [m.tolist() for _, m in found.capped] == capped
    positions = [p for p, _ in found.capped]
    assert positions == sorted(positions)


def test_first_occurrences_match_numpy_unique():
    values = np.random.default_rng(1).integers(0, 50, size=2000)
    assert first_occurrences(values).tolist() == sorted(np.unique(values, return_index=True)[1].tolist())
    assert first_occurrences(np.zeros(0, dtype=np.int64)).tolist() == []


def reference_clusters(bands: np.ndarray, jaccard, threshold: float, cap: int) -> Clusters:
    """The definition, one pair at a time (the loop the vectorised code replaced)."""
    uf, links = UnionFind(), {}
    out = Clusters({}, links)
    decided: set[tuple[int, int]] = set()

    def consider(a: int, b: int) -> bool:
        if (a, b) in decided:
            return uf.find(a) == uf.find(b)
        decided.add((a, b))
        out.candidate_pairs += 1
        if uf.find(a) == uf.find(b):
            out.skipped_pairs += 1
            return True
        j = jaccard(a, b)
        if j < threshold:
            out.rejected_pairs += 1
            return False
        out.verified_pairs += 1
        uf.union(a, b)
        links.setdefault(b, (a, j))
        links.setdefault(a, (b, j))
        return True

    for band in range(bands.shape[1]):
        for members in buckets(bands[:, band]):
            ms = members.tolist()
            if len(ms) <= cap:
                for i, a in enumerate(ms):
                    for b in ms[i + 1 :]:
                        consider(a, b)
                continue
            out.capped_buckets += 1
            for j, m in enumerate(ms[1:], 1):
                for rep in ms[: min(j, cap)]:
                    if consider(rep, m):
                        break
    out.roots = uf.roots()
    return out


COUNTS = ("candidate_pairs", "verified_pairs", "rejected_pairs", "skipped_pairs", "capped_buckets")


def assert_same(got: Clusters, want: Clusters) -> None:
    assert (got.roots, got.links) == (want.roots, want.links)
    assert [getattr(got, c) for c in COUNTS] == [getattr(want, c) for c in COUNTS]


class SetJaccard:
    """Jaccard of fixed random sets, scalar and vectorised (the step's callables, in small)."""

    def __init__(self, sets: list[np.ndarray]) -> None:
        self.sets, self.calls = sets, 0

    def one(self, a: int, b: int) -> float:
        self.calls += 1
        return set_jaccard(self.sets[a], self.sets[b])

    def many(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([set_jaccard(self.sets[x], self.sets[y]) for x, y in zip(a.tolist(), b.tolist(), strict=True)])

    def grid(self, reps: np.ndarray, members: np.ndarray) -> np.ndarray:
        return np.array([[set_jaccard(self.sets[r], self.sets[m]) for r in reps.tolist()] for m in members.tolist()])


def families(rng: random.Random, n: int) -> list[np.ndarray]:
    """Sets in families of near-copies (Jaccard around the threshold) plus loners."""
    sets: list[np.ndarray] = []
    while len(sets) < n:
        base = rng.sample(range(10_000), 40)
        for _ in range(rng.randint(1, 6)):
            copy = list(base)
            for k in rng.sample(range(40), rng.choice([0, 1, 2, 4, 8])):
                copy[k] = rng.randrange(10_000, 20_000)
            sets.append(np.unique(np.array(copy, dtype=np.uint32)))
    return sets[:n]


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_verification_is_the_scalar_one(seed):
    rng = random.Random(seed)
    n = 400
    sets = families(rng, n)
    # bands that mostly follow the families (as LSH does), with collisions across families
    family_key = {}
    bands = np.zeros((n, 5), dtype=np.uint64)
    for i, s in enumerate(sets):
        for band in range(5):
            key = int(s[band % len(s)]) // (3 if band == 4 else 1)  # band 4: coarse keys, big buckets
            bands[i, band] = family_key.setdefault((band, key), len(family_key))
    cap = 3 + seed % 4
    scalar, vector = SetJaccard(sets), SetJaccard(sets)
    want = reference_clusters(bands, scalar.one, 0.8, cap)
    assert_same(verified_clusters(bands, scalar.one, 0.8, cap), want)
    assert scalar.calls == 2 * want.verified_pairs + 2 * want.rejected_pairs  # lazily: unclustered pairs only
    got = verified_clusters(bands, vector.one, 0.8, cap, jaccard_many=vector.many, jaccard_grid=vector.grid)
    assert_same(got, want)
    assert want.capped_buckets > 0 and want.verified_pairs > 0 and want.rejected_pairs > 0
    assert vector.calls == 0  # every score came from the vectorised callables


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_verification_with_random_buckets(seed):
    """Random band keys over a small alphabet: big buckets everywhere, pairs met in capped and
    small buckets in every order."""
    rng = random.Random(seed)
    sets = families(rng, 150)
    bands = random_bands(np.random.default_rng(seed), 150, 6, 12 + 4 * seed)
    cap = 3 + seed % 5
    scalar, vector = SetJaccard(sets), SetJaccard(sets)
    want = reference_clusters(bands, scalar.one, 0.5, cap)
    assert_same(verified_clusters(bands, scalar.one, 0.5, cap), want)
    assert_same(verified_clusters(bands, vector.one, 0.5, cap, jaccard_many=vector.many, jaccard_grid=vector.grid), want)


def test_pairs_met_in_small_and_capped_buckets_are_decided_once():
    # docs 0-3 are one family, 4-7 another; band 0 small buckets, band 1 one capped bucket,
    # band 2 small buckets again, band 3 capped again
    sets = [np.arange(40, dtype=np.uint32) + (0 if d < 4 else 1000) for d in range(8)]
    sets[3] = np.concatenate([sets[3][:-4], np.arange(5000, 5004, dtype=np.uint32)])  # J(0, 3) = 36/44
    bands = np.array([[d // 2, 0, d % 3, 0] for d in range(8)], dtype=np.uint64)
    scalar, vector = SetJaccard(sets), SetJaccard(sets)
    want = reference_clusters(bands, scalar.one, 0.8, 3)
    assert want.roots == {1: 0, 2: 0, 3: 0, 5: 4, 6: 4, 7: 4} and want.capped_buckets == 2
    assert_same(verified_clusters(bands, scalar.one, 0.8, 3), want)
    assert_same(verified_clusters(bands, vector.one, 0.8, 3, jaccard_many=vector.many, jaccard_grid=vector.grid), want)


def spill_of(tmp_path: Path, docs: list[np.ndarray], chunk: int = 7) -> Spill:
    spill = Spill(tmp_path, num_perm=4, signatures=False)
    for lo in range(0, len(docs), chunk):
        part = docs[lo : lo + chunk]
        offsets = np.zeros(len(part) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in part], out=offsets[1:])
        hashes = np.concatenate(part) if part else np.zeros(0, dtype=np.uint32)
        spill.append(hashes.astype(np.uint32), offsets, np.zeros((len(part), 4), dtype=np.uint32))
    spill.close()
    return spill


def random_docs(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Shingle hash lists with repeats, a few large, some empty, values over all 32 bits."""
    sizes = rng.choice([0, 1, 3, 20, 300, 3000], size=n, p=[0.05, 0.1, 0.3, 0.4, 0.1, 0.05])
    pool = rng.integers(0, 2**32, size=500, dtype=np.uint64).astype(np.uint32)
    return [pool[rng.integers(0, 500, size=s)] for s in sizes]


def test_gather_reads_what_shingles_reads(tmp_path):
    rng = np.random.default_rng(3)
    docs = random_docs(rng, 200)
    spill = spill_of(tmp_path, docs)
    try:
        for gap in (0, 5, 256, 10**6):
            wanted = np.unique(rng.integers(0, 200, size=60))
            hashes, offsets = spill.gather(wanted, gap=gap)
            for i, doc in enumerate(wanted.tolist()):
                assert hashes[offsets[i] : offsets[i + 1]].tolist() == docs[doc].tolist()
        hashes, offsets = spill.gather(np.zeros(0, dtype=np.int64))
        assert len(hashes) == 0 and offsets.tolist() == [0]
    finally:
        spill.release()


def test_batched_jaccard_equals_the_pairwise_one(tmp_path):
    rng = np.random.default_rng(4)
    docs = random_docs(rng, 120)
    live = [i for i, d in enumerate(docs) if len(d)]
    spill = spill_of(tmp_path, docs)
    try:
        similarity = Similarity(spill, exact=True)
        a = np.array([rng.choice(live) for _ in range(500)], dtype=np.int64)
        b = np.array([rng.choice(live) for _ in range(500)], dtype=np.int64)
        want = [similarity.one(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
        assert similarity.many(a, b).tolist() == want  # the same float64 values, not just close
        similarity._BLOCK = 50  # many blocks
        assert similarity.many(a, b).tolist() == want
        reps, members = np.array(live[:9]), np.array(live[5:60])
        grid = similarity.grid(reps, members)
        assert grid.tolist() == [[similarity.one(r, m) for r in reps.tolist()] for m in members.tolist()]
    finally:
        spill.release()

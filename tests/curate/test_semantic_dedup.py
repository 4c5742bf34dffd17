"""Semantic dedup (SemDeDup): the clustered pair search against brute force, nearest
neighbours, and the step on hand-written paraphrases vs real TREC/SST-2 sentences."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from synthpipe import Pipeline
from synthpipe.curate.semantic_dedup import (
    SemanticDedup,
    connected_components,
    nearest_neighbors,
    search_pairs,
    similar_pairs,
)
from synthpipe.pipeline.sources import FromRecords
from synthpipe.pipeline.step import StepContext

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

# ~30 paraphrase pairs written by hand: MiniLM cosines 0.91-0.99 (see test_threshold_*)
PARAPHRASES = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("What is the capital city of France?", "What's the capital of France?"),
    ("Write a short poem about the ocean.", "Write a brief poem about the ocean."),
    ("Explain how photosynthesis works.", "Explain how photosynthesis works in plants."),
    ("Give me three tips for better sleep.", "Give three tips for sleeping better."),
    ("Translate 'good morning' into Spanish.", "Translate 'good morning' to Spanish."),
    ("What are the health benefits of green tea?", "What health benefits does green tea have?"),
    ("Summarize the plot of Romeo and Juliet.", "Give a summary of the plot of Romeo and Juliet."),
    ("How many legs does a spider have?", "How many legs do spiders have?"),
    ("List five fruits that are high in vitamin C.", "Name five fruits high in vitamin C."),
    ("Why is the sky blue?", "Why does the sky look blue?"),
    ("Write a Python function that reverses a string.", "Write a Python function to reverse a string."),
    ("What causes earthquakes?", "What is the cause of earthquakes?"),
    ("Describe the water cycle.", "Describe the cycle of water."),
    ("How do vaccines work?", "How does a vaccine work?"),
    ("Suggest a name for a new coffee shop.", "Suggest a good name for a new coffee shop."),
    ("What is the boiling point of water at sea level?", "At sea level, what is the boiling point of water?"),
    ("Convert 100 degrees Fahrenheit to Celsius.", "Convert 100 Fahrenheit into Celsius."),
    ("Who wrote the novel Pride and Prejudice?", "Who is the author of the novel Pride and Prejudice?"),
    ("Give an example of a renewable energy source.", "Give one example of a renewable source of energy."),
    ("How can I improve my public speaking skills?", "How can I get better at public speaking?"),
    ("What is the difference between weather and climate?", "What's the difference between climate and weather?"),
    ("Recommend a good book for a long flight.", "Recommend a good book to read on a long flight."),
    ("How do I make a cup of green tea?", "How do you make a cup of green tea?"),
    ("Explain what a black hole is.", "Explain what black holes are."),
    ("What is the tallest mountain in the world?", "Which mountain is the tallest in the world?"),
    ("Write a haiku about autumn leaves.", "Write a haiku about the leaves in autumn."),
    ("The movie was a complete waste of time.", "The film was a total waste of time."),
    ("This restaurant serves the best pizza in town.", "This restaurant has the best pizza in town."),
    ("The meeting has been moved to Friday afternoon.", "The meeting was moved to Friday afternoon."),
]
LOOSE = ("Suggest a name for a new coffee shop.", "Suggest a name for a new cafe.")  # cos ~0.85


def clustered_points(n: int, topics: int, seed: int = 0, dim: int = 384) -> np.ndarray:
    """Unit vectors around `topics` random centres; within-topic cosines spread around 0.9."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(size=(n, dim)) * rng.uniform(0.01, 0.03, size=(n, 1))
    x = centres[rng.integers(0, topics, n)] + noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    sims = x @ x.T
    i, j = np.nonzero(np.triu(sims >= threshold, k=1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


# -- the search -----------------------------------------------------------------------------
@pytest.mark.parametrize("topics", [50, 200])
def test_clustered_search_equals_brute_force(topics):
    x = clustered_points(2000, topics)
    expected = brute_force(x, 0.9)
    assert len(expected) > 1000  # the data has many pairs near the threshold
    found = search_pairs(x, 0.9, max_cluster_size=256)  # forces k-means (k=45) and n_probe=2
    assert found.n_clusters > 1
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert got == expected  # recall 1.0 and no false pairs at the default n_probe=2
    sims = (x[found.i] * x[found.j]).sum(1)
    assert np.allclose(found.cos, sims, atol=1e-5)


def test_similar_pairs_is_sorted_unique_and_exact_mode():
    x = clustered_points(600, 40, seed=1)
    pairs = similar_pairs(x, 0.9, exact=True)
    assert [(i, j) for i, j, _ in pairs] == sorted(brute_force(x, 0.9))
    assert all(i < j and c >= 0.9 for i, j, c in pairs)
    assert similar_pairs(x, 0.9, max_cluster_size=64, seed=3) == similar_pairs(x, 0.9, max_cluster_size=64, seed=3)


def test_oversized_clusters_are_split_and_identical_points_still_paired():
    x = clustered_points(1500, 30, seed=2)
    found = search_pairs(x, 0.9, n_clusters=2, max_cluster_size=128)
    assert set(zip(found.i.tolist(), found.j.tolist(), strict=True)) == brute_force(x, 0.9)
    same = np.tile(x[:1], (300, 1))  # k-means cannot split these: compared exhaustively
    found = search_pairs(np.concatenate([same, x[:200]]), 0.9, max_cluster_size=64)
    assert {(i, j) for i, j in zip(found.i.tolist(), found.j.tolist(), strict=True) if j < 300} == {
        (i, j) for i in range(300) for j in range(i + 1, 300)
    }


def reference_components(n: int, edges) -> list[int]:
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [find(a) for a in range(n)]


def test_connected_components_matches_union_find():
    rng = np.random.default_rng(0)
    for n, m in ((1, 0), (50, 10), (500, 400), (2000, 3000)):
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        expected = reference_components(n, zip(a.tolist(), b.tolist(), strict=True))
        assert connected_components(n, a, b).tolist() == expected
    chain = np.arange(999)  # a long path: many pointer-jumping rounds
    assert set(connected_components(1000, chain[::-1], chain[::-1] + 1).tolist()) == {0}


def test_connected_mode_keeps_components_with_few_edges():
    x = clustered_points(2000, 50, seed=8)
    truth = reference_components(2000, brute_force(x, 0.9))
    found = search_pairs(x, 0.9, max_cluster_size=256, connected=True)
    assert connected_components(2000, found.i, found.j).tolist() == truth
    assert len(found.i) < 2000  # a forest, not the ~10k pairs
    rng = np.random.default_rng(9)  # one blob of 3000 mutual near-duplicates: ~4.5M pairs
    blob = x[0] + rng.normal(size=(3000, 384)).astype(np.float32) * 0.002
    blob /= np.linalg.norm(blob, axis=1, keepdims=True)
    found = search_pairs(blob, 0.9, max_cluster_size=512, connected=True)
    assert set(connected_components(3000, found.i, found.j).tolist()) == {0} and len(found.i) == 2999


def test_float16_and_empty_inputs():
    x = clustered_points(500, 30, seed=4)
    got = {(i, j) for i, j, _ in similar_pairs(x.astype(np.float16), 0.9, max_cluster_size=64)}
    expected = brute_force(x, 0.9)
    assert len(got ^ expected) <= 0.01 * len(expected)  # float16 moves cosines by ~1e-3
    assert similar_pairs(np.zeros((0, 384), np.float32)) == []


def test_nearest_neighbors_matches_brute_force():
    index = clustered_points(700, 20, seed=5)
    queries = clustered_points(50, 20, seed=6)
    idx, sims = nearest_neighbors(queries, index, k=3, query_block=7, index_block=50)
    full = queries @ index.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :3]
    assert idx.shape == sims.shape == (50, 3)
    assert np.array_equal(idx, expected)
    assert np.allclose(sims, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    idx, sims = nearest_neighbors(queries[:2], index[:2], k=5)  # k larger than the index
    assert idx.shape == (2, 2)


# -- the step -------------------------------------------------------------------------------
def negatives(n_trec: int = 60, n_sst: int = 60) -> list[str]:
    """Real, unrelated sentences (TREC questions, SST-2 reviews) from ../shared/data."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data not present")
    with (SHARED / "trec" / "test.csv").open() as fh:
        trec = [r["text"] for r in csv.DictReader(fh)][300 : 300 + n_trec]
    with (SHARED / "sst2" / "dev.csv").open() as fh:
        sst = [r["sentence"] for r in csv.DictReader(fh)][:n_sst]
    return trec + sst


def paraphrase_records() -> list[dict]:
    records = [{"id": f"p{k}a", "text": a} for k, (a, _) in enumerate(PARAPHRASES)]
    records += [{"id": f"n{k}", "text": t} for k, t in enumerate(negatives())]
    records += [{"id": f"p{k}b", "text": b} for k, (_, b) in enumerate(PARAPHRASES)]
    return records


def run_pipeline(records, tmp_path, **config):
    pipe = Pipeline("sem", {"src": FromRecords(records=records), "dedup": SemanticDedup(**config)}, batch_size=32)
    return pipe.run(tmp_path / "run")


def test_paraphrases_merged_unrelated_kept(tmp_path):
    result = run_pipeline(paraphrase_records(), tmp_path)
    dropped = {r["id"]: r["_drop"] for r in result.dropped}
    assert set(dropped) == {f"p{k}b" for k in range(len(PARAPHRASES))}  # the later copy of each pair
    for k in range(len(PARAPHRASES)):
        info = dropped[f"p{k}b"]
        assert info["step"] == "dedup" and info["reason"] == "semantic_duplicate"
        match = re.fullmatch(rf"of p{k}a \(cos (\d\.\d\d)\)", info["detail"])
        assert match and float(match.group(1)) >= 0.9
    assert {r["id"] for r in result.kept} >= {f"n{k}" for k in range(120)}


def run_step(records, seed: int = 0, **config) -> list[dict]:
    step = SemanticDedup(**config)
    batches = [records[i : i + 25] for i in range(0, len(records), 25)]
    fresh = lambda: iter([[dict(r) for r in b] for b in batches])  # noqa: E731
    out = list(step.run(fresh, StepContext("dedup", seed=seed)))
    assert [len(b) for b in out] == [len(b) for b in batches]  # batches and order preserved
    return [r for b in out for r in b]


def test_threshold_decides_looser_paraphrases():
    records = [{"id": "a", "text": LOOSE[0]}, {"id": "b", "text": LOOSE[1]}]
    assert all(r.get("_drop") is None for r in run_step(records))  # 0.85 < 0.9
    assert run_step(records, threshold=0.8)[1]["_drop"]["detail"].startswith("of a (cos 0.8")


def test_keep_rules_and_exact_duplicates():
    texts = ["How do I reset my password?", "How can I reset my password?", "How do I reset my password please?"]
    records = [{"id": f"r{k}", "text": t} for k, t in enumerate(texts)]
    records += [{"id": "copy", "text": texts[0]}, {"id": "none"}, {"id": "x", "text": "Sharks are fish."}]
    first = {r["id"]: r["_drop"] for r in run_step(records) if r.get("_drop")}
    assert set(first) == {"r1", "r2", "copy"} and first["copy"]["detail"] == "of r0 (cos 1.00)"

    from synthpipe.embeddings import get_embedder

    vectors = get_embedder().encode(texts + ["Sharks are fish."])
    centroid = vectors.sum(0) / np.linalg.norm(vectors.sum(0))  # small input: one cluster
    closeness = vectors[:3] @ centroid
    for keep, pick in (("central", np.argmax), ("farthest", np.argmin)):
        out = run_step(records, keep=keep)
        assert [r["id"] for r in out if r.get("_drop") is None] == [f"r{pick(closeness)}", "none", "x"]


def test_deterministic_with_clustering_and_half_precision():
    records = paraphrase_records()
    config = {"max_cluster_size": 16, "n_clusters": 6}  # forces k-means on ~180 records
    first = run_step(records, seed=7, **config)
    assert first == run_step(records, seed=7, **config)
    drops = lambda out: {r["id"]: r["_drop"]["detail"] for r in out if r.get("_drop")}  # noqa: E731
    assert set(drops(first)) == {f"p{k}b" for k in range(len(PARAPHRASES))}  # recall kept across clusters
    assert set(drops(run_step(records, half_precision=True))) == set(drops(first))


def test_fingerprint_includes_embedder_identity():
    step = SemanticDedup()
    extra = step.fingerprint_extra({})
    assert extra["embedder"]["model"] == "all-MiniLM-L6-v2" and extra["embedder"]["weights"] != "?"
    assert step.fingerprint() != SemanticDedup(threshold=0.95).fingerprint()

"""MinHash LSH dedup: shingling against its definition, estimate error against theory, bands x
rows against datasketch, LSH recall/precision on planted pairs, determinism, the pipeline step,
and the signature file."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from synthpipe import Pipeline
from synthpipe.curate.minhash import (
    SIGNATURE_VERSION,
    MinHashDedup,
    MinHasher,
    SignatureMismatchError,
    SignatureSpec,
    estimate_jaccard,
    exact_jaccard,
    load_signatures,
    optimal_params,
    save_signatures,
)
from synthpipe.curate.minhash.lsh import buckets, star_clusters, verified_clusters
from synthpipe.curate.minhash.params import band_probabilities, fixed_params
from synthpipe.curate.minhash.shingles import reference_shingles, shingle_hashes
from synthpipe.errors import StepError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.pipeline.step import StepContext
from synthpipe.text.normalize import Normalization, normalize

VOCAB = [f"w{i}" for i in range(5000)]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def replace_spaced(tokens: list[str], m: int, rng: random.Random, start: int = 5) -> list[str]:
    """Replace m words 5 apart: each kills exactly 5 of the 5-gram shingles (and adds 5 new)."""
    out = list(tokens)
    for k in range(m):
        out[start + 5 * k] = f"new{rng.randrange(10**9)}"
    return out


# -- shingles ---------------------------------------------------------------------------------
TRICKY = [
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK, brown fox -- jumps over the LAZY dog!!!",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\x1cand\x1dseparators\x1e\x1fhere ok",
    "Café naïve résumé — “quotes” and ‘single’ … ellipsis",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ ｂｅｃｏｍｅｓ ascii under nfkc normal form",
    "non\u00a0breaking\u2003em\u2009thin spaces split words too",
    "İstanbul ΣΟΦΙΑ straße ǅemal combining e\u0301 marks",
    "snake_case words_with_underscores keep_them together please now",
    "日本語のテキスト 中文文本 한국어 텍스트 mixed with english words here",
    "emoji 🎉 party 🎉 time 🙂 for everyone today ok",
    "short text",
    "one",
    "",
    "   \t\n  ",
    "!!! ??? ...",
    "a b c d",
    "a b c d e",
    "repeat repeat repeat repeat repeat repeat repeat repeat",
    "numbers 123 4.56 7,890 and 1st 2nd 3rd places",
]


def windows(text: str, n: int, how: Normalization) -> list[tuple[str, ...]]:
    tokens = normalize(text, how).split()
    if not tokens:
        return []
    if len(tokens) < n:
        return [tuple(tokens)]
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@pytest.mark.parametrize(
    "how",
    [
        Normalization(),
        Normalization(lowercase=False),
        Normalization(strip_punctuation=False),
        Normalization(unicode=None, collapse_whitespace=False),
    ],
)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_shingles_are_the_reference_ngrams(how, n):
    """Hash i of text t is the i-th n-gram of normalize(t).split(), with a consistent, injective map."""
    rng = random.Random(7)
    texts = TRICKY + [" ".join(words(rng, rng.randrange(0, 30))) for _ in range(30)]
    rng.shuffle(texts)
    hashes, offsets = shingle_hashes(texts, n, how)
    seen: dict[tuple[str, ...], int] = {}
    for i, text in enumerate(texts):
        expected = windows(text, n, how)
        got = hashes[offsets[i] : offsets[i + 1]].tolist()
        assert len(got) == len(expected), text
        for gram, h in zip(expected, got, strict=True):
            assert seen.setdefault(gram, h) == h, gram  # same n-gram -> same hash everywhere
    assert len(set(seen.values())) == len(seen)  # different n-grams -> different hashes


def test_shingles_do_not_depend_on_batching():
    rng = random.Random(3)
    texts = TRICKY + [" ".join(words(rng, 40)) for _ in range(20)]
    whole, offsets = shingle_hashes(texts)
    for i, text in enumerate(texts):
        alone, _ = shingle_hashes([text])
        assert alone.tolist() == whole[offsets[i] : offsets[i + 1]].tolist()


def test_reference_shingles():
    assert reference_shingles("A b, C d e f") == {("a", "b", "c", "d", "e"), ("b", "c", "d", "e", "f")}
    assert reference_shingles("tiny text") == {("tiny", "text")}
    assert reference_shingles("  ") == set()


# -- signatures -------------------------------------------------------------------------------
def naive_signatures(hasher: MinHasher, sets: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(sets), hasher.num_perm), 0xFFFFFFFF, dtype=np.uint32)
    for i, s in enumerate(sets):
        if len(s):
            out[i] = (hasher._a * s.astype(np.uint32)[None, :] + hasher._b).min(axis=1)
    return out


def test_signatures_match_a_plain_computation_across_chunk_boundaries():
    rng = np.random.default_rng(0)
    hasher = MinHasher(64, seed=5)
    sizes = [0, 1, 3, 0, 200, 9000, 0, 17, 5000, 2, 0]  # 9000 > one chunk: sliced
    sets = [rng.integers(0, 2**32, size=k, dtype=np.uint64).astype(np.uint32) for k in sizes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    got = hasher.signatures(np.concatenate(sets), offsets)
    assert np.array_equal(got, naive_signatures(hasher, sets))


def test_permutation_parameters_are_pinned():
    """Changing these changes every signature: bump SIGNATURE_VERSION together with this test."""
    sig = MinHasher(128, seed=1).signatures(*shingle_hashes(["the quick brown fox jumps over the lazy dog"]))
    assert SIGNATURE_VERSION == 1
    assert sig[0, :4].tolist() == PINNED_SIGNATURE


PINNED_SIGNATURE = [355692927, 1093312270, 1374608334, 105737470]


def planted_sets(rng: np.random.Generator, jaccard: float, union: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of random 32-bit hashes with |A & B| / |A | B| = jaccard exactly."""
    pool = rng.choice(2**32, size=union, replace=False).astype(np.uint32)
    inter = int(round(jaccard * union))
    rest = union - inter
    a = np.concatenate([pool[:inter], pool[inter : inter + rest // 2]])
    b = np.concatenate([pool[:inter], pool[inter + rest // 2 :]])
    return a, b


def test_jaccard_estimates_within_four_sigma():
    """Errors follow the binomial model: sd sqrt(J (1 - J) / num_perm), no bias, tails within 4 sigma.

    Each estimate is a binomial fraction, so even a perfect hash family lands outside 4 sigma
    with probability ~1e-4 (more at J = 0.95, where the binomial is skewed): over 300 pairs we
    allow one such pair, and none beyond 5 sigma.
    """
    rng = np.random.default_rng(11)
    k = 128
    z_scores = []
    for trial in range(300):
        hasher = MinHasher(k, seed=trial)  # fresh hash functions: independent estimates
        j = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95][trial % 7]
        a, b = planted_sets(rng, j)
        exact = exact_jaccard(a, b)
        assert exact == pytest.approx(j, abs=1e-9)
        sa, sb = hasher.signatures(np.concatenate([a, b]), np.array([0, len(a), len(a) + len(b)]))
        sigma = np.sqrt(exact * (1 - exact) / k)
        z_scores.append((float(estimate_jaccard(sa, sb)) - exact) / sigma)
    z = np.abs(np.array(z_scores))
    assert (z >= 4).sum() <= 1, sorted(z)[-3:]
    assert z.max() < 5
    signed = np.array(z_scores)
    assert abs(signed.mean()) < 4 / np.sqrt(len(signed))  # no bias beyond 4 standard errors
    assert 0.85 < signed.std() < 1.15  # the spread the binomial model predicts


def test_estimates_on_text_pairs_track_exact_jaccard():
    rng = random.Random(5)
    hasher = MinHasher(256, seed=2)
    for m in (1, 4, 10, 25):
        base = words(rng, 260)
        texts = [" ".join(base), " ".join(replace_spaced(base, m, rng))]
        hashes, offsets = shingle_hashes(texts)
        exact = exact_jaccard(hashes[: offsets[1]], hashes[offsets[1] :])
        ref_a, ref_b = (reference_shingles(t) for t in texts)
        assert exact == pytest.approx(len(ref_a & ref_b) / len(ref_a | ref_b))
        sig = hasher.signatures(hashes, offsets)
        assert abs(float(estimate_jaccard(sig[0], sig[1])) - exact) < 4 * np.sqrt(exact * (1 - exact) / 256)


# -- bands x rows -----------------------------------------------------------------------------
# datasketch 2.0.0 `_optimal_param(threshold, num_perm, 0.5, 0.5)` (scipy quad integrals)
DATASKETCH = {
    (0.5, 128): (25, 5),
    (0.8, 128): (9, 13),
    (0.9, 128): (5, 25),
    (0.7, 256): (25, 10),
    (0.8, 64): (5, 11),
    (0.3, 128): (37, 3),
    (0.95, 128): (3, 42),
}


@pytest.mark.parametrize(("threshold", "num_perm"), sorted(DATASKETCH))
def test_band_choice_matches_datasketch(threshold, num_perm):
    params = optimal_params(threshold, num_perm)
    assert (params.bands, params.rows) == DATASKETCH[(threshold, num_perm)]
    assert params.bands * params.rows <= num_perm


def test_fp_fn_integrals_match_datasketch():
    fp, fn = band_probabilities(0.8, 9, 13)
    assert fp == pytest.approx(0.025311863203367216, rel=1e-9)
    assert fn == pytest.approx(0.033282136012204096, rel=1e-9)
    params = optimal_params(0.5, 128)
    assert params.fp_probability == pytest.approx(0.053721591197238995, rel=1e-9)
    assert params.fn_probability == pytest.approx(0.03375250944883258, rel=1e-9)


def test_band_choice_sanity():
    low, high = optimal_params(0.3, 128), optimal_params(0.9, 128)
    assert low.rows < high.rows and low.bands > high.bands  # higher threshold: stricter bands
    recall_first = optimal_params(0.8, 128, fp_weight=0.1, fn_weight=0.9)
    default = optimal_params(0.8, 128)
    assert recall_first.fn_probability < default.fn_probability
    assert recall_first.collision_probability(0.8) > default.collision_probability(0.8)
    with pytest.raises(ValueError):
        fixed_params(0.8, 20, 10, 128)
    with pytest.raises(ValueError):
        MinHashDedup(bands=9)
    with pytest.raises(ValueError):
        MinHashDedup(bands=20, rows=10)


# -- LSH ----------------------------------------------------------------------------------------
def test_buckets_are_runs_of_equal_keys_in_document_order():
    keys = np.array([7, 3, 7, 7, 3, 9, 7], dtype=np.uint64)
    assert sorted(b.tolist() for b in buckets(keys)) == [[0, 2, 3, 6], [1, 4]]


def test_star_clusters_join_each_member_to_the_first():
    bands = np.array([[1, 5], [1, 6], [2, 6], [3, 7], [4, 7], [8, 9]], dtype=np.uint64)
    found = star_clusters(bands)
    assert found.roots == {1: 0, 2: 0, 4: 3}  # 2 joins 1 in band 2, and 1 is already with 0
    assert found.candidate_pairs == 3


def test_verified_clusters_single_linkage_and_skips():
    bands = np.zeros((4, 1), dtype=np.uint64)  # one bucket of four
    similar = {(0, 1): 0.9, (1, 2): 0.85, (0, 2): 0.5, (0, 3): 0.1, (1, 3): 0.1, (2, 3): 0.1}
    checked = []

    def jaccard(a, b):
        checked.append((a, b))
        return similar[(a, b)]

    found = verified_clusters(bands, jaccard, 0.8, cap=32)
    assert found.roots == {1: 0, 2: 0}  # 0-1 and 1-2 verified: one cluster despite 0-2 = 0.5
    assert found.links[2] == (1, 0.85)
    assert (0, 2) in checked and found.rejected_pairs == 4 and found.verified_pairs == 2


def test_verified_clusters_cap_bounds_a_huge_bucket():
    bands = np.zeros((5000, 3), dtype=np.uint64)  # 5000 identical documents, three bands
    checked = []
    found = verified_clusters(bands, lambda a, b: checked.append((a, b)) or 1.0, 0.8, cap=8)
    assert len(found.roots) == 4999 and set(found.roots.values()) == {0}
    assert len(checked) == 4999  # one check per member; later bands find them clustered
    assert found.capped_buckets == 3


def planted_corpus(seed: int = 0):
    """Bases of 204 words; copies at J 0.951 (1 edit), 0.905 (2 edits) and 0.311 (21 edits)."""
    rng = random.Random(seed)
    records, truth = [], []
    for kind, edits, count in (("j95", 1, 30), ("j90", 2, 30), ("j30", 21, 30)):
        for c in range(count):
            base = words(rng, 204)
            records.append({"id": f"{kind}-{c}-a", "text": " ".join(base)})
            records.append({"id": f"{kind}-{c}-b", "text": " ".join(replace_spaced(base, edits, rng))})
            truth.append((kind, f"{kind}-{c}-a", f"{kind}-{c}-b"))
    records += [{"id": f"solo-{i}", "text": " ".join(words(rng, 204))} for i in range(200)]
    random.Random(seed + 1).shuffle(records)
    return records, truth


def run_step(records, tmp_path, name="mh", **config):
    step = MinHashDedup(**config)
    result = Pipeline("t", {"src": FromRecords(records=records), name: step}).run(tmp_path / "run")
    return step, result


def test_lsh_recall_and_precision_on_planted_pairs(tmp_path):
    records, truth = planted_corpus()
    texts = {r["id"]: r["text"] for r in records}
    step, result = run_step(records, tmp_path)
    dropped = {r["id"]: r["_drop"] for r in result.dropped}
    for r in dropped.values():
        assert r["reason"] == "near_duplicate"
    found = {kind: sum((a in dropped) != (b in dropped) for k, a, b in truth if k == kind) for kind in ("j95", "j90", "j30")}
    # 14 bands x 9 rows: P(candidate) = 1 - (1 - J^9)^14 = 0.99999 at J 0.951, 0.9994 at 0.905
    assert found["j95"] == 30
    assert found["j90"] >= 29
    assert found["j30"] == 0
    for doc in dropped:  # precision against exact Jaccard: every removal is >= the threshold
        partner = doc[:-1] + ("a" if doc.endswith("b") else "b")
        a, b = reference_shingles(texts[doc]), reference_shingles(texts[partner])
        assert len(a & b) / len(a | b) >= 0.8
    assert not any(d.startswith("solo") for d in dropped)
    summary = step.last_summary
    assert (summary["bands"], summary["rows"]) == (14, 9)  # verifying: recall-leaning weights
    assert summary["weights"] == [0.1, 0.9]
    assert summary["removed"] == len(dropped) == summary["clusters"]
    assert summary["verified_pairs"] <= summary["candidate_pairs"]
    assert json.loads((tmp_path / "run" / "minhash_summary.json").read_text()) == summary


def test_kept_record_is_first_and_detail_names_it(tmp_path):
    rng = random.Random(1)
    base = words(rng, 300)  # 296 shingles; one edit changes 5: J = 291 / 301 = 0.967
    one = replace_spaced(base, 1, rng, start=10)
    two = replace_spaced(one, 1, rng, start=80)  # J(base, two) = 286 / 306 = 0.935 < 0.95
    records = [
        {"id": "x", "text": " ".join(words(rng, 300))},
        {"id": "first", "text": " ".join(base)},
        {"id": "second", "text": " ".join(one)},
        {"id": "no-text", "text": None},
        {"id": "third", "text": " ".join(two)},
        {"id": "blank", "text": "  ...  "},
        {"id": "blank2", "text": "  !!  "},
    ]
    _, result = run_step(records, tmp_path, threshold=0.95, bands=32, rows=4)
    assert [r["id"] for r in result.kept] == ["x", "first", "no-text", "blank", "blank2"]
    details = {r["id"]: r["_drop"]["detail"] for r in result.dropped}
    assert details == {
        "second": "of first (jaccard 0.97)",
        "third": "of first (jaccard 0.93); via second (jaccard 0.97)",
    }


def test_without_verification_buckets_merge_and_jaccard_is_estimated(tmp_path):
    records, truth = planted_corpus(seed=3)
    step, result = run_step(records, tmp_path, verify=False)
    assert step.last_summary["verified_pairs"] is None
    assert (step.last_summary["bands"], step.last_summary["rows"]) == (9, 13)  # datasketch's
    dropped = {r["id"] for r in result.dropped}
    assert sum((a in dropped) != (b in dropped) for k, a, b in truth if k == "j95") == 30
    assert not any(d.startswith("solo") or d.startswith("j30") for d in dropped)
    assert all("jaccard 0." in r["_drop"]["detail"] or "jaccard 1." in r["_drop"]["detail"] for r in result.dropped)


def test_deterministic_across_runs_chunking_and_workers(tmp_path):
    records, _ = planted_corpus(seed=4)
    outcomes = []
    for i, config in enumerate([{}, {"chunk_docs": 7}, {"chunk_docs": 50, "workers": 2, "parallel_min_docs": 0}]):
        step, result = run_step([dict(r) for r in records], tmp_path / str(i), **config)
        outcomes.append(sorted((r["id"], r["_drop"]["detail"]) for r in result.dropped))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0]
    assert step.last_summary["workers_used"] == 2  # the pool did run


def test_step_direct_run_two_passes_and_changed_input():
    records, _ = planted_corpus(seed=5)
    batches = [records[i : i + 64] for i in range(0, len(records), 64)]
    calls = []

    def source():
        calls.append(1)
        return iter([[dict(r) for r in b] for b in batches])

    out = list(MinHashDedup().run(source, StepContext("mh")))
    assert len(calls) == 2
    assert [r["id"] for b in out for r in b] == [r["id"] for r in records]

    def changing():
        calls.append(1)
        return iter(batches if len(calls) % 2 else batches[::-1])

    calls.clear()
    with pytest.raises(StepError, match="changed between its two passes"):
        list(MinHashDedup().run(changing, StepContext("mh")))


# -- signature file ---------------------------------------------------------------------------
def test_signatures_save_load_and_refuse_mismatches(tmp_path):
    texts = ["alpha beta gamma delta epsilon zeta", "one two three four five six seven", "x"]
    spec = SignatureSpec(num_perm=32, seed=9, ngram=3, normalization=Normalization().model_dump())
    sig = MinHasher(32, 9).signatures(*shingle_hashes(texts, 3))
    path = save_signatures(tmp_path / "s.bin", sig, ["a", "b", "c"], spec)
    loaded, ids, got = load_signatures(path, expect=spec)
    assert np.array_equal(loaded, sig) and ids == ["a", "b", "c"] and got == spec
    with pytest.raises(SignatureMismatchError, match="num_perm: file has 32, expected 64"):
        load_signatures(path, expect=SignatureSpec(num_perm=64, seed=9, ngram=3, normalization=spec.normalization))
    with pytest.raises(SignatureMismatchError, match="seed"):
        load_signatures(path, expect=SignatureSpec(num_perm=32, seed=1, ngram=3, normalization=spec.normalization))
    raw = path.read_bytes().replace(b'"version": 1', b'"version": 0')
    (tmp_path / "old.bin").write_bytes(raw)
    with pytest.raises(SignatureMismatchError, match="format version 0"):
        load_signatures(tmp_path / "old.bin")
    (tmp_path / "junk.bin").write_bytes(b"hello")
    with pytest.raises(SignatureMismatchError, match="not a synthpipe MinHash signature file"):
        load_signatures(tmp_path / "junk.bin")


def test_step_saves_signatures_it_can_reload(tmp_path):
    records, _ = planted_corpus(seed=6)
    step, _ = run_step(records[:40], tmp_path, save_signatures=True, num_perm=64)
    sig, ids, spec = load_signatures(tmp_path / "run" / "minhash_signatures.bin", expect=step.spec())
    assert ids == [r["id"] for r in records[:40]] and sig.shape == (40, 64)
    expected = MinHasher(64, 1).signatures(*shingle_hashes([r["text"] for r in records[:40]]))
    assert np.array_equal(sig, expected)

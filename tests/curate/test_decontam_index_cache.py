"""The n-gram index on disk, its stable hashes, the fast tokenizer, and windows of records."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from synthpipe import Pipeline
from synthpipe.curate.decontam import ngram, step
from synthpipe.curate.decontam.registry import BenchmarkSet, get_benchmark
from synthpipe.curate.decontam.step import Decontaminate
from synthpipe.pipeline.sources import FromRecords
from synthpipe.text.normalize import normalize


@pytest.fixture
def decontam_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(ngram, "cache_dir", lambda: tmp_path / "decontam")
    ngram._CACHE.clear()
    yield tmp_path / "decontam"
    ngram._CACHE.clear()


def small_set(tmp_path) -> BenchmarkSet:
    rows = [
        {"id": "q1", "question": "How many apples does Anna have if she buys 12 more apples at the market today?",
         "answer": "She had 3 apples and buys 12 more so she has 15 apples in total at the end of the day."},
        {"id": "q2", "question": "Who was Galileo ?", "answer": ""},
        {"id": "q3", "question": "name the capital city of the country of mongolia please", "answer": ""},
    ]  # fmt: skip
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return BenchmarkSet.from_file("mine", path, "question", "answer")


def test_the_index_is_built_once_then_loaded_from_disk(tmp_path, decontam_cache, monkeypatch):
    sets = [small_set(tmp_path), get_benchmark("trec")]
    built = ngram.get_index(sets, mask_numbers=True)
    [path] = decontam_cache.glob("ngram-*.npz")
    ngram._CACHE.clear()
    monkeypatch.setattr(ngram.NgramIndex, "build", classmethod(lambda *a, **k: pytest.fail("rebuilt")))
    loaded = ngram.get_index(sets, mask_numbers=True)
    for name in ("keys", "offsets", "unit_ids", "bitmap"):
        assert (getattr(loaded, name) == getattr(built, name)).all()
    assert loaded.units == built.units and loaded.exact == built.exact and loaded.vocab == built.vocab
    assert loaded.questions == built.questions and loaded.common_windows == built.common_windows
    records = [{"text": "how many apples does anna have if she buys 7 more apples at the market today"},
               {"text": "who was galileo?"}, {"text": "Name the capital city of the country of Mongolia please, now"},
               {"text": "nothing to see here at all"}]  # fmt: skip
    assert ngram.find_hits(loaded, records) == ngram.find_hits(built, records)
    assert [len(h) for h in ngram.find_hits(loaded, records)] == [1, 2, 1, 0]  # trec has Galileo too
    assert path.exists()


def test_settings_and_contents_key_the_file_and_a_damaged_file_is_rebuilt(tmp_path, decontam_cache):
    sets = [small_set(tmp_path)]
    ngram.get_index(sets, mask_numbers=True)
    ngram.get_index(sets, n=8, mask_numbers=True)
    ngram.get_index(sets, mask_numbers=False)
    assert len(list(decontam_cache.glob("ngram-*.npz"))) == 3
    for path in decontam_cache.glob("ngram-*.npz"):
        path.write_bytes(b"damaged")
    ngram._CACHE.clear()
    index = ngram.get_index(sets, mask_numbers=True)
    assert ngram.find_hits(index, [{"text": "Who was Galileo?"}])[0][0].item_id == "q2"


def test_hashes_are_the_same_in_every_process(tmp_path):
    code = (
        "from synthpipe.curate.decontam import ngram\n"
        "import numpy as np\n"
        "ids = np.arange(1, 40, dtype=np.uint64)\n"
        "print(int(ngram.window_hashes(ids, 13).sum()), ngram.sequence_hash(ids[:5]))\n"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    ids = np.arange(1, 40, dtype=np.uint64)
    assert ngram.sequence_hash(ids[3:16]) == int(ngram.window_hashes(ids, 13)[3])
    assert ngram.sequence_hash(ids[3:16]) != ngram.sequence_hash(ids[3:15])


def test_fast_tokenizer_equals_normalize_then_split():
    rng = random.Random(0)
    alphabet = [chr(c) for c in range(128)] + ["é", "ß", "İ", "½", "²", "\u00a0", "\u2028", "ﬁ", "Ⅻ", "٣"]
    texts = ["".join(chr(c) for c in range(128)), "A\x1cB\x1fC_d-e", "Price: $1,200.50 (60%)"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    for text in texts:
        assert ngram.tokenize(text) == normalize(text).split(), repr(text)
        assert ngram.tokenize(text, mask_numbers=True) == ["0" if t.isdigit() else t for t in normalize(text).split()]


def test_records_are_checked_in_windows_and_come_out_in_order(tmp_path, monkeypatch):
    items = get_benchmark("trec").load()[:30]
    records = [{"id": f"r{i}", "text": items[i]["question"] if i % 3 == 0 else f"clean text number {i}"}
               for i in range(30)]  # fmt: skip

    def run(window: int, where: str):
        monkeypatch.setattr(step, "WINDOW", window)
        source = FromRecords(records=[dict(r) for r in records])
        pipe = Pipeline("t", {"src": source, "d": Decontaminate(benchmarks=["trec"], action="flag")}, batch_size=4)
        return pipe.run(tmp_path / where).kept

    small, large = run(1, "small"), run(10_000, "large")
    assert [r["id"] for r in small] == [r["id"] for r in records] == [r["id"] for r in large]
    assert [r["contamination"] for r in small] == [r["contamination"] for r in large]
    assert sum(bool(r["contamination"]) for r in large) == 10


def test_a_window_of_texts_gets_the_ids_of_each_text_on_its_own(tmp_path):
    index = ngram.NgramIndex.build([small_set(tmp_path), get_benchmark("trec")], mask_numbers=True)
    rng = random.Random(1)
    words = ["apples", "Anna", "market", "12", "²", "galileo", "ﬁle", "ΟΔΟΣ", "x\x00y", "", "who", "\u2028"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    texts += ["plain ascii only", "", "naïve café", "a\x00b"]
    ids, starts = index.token_ids(texts)
    for j, text in enumerate(texts):
        end = starts[j + 1] if j + 1 < len(texts) else len(ids)
        zero = index.vocab.get("0", 0)
        expected = [index.vocab.get(t) or (zero if t.isdigit() else 0) for t in ngram.tokenize(text)]
        assert ids[starts[j] : end].tolist() == [*expected, ngram._SEPARATOR_ID], repr(text)
    assert index.token_ids([])[0].shape == (0,)

"""Benchmark decontamination: the bundled registry, the n-gram and semantic detectors, the step."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

from synthpipe import Pipeline
from synthpipe.curate.decontam import ngram
from synthpipe.curate.decontam.registry import (
    BenchmarkSet,
    get_benchmark,
    list_benchmarks,
    load_benchmark,
    resources_root,
)
from synthpipe.curate.decontam.step import Decontaminate, record_texts
from synthpipe.errors import UsageError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.text.normalize import normalize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from embedder import needs_embedder  # noqa: E402  (tests/support)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DATA = resources_root() / "data"

# 16 GSM8K test problems rephrased by hand: other names and numbers, lightly reworded,
# same story. (The benchmark script also uses these.)
GSM8K_REPHRASED = {
    "gsm8k-test-0": "Linda's ducks lay 18 eggs every day. She eats four for breakfast each morning and uses five to bake muffins for her friends daily. She sells the rest at the farmers' market for $3 per fresh duck egg. How many dollars does she make each day at the farmers' market?",
    "gsm8k-test-1": "A robe needs 6 bolts of blue fiber and half as much white fiber. How many bolts does it take in total?",
    "gsm8k-test-2": "Mark decides to flip a house. He buys one for $90,000 and spends $40,000 on repairs, which increases the value of the house by 120%. How much profit does he make?",
    "gsm8k-test-3": "Peter decides to run 4 sprints 5 times a week. He runs 50 meters per sprint. How many meters does he run in total each week?",
    "gsm8k-test-5": "Omar went to the shop to buy glasses for his new flat. One glass costs $6, but every second glass costs only 50% of the price. Omar wants to buy 12 glasses. How much does he have to pay for them?",
    "gsm8k-test-6": "Madrid has three times as many sheep as Lisbon. Lisbon has 5 times as many sheep as Oslo. How many sheep do Madrid, Lisbon, and Oslo have altogether if Oslo has 12 sheep?",
    "gsm8k-test-7": "Sara is downloading a 100 GB file. Usually she downloads 4 GB/minute, but 60% of the way through, Windows forces a restart to install updates, taking 15 minutes. Then Sara has to start the download over from the beginning. How long does it take to download the file?",
    "gsm8k-test-9": "Maya's hourly rate for the first 35 hours she works each week is $14. She also gets overtime pay of 1.5 times her regular hourly rate. If Maya worked 42 hours this week, what are her earnings for the week?",
    "gsm8k-test-10": "A new game had 90 downloads in its first month. In the second month it had four times as many downloads as in the first month, but downloads dropped by 20% in the third month. How many downloads did the game have in total over the three months?",
    "gsm8k-test-11": "Lena went to the bakery and bought different kinds of pastries. She bought 4 dozen donuts at $60 per dozen, 3 dozen mini cupcakes at $75 per dozen, and 5 dozen mini cheesecakes at $50 per dozen. What was the total cost?",
    "gsm8k-test-12": "Pedro is planting an apple tree. Planting the tree costs $100. Every year it grows 8 apples, which he can sell for $2 each. Watering and feeding the tree costs $4 a year. How many years will it take until he starts making money on the apple tree?",
    "gsm8k-test-13": "Jessica is a door-to-door saleswoman. She sold a quarter of her vacuum cleaners at the blue house, 3 more to the white house, and half of what remained at the pink house. If Jessica has 6 vacuum cleaners left, how many did she start with?",
    "gsm8k-test-14": "In a dance class of 40 students, 10% enrolled in contemporary dance, 50% of the rest enrolled in jazz dance, and the remaining students enrolled in hip-hop dance. What percentage of all the students enrolled in hip-hop dance?",
    "gsm8k-test-17": "Kate is paid $25 an hour to teach and $35 an hour as a cheerleading coach. If she works 48 weeks a year, 30 hours a week as a teacher and 10 hours a week as a coach, what is her yearly salary?",
    "gsm8k-test-18": "Nora makes a 2 egg omelet for breakfast every morning. How many dozen eggs will she eat in 6 weeks?",
    "gsm8k-test-19": "Hannah is hiking a 15-mile trail. It took her 1 hour to walk the first 5 miles, and another hour for the next three miles. If she wants an average speed of 5 miles per hour, how fast (in miles per hour) must she walk the rest of the way?",
}

# Light edits of benchmark items: (benchmark, item id, edited text).
LIGHT_EDITS = [
    # casing + punctuation
    ("gsm8k", "gsm8k-test-5", "KYLAR WENT TO THE STORE TO BUY GLASSES FOR HIS NEW APARTMENT!!! one glass costs $5 -- but every "
     "second glass costs only 60% of the price; Kylar wants to buy 16 glasses... how much does he need to pay for them"),
    # a few words changed (every 13-word window of the original is not broken)
    ("gsm8k", "gsm8k-test-12", "Carlos is planting a lemon tree. The tree will cost $90 to plant. Each year it will grow 7 lemons, "
     "which he is able to sell for $1.5 apiece. It costs $3 a year to water and feed the tree. How many years will it "
     "take before he starts earning money on the lemon tree?"),
    # embedded in a longer prompt, answer copied too
    ("gsm8k", "gsm8k-test-18", "You are a helpful tutor. Solve the following problem step by step and explain your "
     "reasoning to a ten year old.\n\nProblem: Claire makes a 3 egg omelet every morning for breakfast.  How many dozens "
     "of eggs will she eat in 4 weeks?\n\nSolution: She eats 3 eggs every day and there are 7 days in a week so she eats "
     "3*7 = 21 eggs a week."),
    # a copied canonical solution with another function name, inside a chat answer
    ("humaneval", "HumanEval/12", "Sure! Here is one way to do it:\n\n```python\ndef longest_string(strings):\n    if not "
     "strings:\n        return None\n\n    maxlen = max(len(x) for x in strings)\n    for s in strings:\n        if "
     "len(s) == maxlen:\n            return s\n```"),
    # the docstring of the prompt, reworded at the end
    ("humaneval", "HumanEval/0", "Write a python function. Check if in given list of numbers, are any two numbers closer "
     "to each other than given threshold. Use a double loop please."),
    # MMLU question with its choices, reformatted as an exam item
    ("mmlu", "mmlu-anatomy-0", None),  # filled from the data in the test (choices relettered)
]


@pytest.fixture(scope="module")
def all_sets() -> list[BenchmarkSet]:
    return [get_benchmark(n) for n in list_benchmarks()]


def run_step(tmp_path, records, **config) -> tuple[list[dict], list[dict]]:
    step = Decontaminate(**config)
    result = Pipeline("t", {"src": FromRecords(records=records), "decontaminate": step}).run(tmp_path / "run")
    return result.kept, result.dropped


def hits_of(record: dict) -> list[dict]:
    return record["_drop"]["detail"]


# -- registry ------------------------------------------------------------------------------
def test_registry_lists_the_bundled_sets():
    assert list_benchmarks() == ["gsm8k", "humaneval", "mbpp", "mbpp-test", "mmlu", "sst2", "trec"]
    with pytest.raises(UsageError, match="bundled benchmarks: gsm8k"):
        get_benchmark("gsm9k")


def source_md_counts(name: str) -> tuple[int, dict[str, str]]:
    """(records, {file: sha256}) as written in the bundled SOURCE.md."""
    if name == "trec":
        text = (DATA / "trec" / "SOURCE.md").read_text()
        row = next(line for line in text.splitlines() if line.startswith("| test.jsonl |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        return int(cells[1]), {"test.jsonl": cells[-1]}
    text = (resources_root() / "benchmarks" / name / "SOURCE.md").read_text()
    count = int(re.search(r"^- Records: (\d+)$", text, re.M).group(1))
    hashes = dict(re.findall(r"^\| (\S+) \| [^|]*\| \d+ \| ([0-9a-f]{64}) \|$", text, re.M))
    return count, hashes


@pytest.mark.parametrize("name", ["gsm8k", "humaneval", "mbpp", "mmlu", "sst2", "trec"])
def test_registry_loads_each_set_with_the_counts_of_source_md(name):
    bench = get_benchmark(name)
    records = load_benchmark(name)
    count, hashes = source_md_counts(name)
    assert len(records) == count
    assert hashlib.sha256(bench.path.read_bytes()).hexdigest() == hashes[bench.path.name]
    assert len({r["id"] for r in records}) == len(records)
    assert all(isinstance(r["question"], str) and r["question"] for r in records)
    assert all(isinstance(r["answer"], str) for r in records)
    folder = bench.path.parent
    assert (folder / "SOURCE.md").exists()
    assert any(p.name.startswith("LICENSE") for p in folder.iterdir())


def test_registry_sizes_match_the_published_benchmarks():
    sizes = {n: len(load_benchmark(n)) for n in list_benchmarks()}
    assert sizes == {"gsm8k": 1319, "humaneval": 164, "mbpp": 974, "mbpp-test": 500, "mmlu": 14042,
                     "sst2": 1821, "trec": 500}  # fmt: skip
    assert {r["split"] for r in load_benchmark("mbpp")} == {"prompt", "test", "validation", "train"}
    assert {r["split"] for r in load_benchmark("mbpp-test")} == {"test"}
    gsm = load_benchmark("gsm8k")[0]
    assert "<<" in gsm["answer"] and "<<" not in gsm["answer_plain"]


def test_bundled_files_are_small_and_gzipped_when_large():
    root = resources_root() / "benchmarks"
    for path in root.rglob("*.jsonl"):
        assert path.stat().st_size <= 1 << 20, path
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 4 << 20


@pytest.mark.skipif(not (SHARED / "mmlu").exists(), reason="needs ../shared/data")
def test_mmlu_items_keep_question_choices_and_answer_letter():
    first = next(csv.DictReader((SHARED / "mmlu" / "test" / "abstract_algebra_test.csv").open(encoding="utf-8")))
    item = load_benchmark("mmlu")[0]
    assert item["id"] == "mmlu-abstract_algebra-0"
    assert item["question"].startswith(first["question"].strip())
    letter = "ABCD"[int(first["answer"])]
    assert item["answer"] == f"{letter}. {first['choice' + first['answer']].strip()}"


# -- n-gram detector ------------------------------------------------------------------------
def test_verbatim_items_are_caught_with_their_ids(tmp_path):
    picks = {"gsm8k": 7, "humaneval": 40, "mbpp": 300, "mmlu": 5000, "sst2": 10, "trec": 20}
    records = []
    for name, i in picks.items():
        item = load_benchmark(name)[i]
        text = item["question"] + ("\n" + item["answer"] if item["answer"] else "")
        records.append({"id": f"{name}-copy", "text": text, "expect": item["id"]})
    kept, dropped = run_step(tmp_path, records)
    assert not kept
    for record in dropped:
        assert record["_drop"]["reason"] == "contaminated"
        assert record["expect"] in {h["item_id"] for h in hits_of(record)}


def mmlu_exam_item() -> str:
    item = load_benchmark("mmlu")[1000]
    stem, *choices = item["question"].split("\n")
    lettered = "  ".join(f"({'abcd'[i]}) {c[3:]}" for i, c in enumerate(choices))
    return f"Question 12. {stem.upper()}\n{lettered}\nAnswer:", item["id"]


def test_lightly_edited_items_are_caught(tmp_path):
    records = []
    for i, (bench, item_id, text) in enumerate(LIGHT_EDITS):
        if text is None:
            text, item_id = mmlu_exam_item()
        records.append({"id": f"edit-{i}", "text": text, "expect": f"{bench}/{item_id}"})
    kept, dropped = run_step(tmp_path, records)
    assert [r["id"] for r in kept] == []
    for record in dropped:
        found = {f"{h['benchmark']}/{h['item_id']}" for h in hits_of(record)}
        assert record["expect"] in found, (record["id"], found)


def test_hit_detail_format(tmp_path):
    item = load_benchmark("gsm8k")[42]
    _, dropped = run_step(tmp_path, [{"id": "x", "text": "Q: " + item["question"]}], benchmarks=["gsm8k"])
    detail = dropped[0]["_drop"]["detail"]
    assert isinstance(detail, list)  # structured data in the ledger, not JSON text
    hits = detail
    assert hits[0] == {
        "benchmark": "gsm8k",
        "item_id": "gsm8k-test-42",
        "detector": "ngram",
        "field": "text",
        "span": hits[0]["span"],
    }
    span = hits[0]["span"].split()
    assert len(span) == 13 and " ".join(span) in normalize(item["question"])


def test_clean_text_is_left_alone(tmp_path, all_sets):
    index = ngram.get_index(all_sets)
    docs = [json.loads(line)["text"] for line in (DATA / "oasst" / "documents.jsonl").open()]
    prompts = [json.loads(line)["text"] for line in (DATA / "oasst" / "prompts.jsonl").open()]
    hits = ngram.find_hits(index, [{"text": t} for t in docs + prompts])
    assert sum(map(bool, hits)) == 0


def test_trec_train_hits_are_exact_duplicates_of_test_questions(all_sets):
    """TREC's train split repeats a few test questions word for word: those, and only those, match."""
    index = ngram.get_index(all_sets)
    train = [json.loads(line)["text"] for line in (DATA / "trec" / "train.jsonl").open()]
    test = {normalize(r["question"]) for r in load_benchmark("trec")}
    hits = ngram.find_hits(index, [{"text": t} for t in train])
    flagged = [t for t, h in zip(train, hits, strict=True) if h]
    assert 0 < len(flagged) < 0.005 * len(train)
    assert all(normalize(t) in test for t in flagged)


@pytest.mark.skipif(not (SHARED / "sst2").exists(), reason="needs ../shared/data")
def test_sst2_train_hits_are_duplicates_only(all_sets):
    index = ngram.get_index(all_sets)
    with (SHARED / "sst2" / "train.csv").open(encoding="utf-8") as fh:
        train = [row["sentence"] for row in csv.DictReader(fh)]
    test = {normalize(r["question"]) for r in load_benchmark("sst2")}
    hits = ngram.find_hits(index, [{"text": t} for t in train])
    flagged = [t for t, h in zip(train, hits, strict=True) if h]
    assert len(flagged) <= 5 and all(normalize(t) in test for t in flagged)


def test_short_questions_match_whole_spans_or_exact_texts():
    trec = BenchmarkSet(name="mini", path=DATA / "trec" / "test.jsonl", question_fields=("text",), answer_fields=())
    index = ngram.NgramIndex.build([trec])
    texts = {
        "exact": "Who was Galileo?",  # 3 tokens: exact text only
        "longer": "Who was Galileo's teacher?",
        "span": "Quick quiz: how far is it from Denver to Aspen? Think before answering.",  # 8 tokens inside
        "broken": "how far is it from Denver to the town of Aspen",
    }
    hits = dict(zip(texts, ngram.find_hits(index, [{"text": t} for t in texts.values()]), strict=True))
    assert [h.item_id for h in hits["exact"]] == ["trec-test-2"]
    assert [h.item_id for h in hits["span"]] == ["trec-test-0"]
    assert hits["span"][0].span == "how far is it from denver to aspen"
    assert hits["longer"] == [] and hits["broken"] == []


def test_min_ngram_overlap_counts_or_fractions(tmp_path):
    item = load_benchmark("gsm8k")[100]
    words = normalize(item["question"]).split()
    record = {"id": "x", "text": "Intro. " + " ".join(words[:14]) + " ... and so on."}  # 2 shared 13-grams
    assert run_step(tmp_path / "a", [dict(record)], benchmarks=["gsm8k"])[1]
    assert run_step(tmp_path / "b", [dict(record)], benchmarks=["gsm8k"], min_ngram_overlap=2)[1]
    assert not run_step(tmp_path / "c", [dict(record)], benchmarks=["gsm8k"], min_ngram_overlap=3)[1]
    assert not run_step(tmp_path / "d", [dict(record)], benchmarks=["gsm8k"], min_ngram_overlap=0.5)[1]
    full = {"id": "y", "text": item["question"]}
    assert run_step(tmp_path / "e", [full], benchmarks=["gsm8k"], min_ngram_overlap=0.9)[1]


def test_n_is_configurable(tmp_path):
    item = load_benchmark("gsm8k")[200]
    words = normalize(item["question"]).split()
    record = {"id": "x", "text": "Say: " + " ".join(words[3:13])}  # 10 words of the question
    assert not run_step(tmp_path / "a", [dict(record)], benchmarks=["gsm8k"])[1]
    assert run_step(tmp_path / "b", [dict(record)], benchmarks=["gsm8k"], ngram=8)[1]


def test_numbers_are_masked_so_changed_numbers_still_match(tmp_path, all_sets):
    renamed = "James decides to run 4 sprints 5 times a week.  He runs 70 meters each sprint.  How many total meters does he run a week?"
    records = [{"id": "renamed", "text": renamed}]
    _, dropped = run_step(tmp_path / "a", [dict(r) for r in records], benchmarks=["gsm8k"])
    hit = hits_of(dropped[0])[0]
    assert hit["item_id"] == "gsm8k-test-3" and "4 sprints 5 times" in hit["span"]  # the record's own numbers
    kept, _ = run_step(tmp_path / "b", records, benchmarks=["gsm8k"], ngram_mask_numbers=False)
    assert [r["id"] for r in kept] == ["renamed"]
    numbers = ", ".join(str(i) for i in range(40))  # test-value lists are not indexed
    assert ngram.find_hits(ngram.get_index(all_sets, mask_numbers=True), [{"text": numbers}]) == [[]]


def test_flag_action_keeps_records_and_adds_the_field(tmp_path):
    item = load_benchmark("mbpp")[50]
    records = [{"id": "c", "text": item["question"] + "\n" + item["answer"]}, {"id": "ok", "text": "Nothing to see here."}]
    kept, dropped = run_step(tmp_path, records, action="flag")
    assert dropped == []
    by_id = {r["id"]: r for r in kept}
    assert by_id["ok"]["contamination"] is None
    assert {h["item_id"] for h in by_id["c"]["contamination"]} >= {item["id"]}
    assert all(h["detector"] == "ngram" for h in by_id["c"]["contamination"])


def test_several_text_fields_and_chat_messages(tmp_path):
    item = load_benchmark("humaneval")[3]
    records = [
        {"id": "a", "instruction": "Please help.", "response": item["question"] + item["answer"]},
        {"id": "b", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": item["question"]}]},
        {"id": "c", "other": item["question"]},  # not a scanned field
    ]
    kept, dropped = run_step(tmp_path, records, text_fields=["instruction", "response", "messages"])
    assert [r["id"] for r in kept] == ["c"]
    assert {hits_of(r)[0]["field"] for r in dropped} == {"response", "messages"}
    assert record_texts({"x": None, "y": "  "}, ["x", "y"]) == {}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_user_supplied_benchmark_file(tmp_path, fmt):
    rows = [
        {"qid": "q1", "prompt": "Explain why the sky over the Atacama desert looks unusually dark blue at noon in winter.", "ref": "Thin dry air."},
        {"qid": "q2", "prompt": "List three rivers.", "ref": "Nile, Amazon, Danube, Mekong, Volga and the Mississippi river in the United States of America."},
    ]  # fmt: skip
    path = tmp_path / f"my_eval.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    extra = [{"name": "my_eval", "path": str(path), "question_field": "prompt", "answer_field": "ref", "id_field": "qid"}]
    records = [
        {"id": "a", "text": "explain WHY the sky over the Atacama desert looks unusually dark blue at noon, in winter"},
        {"id": "b", "text": "Rivers: Nile, Amazon, Danube, Mekong, Volga and the Mississippi river in the United States of America."},
        {"id": "c", "text": "List three rivers."},  # 3 tokens: exact match of a short question
        {"id": "d", "text": "The sky is blue because of Rayleigh scattering."},
    ]
    kept, dropped = run_step(tmp_path, records, benchmarks=[], extra_benchmarks=extra)
    assert [r["id"] for r in kept] == ["d"]
    assert {r["id"]: hits_of(r)[0]["item_id"] for r in dropped} == {"a": "q1", "b": "q2", "c": "q2"}
    assert all(hits_of(r)[0]["benchmark"] == "my_eval" for r in dropped)


def test_user_file_errors_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        BenchmarkSet.from_file("x", tmp_path / "missing.jsonl", "q")
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "hello"}) + "\n")
    with pytest.raises(UsageError, match="no field 'question'"):
        BenchmarkSet.from_file("x", path, "question").load()


def test_config_validation():
    with pytest.raises(ValueError, match="unknown benchmark"):
        Decontaminate(benchmarks=["gsm8k", "nope"])
    with pytest.raises(ValueError, match="both detectors are off"):
        Decontaminate(ngram=None)
    with pytest.raises(ValueError, match="fraction"):
        Decontaminate(min_ngram_overlap=1.5)
    with pytest.raises(ValueError):
        Decontaminate(min_ngram_overlap=0)
    assert Decontaminate().config.benchmarks == "all"


def test_fingerprint_follows_benchmark_files(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "What is the airspeed velocity of an unladen swallow?"}) + "\n")
    step = Decontaminate(benchmarks=[], extra_benchmarks=[{"name": "b", "path": str(path), "question_field": "question"}])
    before = step.fingerprint()
    path.write_text(json.dumps({"id": "1", "question": "What is the capital of Assyria?"}) + "\n")
    assert step.fingerprint() != before


def test_gzipped_user_file(tmp_path):
    path = tmp_path / "b.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"question": "Name every moon of Jupiter discovered by Galileo in the year 1610 please"}) + "\n")
    bench = BenchmarkSet.from_file("gz", path, "question", id_field=None)
    assert load_benchmark(bench)[0]["id"] == "gz-0"


# -- semantic detector ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gsm8k_subset(tmp_path_factory) -> dict:
    """The first 25 GSM8K test items as a user benchmark (fast to embed); a private embedding cache."""
    root = tmp_path_factory.mktemp("semantic")
    path = root / "gsm8k_head.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in load_benchmark("gsm8k")[:25]))
    from synthpipe.embeddings import store

    with pytest.MonkeyPatch.context() as mp:  # (not SYNTHPIPE_CACHE_DIR: the ONNX graph lives there)
        mp.setattr(store, "cache_dir", lambda: root / "cache" / "embeddings")
        yield {"name": "gsm8k", "path": str(path), "question_field": "question", "answer_field": "answer",
               "cache": root / "cache" / "embeddings"}  # fmt: skip


def embedded_without_computing(bench: BenchmarkSet) -> bool:
    """True if the set's questions come back from the caches (disk or shipped), none computed."""
    from synthpipe.curate.decontam import semantic
    from synthpipe.embeddings import get_embedder
    from synthpipe.embeddings.cache import EmbeddingCache

    fresh = EmbeddingCache()  # nothing in memory
    texts = [semantic.mask_numbers(r["question"]) for r in bench.load()]
    fresh.encode(get_embedder(), texts)
    return fresh.computed == 0


@needs_embedder
def test_semantic_catches_rephrased_gsm8k_and_leaves_clean_text(tmp_path, gsm8k_subset):
    rephrased = [{"id": k, "text": v} for k, v in GSM8K_REPHRASED.items()]
    trec = [json.loads(line)["text"] for line in (DATA / "trec" / "train.jsonl").open()][:30]
    docs = [json.loads(line)["text"] for line in (DATA / "oasst" / "documents.jsonl").open()][:8]
    extra = {k: v for k, v in gsm8k_subset.items() if k != "cache"}
    clean = [{"id": f"clean-{i}", "text": t} for i, t in enumerate(trec + docs)]
    kept, dropped = run_step(tmp_path, rephrased + clean, benchmarks=[], extra_benchmarks=[extra],
                             semantic=True, ngram=None, semantic_threshold=0.85)  # fmt: skip
    caught = {r["id"] for r in dropped if any(h["item_id"] == r["id"] for h in hits_of(r))}
    assert len(caught) >= 13, sorted(set(GSM8K_REPHRASED) - caught)  # measured: 14 of 16 at 0.85
    assert not [r["id"] for r in dropped if r["id"].startswith("clean")]
    semantic_hits = [h for r in dropped for h in hits_of(r) if h["detector"] == "semantic"]
    assert semantic_hits and all(set(h) == {"benchmark", "item_id", "detector", "field", "similarity"} for h in semantic_hits)
    assert all(0.85 <= h["similarity"] <= 1 for h in semantic_hits)
    bench = BenchmarkSet.from_file("gsm8k", gsm8k_subset["path"], "question")
    assert embedded_without_computing(bench)  # benchmark embeddings cached on disk (or shipped)


@needs_embedder
def test_semantic_threshold_and_cache_reuse(tmp_path, gsm8k_subset):
    from synthpipe.curate.decontam import semantic
    from synthpipe.embeddings import get_embedder
    from synthpipe.embeddings.cache import EMBEDDING_CACHE

    bench = BenchmarkSet.from_file("gsm8k", gsm8k_subset["path"], "question")
    embedder = get_embedder()
    index = semantic.SemanticIndex.build([bench], embedder)
    assert embedded_without_computing(bench)
    EMBEDDING_CACHE.clear()
    computed = EMBEDDING_CACHE.computed
    again = semantic.SemanticIndex.build([bench], embedder)  # from disk (or shipped)
    assert (again.matrix == index.matrix).all() and EMBEDDING_CACHE.computed == computed
    text = GSM8K_REPHRASED["gsm8k-test-3"]
    strict = semantic.find_hits(index, embedder, [{"text": text}], threshold=0.99)
    loose = semantic.find_hits(index, embedder, [{"text": text}], threshold=0.8)
    assert strict == [[]] and loose[0][0].item_id == "gsm8k-test-3"
    assert semantic.mask_numbers("Pay $1,200.50 or 60% in twelve days") == "Pay N or N in N days"


@needs_embedder
@pytest.mark.slow
def test_semantic_against_the_whole_bundled_gsm8k(tmp_path):
    kept, dropped = run_step(tmp_path, [{"id": k, "text": v} for k, v in GSM8K_REPHRASED.items()],
                             benchmarks=["gsm8k"], semantic=True, ngram=None, semantic_threshold=0.85)  # fmt: skip
    caught = {r["id"] for r in dropped if r["id"] in {h["item_id"] for h in hits_of(r)}}
    assert len(caught) >= 13

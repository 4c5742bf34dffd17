"""Decontamination precision: answer-only n-gram matches, calibrated semantic thresholds, the
LLM judge of nearest pairs, and the summary that says what each detector caught and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthpipe import Pipeline
from synthpipe.curate.decontam import ngram
from synthpipe.curate.decontam.judge import Pair, RephraseJudge, parse_verdict
from synthpipe.curate.decontam.ngram import AnswerRule
from synthpipe.curate.decontam.registry import get_benchmark, load_benchmark, resolve_benchmarks
from synthpipe.curate.decontam.semantic import Thresholds, numbers_of, thresholds_for
from synthpipe.curate.decontam.step import Decontaminate
from synthpipe.embeddings import store
from synthpipe.llm.config import LLMConfig
from synthpipe.pipeline.sources import FromRecords

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from embedder import needs_embedder  # noqa: E402  (tests/support)
from llm_server import ScriptedOpenAIServer, last_user_content  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
REPHRASED = [json.loads(line) for line in (Path(__file__).parent / "data" / "gsm8k_rephrased.jsonl").open()]

# GSM8K train item 637 and its worked solution: formulaic arithmetic that, digits masked, shares
# a 13-gram with the solution of test item 532 ("Jame will turn 27 in 5 years ..."), a different
# problem. It is the example of an answer-only false positive.
JACOB = {
    "question": "Jacob is 24 years now. His brother Tony is half Jacob's age. In 6 years how old will tony be?",
    "answer": "Tony’s age now is 24 / 2 = <<24/2=12>>12 years old.\nIn 6 years he will be 12 + 6 = "
    "<<12+6=18>>18 years old.\n#### 18",
}
# GSM8K train item 701 and test item 781: different problems that embed at 0.858 (the issue's
# semantic false positive).
KIM_PIZZAS = "Kim buys 3 pizzas.  They are 12 slices each.  The pizza cost $72.  How much did 5 slices cost?"


def run_step(tmp_path, records, llms=None, **config):
    step = Decontaminate(**config)
    settings = {"llms": llms, "llm_cache": str(tmp_path / "cache.sqlite")} if llms else {}
    result = Pipeline("t", {"src": FromRecords(records=records), "decontaminate": step}, **settings).run(tmp_path / "run")
    return result, step


def hits_of(record: dict) -> list[dict]:
    return record["_drop"]["detail"]


# -- answer-only n-gram matches ------------------------------------------------------------------
@pytest.fixture(scope="module")
def index():
    return ngram.get_index(resolve_benchmarks("all"), mask_numbers=True)


def test_a_formulaic_answer_match_alone_is_set_aside(index):
    anything = AnswerRule(min_words=0, min_share=0.0)
    [before] = ngram.find_matches(index, [JACOB], 1, anything)
    assert "gsm8k-test-532" in {h.item_id for h in before.hits}  # the old drop
    assert {h.part for h in before.hits} == {"answer"}
    [after] = ngram.find_matches(index, [JACOB])
    assert after.hits == [] and len(after.set_aside) == len(before.hits)
    hit = next(h for h in after.set_aside if h.item_id == "gsm8k-test-532")
    assert hit.words < AnswerRule().min_words and hit.fraction < AnswerRule().min_share
    assert "years old in 6 years he will be" in hit.span


def test_a_copied_solution_still_counts_with_its_evidence(index):
    gsm = load_benchmark("gsm8k")[532]
    code = load_benchmark("humaneval")[12]
    found = ngram.find_hits(index, [{"response": gsm["answer"]}, {"response": code["answer"]}])
    assert [h.item_id for h in found[0]] == ["gsm8k-test-532"] and found[0][0].part == "answer"
    assert found[1][0].item_id == "HumanEval/12"
    detail = found[0][0].as_dict()
    assert detail["detector"] == "ngram_answer" and detail["share"] == 1.0 and detail["words"] >= 10


def test_an_answer_match_with_the_question_is_a_question_hit(index):
    item = load_benchmark("gsm8k")[532]
    [hits] = ngram.find_hits(index, [{"question": item["question"], "answer": item["answer"]}])
    assert [(h.item_id, h.detector) for h in hits] == [("gsm8k-test-532", "ngram")]


def test_an_answer_match_counts_when_the_question_overlaps_by_a_shorter_window():
    """MBPP train task 556 (pairs with xor odd) is a variant of test task 166 (xor even): its code
    matches the test solution partly, its question shares an 8-word window no other question has."""
    index = ngram.NgramIndex.build([get_benchmark("mbpp-test")], mask_numbers=True)
    variant = next(r for r in load_benchmark("mbpp") if r["id"] == "mbpp-556")
    [both] = ngram.find_hits(index, [{"question": variant["question"], "answer": variant["answer"]}])
    hit = next(h for h in both if h.item_id == "mbpp-166")
    assert hit.part == "answer" and hit.question_span == "write a python function to count the pairs"
    assert hit.as_dict()["question_span"] == hit.question_span
    [alone] = ngram.find_matches(index, [{"answer": variant["answer"]}])
    assert "mbpp-166" in {h.item_id for h in alone.set_aside}
    # a template window shared by several questions is no evidence
    assert ("write", "a", "python", "function", "to", "check", "whether", "the") in index.common_windows


def test_long_and_specific_means_enough_words_or_share():
    rule = AnswerRule(min_words=15, min_share=0.6)
    hit = ngram.NgramHit("b", "i", "text", "span", count=1, fraction=0.1, part="answer", words=14)
    assert not rule.accepts(hit)
    assert rule.accepts(ngram.NgramHit("b", "i", "text", "span", 1, 0.1, "answer", words=15))
    assert rule.accepts(ngram.NgramHit("b", "i", "text", "span", 1, 0.6, "answer", words=3))


@pytest.mark.skipif(not (SHARED / "gsm8k").exists(), reason="needs ../shared/data")
def test_gsm8k_train_against_test_drops_only_question_overlaps(index):
    """Issue case: 76 drops, 68 on an answer alone, before; after, the answer-only drops are gone
    but for at most the one the held-out half showed (calibrate_decontaminate.py)."""
    train = [json.loads(line) for line in (SHARED / "gsm8k" / "train.jsonl").open()]
    records = [{"question": r["question"], "answer": r["answer"]} for r in train]
    before = ngram.find_matches(index, records, 1, AnswerRule(min_words=0, min_share=0.0))
    after = ngram.find_matches(index, records)

    def answer_only(found):
        return sum(bool(m.hits) and all(h.part == "answer" for h in m.hits) for m in found)

    assert sum(bool(m.hits) for m in before) == 76 and answer_only(before) == 68
    assert sum(bool(m.hits) for m in after) <= 10 and answer_only(after) <= 1
    assert sum(bool(m.set_aside) and not m.hits for m in after) >= 60


# -- the summary -------------------------------------------------------------------------------
def test_the_summary_counts_each_detector_and_says_why(tmp_path):
    gsm = load_benchmark("gsm8k")[42]
    code = load_benchmark("humaneval")[12]
    records = [
        {"id": "question", "text": "Q: " + gsm["question"]},
        {"id": "jacob", "text": JACOB["question"] + "\n" + JACOB["answer"]},
        {"id": "solution", "text": "Here you go:\n" + code["answer"]},
        {"id": "clean", "text": "Nothing to see here, just a sentence about the weather."},
    ]
    result, step = run_step(tmp_path, records, benchmarks=["gsm8k", "humaneval"])
    assert sorted(r["id"] for r in result.kept) == ["clean", "jacob"]
    detectors = {r["id"]: {h["detector"] for h in hits_of(r)} for r in result.dropped}
    assert detectors == {"question": {"ngram"}, "solution": {"ngram_answer"}}
    summary = json.loads((tmp_path / "run" / "decontaminate_summary.json").read_text())
    assert summary == step.last_summary
    assert summary["records"] == 4 and summary["contaminated"] == 2 and summary["action"] == "drop"
    assert summary["by_detector"] == {"ngram": 1, "ngram_answer": 1}
    assert summary["by_benchmark"] == {"gsm8k": 1, "humaneval": 1}
    assert summary["spared_answer_only"] == 1
    assert set(summary["why"]) == {"ngram", "ngram_answer"} and "15 distinct words" in summary["why"]["ngram_answer"]


def test_the_cli_prints_the_detector_counts(tmp_path):
    gsm = load_benchmark("gsm8k")[7]
    rows = [{"id": "a", "text": gsm["question"]}, {"id": "b", "text": JACOB["question"] + " " + JACOB["answer"]}]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = subprocess.run([sys.executable, "-m", "synthpipe.cli", "decontaminate", str(data), "--out",
                           str(tmp_path / "out"), "--benchmarks", "gsm8k"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "contaminated 1 of 2 (ngram 1, ngram_answer 0); 1 kept" in " ".join(done.stdout.split())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["decontaminate_summary"]["spared_answer_only"] == 1


def test_config_of_the_new_options():
    with pytest.raises(ValueError, match="semantic: true"):
        Decontaminate(llm_judge="judge")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        Decontaminate(semantic=True, semantic_threshold={"gsm8k": 1.5})
    step = Decontaminate(benchmarks=["gsm8k", "trec"], semantic=True, semantic_threshold={"trec": 0.9})
    assert step.thresholds() == {"gsm8k": thresholds_for("gsm8k"), "trec": Thresholds(0.9, None)}
    assert thresholds_for("gsm8k") == Thresholds(0.89, 0.75) and thresholds_for("mmlu") == Thresholds(0.85, None)
    judged = Decontaminate(semantic=True, llm_judge="judge", judge_top_k=2)
    assert judged.uses_llm and judged.llm_names() == ["judge"] and judged.estimate_requests(10) == 20
    assert not Decontaminate().uses_llm and Decontaminate().estimate_requests(10) == 0


def test_numbers_and_the_same_numbers_rule():
    assert numbers_of("Kim buys 3 pizzas. They are 12 slices each. The pizza cost $72.") == {3.0, 12.0, 72.0}
    assert numbers_of("twice a dozen, half of $1,200.50") == {2.0, 12.0, 0.5, 1200.5}
    rule = Thresholds(similarity=0.89, same_numbers=0.75)
    assert rule.accepts(0.9, 0) and not rule.accepts(0.8, 0) and not rule.accepts(0.8, 1)
    assert rule.accepts(0.8, 2) and not rule.accepts(0.7, 3)
    assert not Thresholds(0.85).accepts(0.84, 5) and rule.floor == 0.75


# -- the LLM judge, offline parts ----------------------------------------------------------------
def test_the_judge_prompt_and_verdicts(tmp_path):
    judge = RephraseJudge()
    messages = judge.messages(Pair("gsm8k", "Question A?", "Text B."))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "gsm8k" in messages[1]["content"] and "Question A?" in messages[1]["content"]
    assert "Text B." in messages[1]["content"] and "yes or no" in messages[1]["content"]
    assert parse_verdict("Yes.").rephrase is True and parse_verdict("no - different").rephrase is False
    assert parse_verdict("**True**").rephrase is True and parse_verdict("Maybe").error
    own = tmp_path / "judge.jinja2"
    own.write_text("Same problem? {{ question }} / {{ text }}")
    assert RephraseJudge(own).messages(Pair("b", "q", "t")) == [{"role": "user", "content": "Same problem? q / t"}]


# -- semantic thresholds and the judge, with the embedder -----------------------------------------


@pytest.fixture(scope="module")
def gsm8k_head(tmp_path_factory) -> dict:
    """GSM8K test items 0-99 and 781 as a user benchmark called gsm8k (so its calibrated
    thresholds apply; fast to embed), with a private embedding cache."""
    root = tmp_path_factory.mktemp("calibrated")
    items = load_benchmark("gsm8k")
    path = root / "gsm8k_head.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in items[:100] + [items[781]]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "cache_dir", lambda: root / "cache")
        yield {"name": "gsm8k", "path": str(path), "question_field": "question", "answer_field": "answer"}


@needs_embedder
def test_calibrated_thresholds_find_held_out_rephrasings_and_clear_the_pizzas(tmp_path, gsm8k_head):
    held = [r for r in REPHRASED if r["split"] == "held_out"]
    records = [{"id": r["item_id"], "text": r["text"]} for r in held] + [{"id": "kim", "text": KIM_PIZZAS}]
    result, step = run_step(tmp_path / "calibrated", [dict(r) for r in records], benchmarks=[],
                            extra_benchmarks=[gsm8k_head], semantic=True, ngram=None)  # fmt: skip
    caught = {r["id"] for r in result.dropped if r["id"] in {h["item_id"] for h in hits_of(r)}}
    assert len(caught) / len(held) >= 0.80, sorted({r["item_id"] for r in held} - caught)  # measured 0.875
    assert "kim" in {r["id"] for r in result.kept}
    by_numbers = [h for r in result.dropped for h in hits_of(r) if "same_numbers" in h]
    assert by_numbers and all(0.75 <= h["similarity"] < 0.89 and h["same_numbers"] >= 2 for h in by_numbers)
    assert step.last_summary["by_detector"]["semantic"] == len(result.dropped)
    assert "gsm8k 0.89 (same numbers 0.75)" in step.last_summary["why"]["semantic"]
    # the old operating point flags the pizzas
    before, _ = run_step(tmp_path / "before", [{"id": "kim", "text": KIM_PIZZAS}], benchmarks=[],
                         extra_benchmarks=[gsm8k_head], semantic=True, ngram=None, semantic_threshold=0.85,
                         semantic_same_numbers=1.0)  # fmt: skip
    [kim] = before.dropped
    assert hits_of(kim)[0]["item_id"] == "gsm8k-test-781" and 0.85 <= hits_of(kim)[0]["similarity"] < 0.89


@needs_embedder
@pytest.mark.slow
def test_calibrated_defaults_against_the_whole_bundled_gsm8k(tmp_path):
    held = [r for r in REPHRASED if r["split"] == "held_out"]
    records = [{"id": r["item_id"], "text": r["text"]} for r in held] + [{"id": "kim", "text": KIM_PIZZAS}]
    result, _ = run_step(tmp_path, records, benchmarks=["gsm8k"], semantic=True, ngram=None)
    caught = {r["id"] for r in result.dropped if r["id"] in {h["item_id"] for h in hits_of(r)}}
    assert len(caught) / len(held) >= 0.80  # measured 0.875 (benchmarks/README.md)
    assert "kim" in {r["id"] for r in result.kept}


def judge_replies(body: dict) -> str:
    """A scripted judge: test item 21 (the cousins) is rephrased, test item 24 (the book) gets an
    unusable reply, everything else is not a rephrase."""
    prompt = last_user_content(body)
    if "Raymond and Samantha are cousins" in prompt:
        return "Yes."
    if "best-selling book for $19.50" in prompt:
        return "I am not sure."
    return "No"


@needs_embedder
def test_the_llm_judge_decides_nearest_pairs(tmp_path, gsm8k_head):
    by_item = {r["item_id"]: r["text"] for r in REPHRASED}
    records = [
        {"id": "cousins", "text": by_item["gsm8k-test-21"]},  # similarity 0.74: below every threshold
        {"id": "book", "text": by_item["gsm8k-test-24"]},  # 0.90: the judge fails, the threshold decides
        {"id": "kim", "text": KIM_PIZZAS},  # 0.858: the judge says no
        {"id": "clean", "text": "What is the capital of Mongolia?"},  # nothing near: never asked
        {"id": "copy", "text": load_benchmark("gsm8k")[3]["question"]},  # the n-gram detector: not asked
    ]
    with ScriptedOpenAIServer(responder=judge_replies) as server:
        llms = {"judge": LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)}
        result, step = run_step(tmp_path, records, llms=llms, benchmarks=[], extra_benchmarks=[gsm8k_head],
                                semantic=True, llm_judge="judge")  # fmt: skip
        asked = [last_user_content(b) for b in server.requests]
    assert len(asked) == 3 and all("Text B:" in p for p in asked)
    assert sorted(r["id"] for r in result.kept) == ["clean", "kim"]
    hits = {r["id"]: hits_of(r) for r in result.dropped}
    assert hits["cousins"] == [{"benchmark": "gsm8k", "item_id": "gsm8k-test-21", "detector": "llm_judge",
                                "field": "text", "similarity": hits["cousins"][0]["similarity"], "verdict": "Yes."}]  # fmt: skip
    assert hits["cousins"][0]["similarity"] < 0.75
    assert hits["book"][0]["detector"] == "semantic" and hits["book"][0]["judge"] == "error"
    assert hits["copy"][0]["detector"] == "ngram"
    summary = step.last_summary
    assert summary["by_detector"] == {"ngram": 1, "ngram_answer": 0, "semantic": 1, "llm_judge": 1}
    assert summary["llm_judge"] == {"endpoint": "judge", "pairs": 3, "rephrase": 1, "not_rephrase": 1, "errors": 1}
    assert "'judge' judged" in summary["why"]["llm_judge"]


@needs_embedder
def test_the_judge_endpoint_is_checked_and_fingerprinted(tmp_path):
    from synthpipe.errors import UsageError

    step = Decontaminate(benchmarks=["gsm8k"], semantic=True, llm_judge="judge")
    with pytest.raises(UsageError, match="judge"):
        Pipeline("t", {"src": FromRecords(records=[{"id": "a", "text": "x"}]), "decontaminate": step})
    a = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m1")
    b = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m2")
    assert step.fingerprint_extra({"llms": {"judge": a}}) != step.fingerprint_extra({"llms": {"judge": b}})
    assert get_benchmark("gsm8k").path in step.input_files() and step.judge().template_path in step.input_files()

"""verify_math and self_consistency run on batches, on GSM8K and on hand-made records."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import pytest

from synthpipe.data.records import DROP
from synthpipe.pipeline.step import StepContext
from synthpipe.verify import math_check
from synthpipe.verify.math_steps import SelfConsistency, VerifyMath, majority_vote

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BUNDLED_TEST = (
    Path(__file__).resolve().parents[2] / "src/synthpipe/resources/benchmarks/gsm8k/test.jsonl.gz"
)
CTX = StepContext(name="verify")


def _gsm8k_test() -> list[dict]:
    path = SHARED / "gsm8k" / "test.jsonl"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
    elif BUNDLED_TEST.exists():
        lines = gzip.decompress(BUNDLED_TEST.read_bytes()).decode("utf-8").splitlines()
    else:
        pytest.skip("GSM8K test split not found")
    rows = [json.loads(line) for line in lines if line.strip()]
    return [{"id": f"gsm8k-{i}", **row} for i, row in enumerate(rows)]


def _reasons(batch: list[dict]) -> list[str | None]:
    return [r[DROP]["reason"] if r.get(DROP) else None for r in batch]


def test_registered_names() -> None:
    assert VerifyMath.registry_name == "verify_math"
    assert SelfConsistency.registry_name == "self_consistency"
    assert VerifyMath.cpu_bound


# -- verify_math ----------------------------------------------------------------------------------
def test_verify_math_gsm8k_gold_solutions_pass() -> None:
    """The GSM8K recipe: candidate = the worked solution, gold = the solution as well."""
    rows = _gsm8k_test()
    step = VerifyMath(candidate_field="answer", gold_field="answer", gold_is_solution=True)
    out = step.process(rows, CTX)
    assert len(out) == len(rows)
    assert _reasons(out) == [None] * len(rows)
    assert all(r["verification"]["passed"] for r in out)
    assert {r["verification"]["extraction"] for r in out} == {"gsm8k"}


def test_verify_math_gsm8k_corrupted_answers_all_dropped() -> None:
    rows = _gsm8k_test()
    for row in rows:
        body, gold = row["answer"].rsplit("####", 1)
        row["final_answer"] = gold.strip()
        row["answer"] = f"{body}#### {int(gold.replace(',', '')) + 1}"
    out = VerifyMath(candidate_field="answer").process(rows, CTX)
    assert _reasons(out) == ["wrong_answer"] * len(rows)
    assert not any(r["verification"]["passed"] for r in out)
    first = out[0]
    assert first[DROP] == {
        "step": "verify",
        "reason": "wrong_answer",
        "detail": "expected 18, got 19",
    }


def test_verify_math_outcomes_and_reasons() -> None:
    batch = [
        {"id": "ok", "candidate": "So she earns $18.00 a day.", "final_answer": "18"},
        {"id": "int-gold", "candidate": "The answer is 1,000.", "final_answer": 1000},
        {"id": "latex", "candidate": "Hence $\\boxed{\\frac{1}{2}}$.", "final_answer": "0.5"},
        {"id": "wrong", "candidate": "#### 19", "final_answer": "18"},
        {"id": "none", "candidate": "I cannot solve this.", "final_answer": "3"},
        {"id": "no-cand", "final_answer": "3"},
        {"id": "no-gold", "candidate": "#### 3"},
        {"id": "bad-type", "candidate": ["#### 3"], "final_answer": "3"},
    ]
    out = VerifyMath().process(batch, CTX)
    assert [r["id"] for r in out] == [r["id"] for r in batch]  # nothing removed
    assert _reasons(out) == [
        None, None, None, "wrong_answer", "no_answer", "missing_field", "missing_field",
        "missing_field",
    ]  # fmt: skip
    assert all("verification" in r for r in out)
    assert out[0]["verification"] == {
        "passed": True, "extracted": "18", "method": "string", "extraction": "last_number",
        "gold": "18",
    }  # fmt: skip
    assert out[2]["verification"]["method"] == "math_verify"
    assert out[4]["verification"] == {
        "passed": False, "extracted": None, "method": None, "extraction": None, "gold": None
    }  # fmt: skip
    assert out[5][DROP]["detail"] == "no field 'candidate'"
    assert out[6][DROP]["detail"] == "no field 'final_answer'"
    assert "list" in out[7][DROP]["detail"]


def test_verify_math_fallback_switch_and_gold_solution_without_answer() -> None:
    batch = [{"id": "a", "candidate": "We got 4 apples.", "final_answer": "4"}]
    assert _reasons(VerifyMath().process([dict(batch[0])], CTX)) == [None]
    strict = VerifyMath(fallback_last_number=False).process([dict(batch[0])], CTX)
    assert _reasons(strict) == ["no_answer"]
    no_gold = [{"id": "b", "candidate": "#### 4", "answer": "no numbers here"}]
    out = VerifyMath(gold_field="answer", gold_is_solution=True).process(no_gold, CTX)
    assert _reasons(out) == ["no_gold_answer"]


def test_verify_math_rel_tol_and_custom_fields() -> None:
    batch = [{"id": "a", "sol": "The answer is 3.1416", "gold": "3.14159265"}]
    out = VerifyMath(candidate_field="sol", gold_field="gold", result_field="v").process(
        [dict(batch[0])], CTX
    )
    assert _reasons(out) == ["wrong_answer"] and out[0]["v"]["method"] == "numeric"
    out = VerifyMath(candidate_field="sol", gold_field="gold", rel_tol=1e-4).process(
        [dict(batch[0])], CTX
    )
    assert _reasons(out) == [None]


def test_verify_math_in_a_thread_uses_the_process_pool(monkeypatch) -> None:
    """How the local executor runs it with one worker: in a thread, off the main thread."""
    monkeypatch.setattr(math_check, "_default", {})
    batch = [
        {"id": "a", "candidate": "\\boxed{\\frac{\\sqrt{2}}{2}}", "final_answer": "\\frac{1}{\\sqrt{2}}"},
        {"id": "b", "candidate": "#### 7", "final_answer": "7"},
    ]  # fmt: skip
    thread = threading.Thread(target=VerifyMath().process, args=(batch, CTX))
    thread.start()
    thread.join()
    try:
        assert _reasons(batch) == [None, None]
        assert batch[0]["verification"]["method"] == "math_verify"
        assert math_check._default["verifier"]._pool is not None
    finally:
        math_check._default["verifier"].close()


# -- self_consistency -----------------------------------------------------------------------------
def test_majority_vote_groups_equal_numbers_and_breaks_ties_by_first_seen() -> None:
    assert majority_vote(["18", "18.00", "$18", "20", "20"]) == ("18", {"18": 3, "20": 2})
    assert majority_vote(["7", "8", "8", "7"]) == ("7", {"7": 2, "8": 2})
    assert majority_vote(["x+1", "x + 1", None]) == ("x+1", {"x+1": 2})
    assert majority_vote([None, None]) == (None, {})


def test_self_consistency_votes_on_extracted_answers() -> None:
    samples = [
        "3 + 15 = 18. The answer is 18.",
        "She earns $18.00.\n#### 18.00",
        "I think it is \\boxed{20}.",
        "So \\boxed{\\$18}",
        "I am not sure.",
    ]
    batch = [{"id": "q1", "samples": samples}]
    out = SelfConsistency().process(batch, CTX)
    record = out[0]
    assert record["final_answer"] == "18"
    assert record["votes"] == {"18": 3, "20": 1}
    assert record["agreement"] == pytest.approx(3 / 5)  # the sample with no answer counts
    assert DROP not in record


def test_self_consistency_drops() -> None:
    batch = [
        {"id": "split", "samples": ["#### 1", "#### 2", "#### 3", "#### 1"]},
        {"id": "sure", "samples": ["#### 5", "#### 5", "#### 5", "#### 6"]},
        {"id": "silent", "samples": ["no idea", "none"]},
        {"id": "empty", "samples": []},
        {"id": "missing"},
        {"id": "text", "samples": "#### 5"},
    ]
    out = SelfConsistency(min_agreement=0.6, fallback_last_number=False).process(batch, CTX)
    assert _reasons(out) == [
        "low_agreement", None, "no_answer", "no_answer", "missing_field", "missing_field"
    ]  # fmt: skip
    assert out[0][DROP]["detail"] == "0.50 < 0.6 (2/4 for 1)"
    assert (out[1]["final_answer"], out[1]["agreement"]) == ("5", 0.75)
    assert out[2]["final_answer"] is None and out[2]["votes"] == {}


def test_self_consistency_custom_fields() -> None:
    batch = [{"id": "a", "gens": ["#### 2", "#### 2.0"]}]
    step = SelfConsistency(
        samples_field="gens", answer_field="voted", agreement_field="conf", votes_field="tally"
    )
    record = step.process(batch, CTX)[0]
    assert (record["voted"], record["conf"], record["tally"]) == ("2", 1.0, {"2": 2})

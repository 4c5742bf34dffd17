"""Rejection sampling (STaR / RFT): k candidates per problem, the verifier decides which stay."""

from __future__ import annotations

import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.errors import UsageError
from synthpipe.generate.rejection_sampling import RejectionSampling

PROBLEMS = [
    {"id": "p1", "question": "Tom has 3 apples and buys 4 more. How many apples?", "final_answer": "7"},
    {"id": "p2", "question": "A box holds 6 pens. How many pens are in 5 boxes?", "final_answer": "30"},
    {"id": "p3", "question": "Sara reads 10 pages a day. How many pages in a week?", "final_answer": "70"},
]
GOLD = {p["question"]: int(p["final_answer"]) for p in PROBLEMS}


def responder(body: dict) -> list[str]:
    """Right for even seeds, off by one for odd; always wrong for Sara (p3)."""
    question = last_user_content(body)
    gold = GOLD[question]
    right = body["seed"] % 2 == 0 and "Sara" not in question
    answer = gold if right else gold + 1
    return [f"Let me think. The total is {answer}.\n#### {answer}"]


@pytest.mark.parametrize("keep", ["first", "all"])
def test_keeps_verified_candidates_and_records_the_pass_rate(run_steps, keep) -> None:
    step = RejectionSampling(k=6, keep=keep, verifier={"step": "verify_math"})
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"solve": step}, PROBLEMS)
        assert len(server.requests) == 18  # k requests per problem, distinct seeds
        assert len({r["seed"] for r in server.requests}) == 18
    kept = result.kept
    assert {r["id"].split("~")[0] for r in kept} == {"p1", "p2"}
    for r in kept:
        assert r["candidate"].endswith(f"#### {r['final_answer']}")
        stats = r["rejection_sampling"]
        assert stats["tried"] == 6 and stats["passed"] == round(stats["pass_rate"] * 6)
        assert set(stats["reasons"]) <= {"wrong_answer"}
    per_problem = {p: sum(r["id"].split("~")[0] == p for r in kept) for p in ("p1", "p2")}
    if keep == "first":
        assert per_problem == {"p1": 1, "p2": 1}
    else:  # one record per verified candidate
        assert per_problem == {p: next(r for r in kept if r["id"] == p)["rejection_sampling"]["passed"]
                               for p in per_problem}  # fmt: skip
    (dropped,) = result.dropped
    assert dropped["id"] == "p3" and dropped["_drop"]["reason"] == "no_verified_candidate"
    assert dropped["_drop"]["detail"] == "wrong_answer x6"
    assert dropped["rejection_sampling"]["pass_rate"] == 0


def test_distinct_keeps_one_per_distinct_solution(run_steps) -> None:
    step = RejectionSampling(k=8, keep="distinct", verifier={"step": "verify_math"})
    with ScriptedOpenAIServer(responder=responder) as server:
        kept = run_steps(server, {"solve": step}, PROBLEMS[:1]).kept
    assert kept[0]["rejection_sampling"]["passed"] > 1
    assert len(kept) == 1  # every right answer is the same text


def test_verifier_config_errors_are_named() -> None:
    with pytest.raises(UsageError, match="unknown step 'verify_maths'"):
        RejectionSampling(verifier={"step": "verify_maths"})
    with pytest.raises(UsageError, match="rejection_sampling.verifier"):
        RejectionSampling(verifier={"step": "verify_math", "no_such_key": 1})
    with pytest.raises(UsageError, match="global step"):
        RejectionSampling(verifier={"step": "exact_dedup"})


def test_code_candidates_are_run_against_the_tests_in_the_sandbox(run_steps) -> None:
    task = {"id": "t1", "question": "Write a function add(a, b) that returns the sum.",
            "test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]}  # fmt: skip

    def programs(body: dict) -> list[str]:
        good = body["seed"] % 2 == 0
        code = "def add(a, b):\n    return a + b" if good else "def add(a, b):\n    return a * b"
        return [f"Here you go:\n```python\n{code}\n```"]

    step = RejectionSampling(k=4, kind="code", candidate_field="code",
                             verifier={"step": "verify_code", "layout": "mbpp", "timeout_s": 5})  # fmt: skip
    with ScriptedOpenAIServer(responder=programs) as server:
        result = run_steps(server, {"solve": step}, [task])
        prompt = server.requests[0]["messages"][-1]["content"]
    assert "assert add(1, 2) == 3" in prompt  # the bundled code prompt shows a test
    (kept,) = result.kept  # deterministic seeds: some candidates right, some wrong
    stats = kept["rejection_sampling"]
    assert stats["tried"] == 4 and 0 < stats["passed"] < 4
    assert stats["reasons"] == {"failed_test": 4 - stats["passed"]}
    assert kept["code"] == "def add(a, b):\n    return a + b"

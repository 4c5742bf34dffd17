"""LLM-as-a-judge: pointwise rubric scores, pairwise verdicts in both orders, win rate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydantic
import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.generate.llm_judge import (
    DEFAULT_RUBRIC,
    PairwiseJudge,
    PairwiseVerdict,
    PointwiseJudge,
    judgement_model,
    win_rate,
)
from synthpipe.generate.task import ParseError
from synthpipe.llm.structured import StructuredOutput

RECORD = {
    "id": "r1",
    "instruction": "Rewrite the sentence more concisely.",
    "input": "In my personal opinion, I think that it is very good.",
    "response": "I think it is very good.",
    "reference": "I think it's very good.",
}


def judgement(scores: dict[str, int], overall: float = 7) -> dict:
    return {
        "criteria": {k: {"rationale": f"{k} is fine", "score": v} for k, v in scores.items()},
        "overall_rationale": "solid",
        "overall_score": overall,
    }


# -- prompt formatting ----------------------------------------------------------------------
def test_pointwise_prompt_shows_request_input_response_and_rubric() -> None:
    messages = PointwiseJudge().format_input(RECORD)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    for text in (RECORD["instruction"], RECORD["input"], RECORD["response"], "from 1 (very poor) to 10"):
        assert text in user
    assert all(f"- {name}: {desc}" in user for name, desc in DEFAULT_RUBRIC.items())
    assert "Reference answer" not in user  # reference-free unless reference_field is set


def test_pointwise_prompt_custom_rubric_fields_and_reference() -> None:
    judge = PointwiseJudge(
        rubric={"faithfulness": "Keeps the meaning."},
        scale=5,
        instruction_field="q",
        response_field="a",
        input_field=None,
        reference_field="gold",
    )
    user = judge.format_input({"q": "Shorten it.", "a": "Short.", "gold": "Brief.", "input": "ignored"})[1]["content"]
    assert "- faithfulness: Keeps the meaning." in user and "helpfulness" not in user
    assert "[Reference answer]\nBrief." in user and "from 1 (very poor) to 5" in user
    assert "ignored" not in user
    assert judge.inputs == ("q", "a")


def test_pairwise_prompt_swaps_the_order() -> None:
    judge = PairwiseJudge(response_a_field="response", response_b_field="reference")
    straight = judge.format_input(RECORD)[1]["content"]
    swapped = judge.format_input(RECORD, swapped=True)[1]["content"]
    assert f"[Response A]\n{RECORD['response']}" in straight and f"[Response B]\n{RECORD['reference']}" in straight
    assert f"[Response A]\n{RECORD['reference']}" in swapped and f"[Response B]\n{RECORD['response']}" in swapped
    assert "position bias" in straight


# -- output parsing --------------------------------------------------------------------------
def test_pointwise_output_fields_and_mean_overall() -> None:
    scores = {"helpfulness": 8, "correctness": 9, "harmlessness": 10, "clarity": 7}
    out = PointwiseJudge().format_output(judgement(scores, 8.5), RECORD)
    assert out["judge_scores"] == scores and out["judge_score"] == 8.5
    assert out["judge_rationale"].splitlines()[0] == "helpfulness (8): helpfulness is fine"
    assert "overall (8.5): solid" in out["judge_rationale"]
    assert PointwiseJudge(overall="mean").format_output(judgement(scores), RECORD)["judge_score"] == 8.5


def test_messy_judge_replies_parse() -> None:
    output = StructuredOutput(judgement_model(tuple(DEFAULT_RUBRIC), 10))
    messy = """Here is my evaluation:
```json
{"Helpfulness": {"rationale": "ok", "score": "8/10"},
 "correctness": {"rationale": "ok", "score": 9.0},
 "Harmlessness": {"rationale": "ok", "score": " 10 "},
 "clarity": {"rationale": "ok", "score": "Score: 7"},
 "overall": {"score": "7.5", "rationale": "good"}}
```"""
    value, error = output.parse(messy)
    assert error is None
    assert {k: v["score"] for k, v in value["criteria"].items()} == {
        "helpfulness": 8, "correctness": 9, "harmlessness": 10, "clarity": 7,
    }  # fmt: skip
    assert value["overall_score"] == 7.5 and value["overall_rationale"] == "good"
    as_list = {
        "criteria": [{"criterion": "Clarity", "rationale": "ok", "score": 6}],
        "overall_rationale": "fine",
        "overall_score": 6,
    }
    value, error = StructuredOutput(judgement_model(("clarity",), 10)).parse(json.dumps(as_list))
    assert error is None and value["criteria"] == {"clarity": {"rationale": "ok", "score": 6}}


def test_bad_judge_replies_are_errors() -> None:
    output = StructuredOutput(judgement_model(tuple(DEFAULT_RUBRIC), 10))
    assert output.parse("The response is great, 9/10.")[1] == "the reply contains no valid JSON"
    missing = json.dumps(judgement({"helpfulness": 8}))
    assert "correctness" in output.parse(missing)[1]
    out_of_range = json.dumps(judgement({k: 11 for k in DEFAULT_RUBRIC}))
    assert "less than or equal to 10" in output.parse(out_of_range)[1]
    with pytest.raises(ParseError):
        PointwiseJudge().format_output("not a dict", RECORD)


def test_schema_has_numeric_bounds() -> None:
    schema = judgement_model(("clarity",), 5).model_json_schema()
    score = schema["$defs"]["CriterionScore"]["properties"]["score"]
    assert (score["minimum"], score["maximum"], score["type"]) == (1, 5, "integer")


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [("A", "A"), ("[[B]]", "B"), ("Assistant A", "A"), ("response_b", "B"), ("C", "tie"), ("Tie", "tie")],
)
def test_pairwise_verdicts_normalise(raw: str, verdict: str) -> None:
    assert PairwiseVerdict.model_validate({"rationale": "x", "verdict": raw}).verdict == verdict


def test_pairwise_verdict_aliases_and_errors() -> None:
    assert PairwiseVerdict.model_validate({"explanation": "x", "winner": "b"}).verdict == "B"
    with pytest.raises(pydantic.ValidationError):
        PairwiseVerdict.model_validate({"rationale": "x", "verdict": "both are bad, maybe A"})


def test_pairwise_consistency_mapping() -> None:
    judge = PairwiseJudge()
    a, b, tie = ({"rationale": "r", "verdict": v} for v in ("A", "B", "tie"))
    assert judge.format_output([a, b], RECORD)["winner"] == "a"  # a first, then a second
    assert judge.format_output([b, a], RECORD)["winner"] == "b"
    flip = judge.format_output([a, a], RECORD)  # "first position wins" both times: position bias
    assert flip == {**flip, "winner": "tie", "judge_consistent": False, "judge_verdicts": ["a", "b"]}
    assert judge.format_output([tie, tie], RECORD)["judge_consistent"] is True


def test_win_rate_counts_ties_as_half() -> None:
    records = [
        {"winner": "a", "judge_consistent": True},
        {"winner": "a", "judge_consistent": True},
        {"winner": "b", "judge_consistent": True},
        {"winner": "tie", "judge_consistent": False},
        {"winner": "a", "_drop": {"reason": "inconsistent_judgement"}},
        {"id": "unjudged"},
    ]
    stats = win_rate(records)
    assert (stats["wins"], stats["losses"], stats["ties"], stats["skipped"]) == (2, 1, 1, 2)
    assert stats["win_rate"] == 0.625 and stats["consistency"] == 0.75
    assert win_rate(records, side="b")["win_rate"] == 0.375
    assert win_rate([])["win_rate"] is None


def test_config_validation() -> None:
    with pytest.raises(pydantic.ValidationError):
        PointwiseJudge(rubric={"Not An Identifier": "x"})
    with pytest.raises(pydantic.ValidationError):
        PointwiseJudge(rubric={})
    with pytest.raises(pydantic.ValidationError):
        PairwiseJudge(inconsistent="coin_flip")


# -- end to end --------------------------------------------------------------------------------
def judge_responder(body: dict) -> str:
    text = next(m["content"] for m in body["messages"] if m["role"] == "user")  # not the retry's
    if "[Response A]" in text:  # pairwise: prefer the response with "good"; "meh" pairs: always A
        first = re.search(r"\[Response A\]\n(.*?)\n\[End of response A\]", text, re.S).group(1)
        verdict = "A" if "meh" in text or "good" in first else "B"
        return json.dumps({"rationale": f"picked {verdict}", "verdict": verdict})
    response = re.search(r"\[Response\]\n(.*?)\n\[End of response\]", text, re.S).group(1)
    if "garbage" in response:
        return "I cannot decide."
    score = 8 if "good" in response else 2
    return json.dumps(judgement(dict.fromkeys(DEFAULT_RUBRIC, score), score))


def test_end_to_end_pointwise_then_pairwise(run_steps) -> None:
    records = [
        {"id": "good", "instruction": "Q1", "response": "a good answer", "other": "a poor answer"},
        {"id": "poor", "instruction": "Q2", "response": "a poor answer", "other": "a good answer"},
        {"id": "meh", "instruction": "Q3", "response": "a good meh answer", "other": "meh"},
        {"id": "junk", "instruction": "Q4", "response": "garbage", "other": "x"},
        {"id": "empty", "instruction": "Q5", "response": "", "other": "x"},
    ]
    score = PointwiseJudge(min_score=5)
    compare = PairwiseJudge(response_a_field="response", response_b_field="other")
    with ScriptedOpenAIServer(responder=judge_responder) as server:
        result = run_steps(server, {"score": score, "compare": compare}, records, batch_size=4)
        by_id = {r["id"]: r for r in result.kept}
        assert set(by_id) == {"good", "meh"}
        good = by_id["good"]
        assert good["judge_score"] == 8.0 and good["judge_scores"] == dict.fromkeys(DEFAULT_RUBRIC, 8)
        assert good["winner"] == "a" and good["judge_consistent"] is True
        assert good["judge_rationales"] == ["picked A", "picked B"]
        assert by_id["meh"]["winner"] == "tie" and by_id["meh"]["judge_consistent"] is False
        assert good["_lineage"]["score"]["template"] == score.template_hash
        assert good["_lineage"]["compare"]["template"] == compare.template_hash
        drops = {r["id"]: r["_drop"] for r in result.dropped}
        assert drops["poor"]["reason"] == "low_judge_score" and drops["poor"]["detail"] == "2 < 5"
        assert drops["junk"]["reason"] == "parse_error" and "I cannot decide." in drops["junk"]["detail"]
        assert drops["empty"]["reason"] == "missing_input"
        pairwise = [r for r in server.requests if "[Response A]" in last_user_content(r)]
        assert len(pairwise) == 4  # two records, both orders
        assert all(r["temperature"] == 0 for r in server.requests)
        assert win_rate(result.kept)["win_rate"] == 0.75


def test_end_to_end_inconsistent_drop(run_steps) -> None:
    records = [{"id": "meh", "instruction": "Q", "response_a": "meh one", "response_b": "meh two"}]
    with ScriptedOpenAIServer(responder=judge_responder) as server:
        result = run_steps(server, {"compare": PairwiseJudge(inconsistent="drop")}, records, batch_size=4)
    [record] = result.dropped
    assert record["_drop"]["reason"] == "inconsistent_judgement"
    assert record["judge_verdicts"] == ["a", "b"] and record["winner"] == "tie"


def test_bundled_recipe_runs_on_bundled_data(tmp_path: Path, recipe_pipeline, estimated_requests) -> None:
    with ScriptedOpenAIServer(responder=judge_responder) as server:
        pipe = recipe_pipeline("judge.yaml", server, "steps.read.limit=3")
        assert estimated_requests(pipe, server) == [3, 6]
        result = pipe.run(tmp_path / "run")
    assert [r["id"] for r in result.kept] == [f"user_oriented_task_{i}" for i in range(3)]
    first = result.kept[0]
    assert first["text"] == first["response"] and first["reference"]
    assert first["judge_score"] == 2.0 and first["winner"] in ("a", "b", "tie")

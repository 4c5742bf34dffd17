"""UltraFeedback preference pairs: candidates from several endpoints, 4-aspect ratings, pairing."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pydantic
import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe.errors import UsageError
from synthpipe.generate.ultrafeedback import ASPECTS, UltraFeedback
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.structured import StructuredOutput


def ratings(value: int) -> dict:
    return {a: {"rationale": f"{a} ok", "rating": value} for a in ASPECTS}


def candidate(text: str, score: float | None) -> dict:
    return {"text": text, "score": score}


# -- prompt formatting -----------------------------------------------------------------------
def test_candidate_prompt_has_principle_system_prompt() -> None:
    step = UltraFeedback()
    prompt = step.prompt_text({"instruction": " Translate to French. ", "input": "Good morning"})
    assert prompt == "Translate to French.\n\nGood morning"
    honest = step.candidate_messages(prompt, "honesty")
    assert honest[0]["role"] == "system" and "do not know" in honest[0]["content"]
    assert honest[1] == {"role": "user", "content": prompt}
    assert step.candidate_messages(prompt, None) == [{"role": "user", "content": prompt}]
    assert "Confidence" in step.candidate_messages(prompt, "verbalized_calibration")[0]["content"]


def test_rating_prompt_has_the_four_aspects_and_the_response() -> None:
    user = UltraFeedback().rating_messages("Name a prime.", "Seven.")[-1]["content"]
    assert "[Instruction]\nName a prime." in user and "[Response]\nSeven." in user
    for aspect in ASPECTS:
        assert f"{aspect}:" in user
    assert "5 no hallucination" in user


def test_prompt_without_input_field() -> None:
    step = UltraFeedback(instruction_field="q", input_field=None)
    assert step.prompt_text({"q": "Hi", "input": "ignored"}) == "Hi"
    assert step.inputs == ("q",)


# -- parsing and pairing -------------------------------------------------------------------------
def test_messy_ratings_parse() -> None:
    output = StructuredOutput(UltraFeedback.output_schema)
    reply = """```json
{"ratings": {"Instruction Following": {"rationale": "ok", "score": "4/5"},
 "Honesty": {"rationale": "ok", "rating": 5.0},
 "truthfulness": {"Rationale": "ok", "Rating": "5"},
 "helpfulness": {"rationale": "ok", "rating": 3}}}
```"""
    value, error = output.parse(reply)
    assert error is None
    assert UltraFeedback.score(value) == 4.25


def test_bad_ratings_are_errors() -> None:
    output = StructuredOutput(UltraFeedback.output_schema)
    assert output.parse("4 out of 5")[1] == "the reply contains no valid JSON"
    assert "less than or equal to 5" in output.parse(json.dumps(ratings(6)))[1]
    partial = {a: v for a, v in ratings(3).items() if a != "honesty"}
    assert "honesty" in output.parse(json.dumps(partial))[1]


def test_pick_lowest_and_random_lower() -> None:
    cands = [candidate("a", 3.0), candidate("b", 4.5), candidate("c", 2.0), candidate("d", None), candidate("e", 4.5)]
    assert UltraFeedback(rejected="lowest").pick(cands, random.Random(0)) == (1, 2)
    picks = {UltraFeedback(rejected="random_lower").pick(cands, random.Random(s))[1] for s in range(30)}
    assert picks == {0, 2}  # never the unrated one or the other best one
    assert UltraFeedback().pick([candidate("a", 3.0), candidate("b", 3.0)], random.Random(0)) is None


def test_config_validation_and_fingerprint() -> None:
    with pytest.raises(pydantic.ValidationError, match="identical"):
        UltraFeedback(temperature=0)
    UltraFeedback(temperature=0, candidate_llms=["a", "b"])  # different endpoints are fine
    with pytest.raises(pydantic.ValidationError):
        UltraFeedback(num_candidates=1)
    with pytest.raises(pydantic.ValidationError):
        UltraFeedback(principles=["kindness"])
    step = UltraFeedback(candidate_llms=["a", "b"], judge_llm="j")
    env = {"llms": {n: LLMConfig(backend="openai", base_url="http://x/v1", model=f"m-{n}") for n in "abj"}}
    assert step.llm_names() == ["a", "b", "j"]  # not `llm`: no candidate or judge uses it
    extra = step.fingerprint_extra(env)
    assert extra == {"llms": {n: {"backend": "openai", "model": f"m-{n}"} for n in "abj"}}
    other = {"llms": {**env["llms"], "j": LLMConfig(backend="openai", base_url="http://x/v1", model="m-z")}}
    assert step.fingerprint("", 0, env) != step.fingerprint("", 0, other)  # a new judge reruns
    with pytest.raises(UsageError, match="judge_llm 'j' is not defined"):
        step.fingerprint("", 0, {"llms": {n: env["llms"][n] for n in "ab"}})


# -- end to end --------------------------------------------------------------------------------
def responder(body: dict) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if "[Response]" in user:  # rating
        response = re.search(r"\[Response\]\n(.*?)\n\[End of response\]", user, re.S).group(1)
        if "NOJSON" in user:
            return "Looks fine to me."
        if "TIE" in user:
            return json.dumps(ratings(3))
        return json.dumps(ratings(int(re.search(r"quality=(\d)", response).group(1))))
    if "SILENT" in user:
        return ""
    quality = 1 + body["seed"] % 5  # candidates differ by seed
    return f"{body['model']} answer to {user.splitlines()[0]} quality={quality}"


def test_end_to_end_pairs_from_two_endpoints(run_steps, scripted_llm) -> None:
    records = [
        {"id": f"q{i}", "instruction": f"Question {i}?", "input": "with context" if i == 0 else ""}
        for i in range(4)
    ] + [
        {"id": "tie", "instruction": "TIE question"},
        {"id": "silent", "instruction": "SILENT question"},
        {"id": "nojson", "instruction": "NOJSON question"},
        {"id": "blank", "instruction": ""},
    ]  # fmt: skip
    step = UltraFeedback(candidate_llms=["default", "other"], judge_llm="judge", rejected="lowest")
    with ScriptedOpenAIServer(responder=responder) as server:
        llms = {name: scripted_llm(server, model) for name, model in
                (("default", "model-a"), ("other", "model-b"), ("judge", "judge-m"))}  # fmt: skip
        result = run_steps(server, {"pairs": step}, records, llms=llms, batch_size=4)
        requests = list(server.requests)
    kept = {r["id"]: r for r in result.kept}
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert set(kept) | set(drops) == {r["id"] for r in records}
    assert drops["tie"]["reason"] == "no_preference"
    assert drops["silent"]["reason"] == "empty_candidates"
    assert drops["nojson"]["reason"] == "parse_error" and "Looks fine to me." in drops["nojson"]["detail"]
    assert drops["blank"]["reason"] == "missing_input"
    tie = next(r for r in result.dropped if r["id"] == "tie")
    assert len(tie["candidates"]) == 4 and {c["score"] for c in tie["candidates"]} == {3.0}
    assert set(kept) == {"q0", "q1", "q2", "q3"}  # candidate seeds differ, so the scores do
    for r in kept.values():
        scores = [c["score"] for c in r["candidates"]]
        assert r["chosen_score"] == max(scores) and r["rejected_score"] == min(scores) < max(scores)
        assert r["chosen"] in [c["text"] for c in r["candidates"]]
        assert [c["model"] for c in r["candidates"]] == ["model-a", "model-b", "model-a", "model-b"]
        assert all(c["principle"] in ("helpfulness", "honesty", "truthfulness") for c in r["candidates"])
        assert r["_lineage"]["pairs"]["template"] == step.template_hash
    assert kept["q0"]["prompt"] == "Question 0?\n\nwith context" and kept["q1"]["prompt"] == "Question 1?"
    ratings_reqs = [r for r in requests if "response_format" in r]
    assert ratings_reqs and {r["model"] for r in ratings_reqs} == {"judge-m"}
    assert all(r["temperature"] == 0 for r in ratings_reqs)
    candidate_reqs = [r for r in requests if "response_format" not in r]
    assert {r["model"] for r in candidate_reqs} == {"model-a", "model-b"}
    assert all(r["temperature"] == 0.8 for r in candidate_reqs)


def test_bundled_recipe_runs_on_bundled_data(tmp_path: Path, recipe_pipeline, estimated_requests) -> None:
    with ScriptedOpenAIServer(responder=responder) as server:
        pipe = recipe_pipeline("ultrafeedback.yaml", server, "steps.read.limit=3")
        assert estimated_requests(pipe, server) == [24]
        result = pipe.run(tmp_path / "run")
    records = result.kept + result.dropped
    assert len(records) == 3 and result.kept
    first = next(r for r in records if r["id"] == "user_oriented_task_0")
    assert first["prompt"].startswith("The sentence you are given might be too wordy")
    assert first["prompt"].endswith("please let me know.")  # the task's input is appended

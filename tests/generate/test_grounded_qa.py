"""Grounded QA (PAQ-style generate-then-verify): prompts, parsing, lexical checks, a real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydantic
import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.generate.grounded_qa import (
    GroundedQA,
    GroundingCheck,
    GroundingVerdict,
    QAPairs,
    answer_overlap,
    evidence_overlap,
)
from synthpipe.generate.task import ParseError, record_seed
from synthpipe.llm.structured import StructuredOutput
from synthpipe.pipeline.registry import get_step_class

DOC_A = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It was designed by the "
    "engineering company of Gustave Eiffel and is about 330 metres tall."
)
DOC_B = (
    "Honeybees communicate the location of flowers with a waggle dance. The angle of the dance "
    "shows the direction relative to the sun, and its length shows the distance."
)


def test_prompt_holds_the_passage_and_the_count() -> None:
    step = GroundedQA(document_field="text", num_questions=4)
    messages = step.format_input({"id": "a", "text": DOC_A})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert DOC_A in messages[1]["content"] and "Write 4 question-answer pairs" in messages[1]["content"]
    assert '"evidence"' in messages[1]["content"]
    assert step.inputs == ("text",)


def test_generation_output_parsing() -> None:
    step = GroundedQA(num_questions=2)
    reply = {"pairs": [
        {"question": "  When was the Eiffel Tower completed? ", "answer": "1889", "evidence": "completed in 1889"},
        {"question": "When was the Eiffel Tower completed?", "answer": "In 1889", "evidence": ""},  # repeat
        {"question": "", "answer": "x", "evidence": ""},  # empty question
        {"question": "Who designed it?", "answer": "Gustave Eiffel's company", "evidence": "designed by"},
        {"question": "How tall is it?", "answer": "330 m", "evidence": "330 metres"},  # over num_questions
    ]}  # fmt: skip
    rows = step.format_output(reply, {"id": "a", "document": DOC_A})
    assert [r["question"] for r in rows] == ["When was the Eiffel Tower completed?", "Who designed it?"]
    assert [r["qa_index"] for r in rows] == [0, 3]
    with pytest.raises(ParseError) as err:
        step.format_output({"pairs": [{"question": " ", "answer": "", "evidence": ""}]}, {"id": "a"})
    assert err.value.reason == "no_qa_pairs"


def test_schema_accepts_messy_replies() -> None:
    out = StructuredOutput(QAPairs)
    fenced = '```json\n[{"question": "Q?", "answer": 1889, "evidence": ["a", "b"]}]\n```'
    value, error = out.parse(fenced)
    assert error is None and value["pairs"][0] == {"question": "Q?", "answer": "1889", "evidence": "a ... b"}
    value, error = out.parse('Sure: {"qa_pairs": [{"question": "Q?", "answer": "A"}]}')
    assert error is None and value["pairs"][0]["evidence"] == ""
    assert out.parse("no json here")[1] is not None
    assert out.parse('{"pairs": [{"question": "Q?"}]}')[1] is not None  # answer missing


def test_verdict_rescales_scores() -> None:
    assert GroundingVerdict.model_validate({"supported": "yes", "score": 8}).score == 0.8
    assert GroundingVerdict.model_validate({"supported": True, "score": "85%"}).score == 0.85
    assert GroundingVerdict.model_validate({"supported": False, "score": -1}).score == 0.0
    with pytest.raises(pydantic.ValidationError):
        GroundingVerdict.model_validate({"supported": True, "score": "high"})


def test_lexical_checks() -> None:
    assert evidence_overlap("“It was designed by the engineering company of Gustave Eiffel”", DOC_A) == 1.0
    assert evidence_overlap("completed in 1889 ... about 330 metres tall", DOC_A) == 1.0
    assert evidence_overlap("The tower was painted red in 1920 by the city", DOC_A) == 0.0
    partial = evidence_overlap("It was designed by the engineering firm of Gustave Eiffel", DOC_A)
    assert 0.3 < partial < 0.8
    assert answer_overlap("Gustave Eiffel's firm", DOC_A) == pytest.approx(2 / 3)  # "firm" is not in it
    assert answer_overlap("Yes", DOC_A) is None


def test_check_prompt_and_score() -> None:
    step = GroundingCheck(document_field="text", llm_weight=0.5)
    record = {"id": "a", "text": DOC_A, "question": "When was it completed?", "answer": "1889", "evidence": "completed in 1889"}
    user = step.format_input(record)[-1]["content"]
    assert DOC_A in user and "Proposed answer: 1889" in user and 'Quoted evidence: "completed in 1889"' in user
    no_evidence = step.format_input({**record, "evidence": ""})[-1]["content"]
    assert "Quoted evidence" not in no_evidence
    fields = step.format_output({"supported": True, "score": 0.6, "reason": "stated"}, record)
    assert fields["grounding_score"] == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)
    assert fields["grounding_supported"] is True and fields["evidence_overlap"] == 1.0


def test_config_validation_and_registry() -> None:
    assert get_step_class("grounded_qa") is GroundedQA and get_step_class("grounding_check") is GroundingCheck
    with pytest.raises(pydantic.ValidationError):
        GroundedQA(num_questions=0)
    with pytest.raises(pydantic.ValidationError):
        GroundingCheck(threshold=1.5)


# -- end to end ----------------------------------------------------------------------------
def responder(body: dict) -> str:
    system = body["messages"][0]["content"]
    user = last_user_content(body)
    if "reading-comprehension" in system:
        if "Honeybees" in user:
            pairs = [
                {"question": "How do honeybees tell others where flowers are?", "answer": "With a waggle dance",
                 "evidence": "Honeybees communicate the location of flowers with a waggle dance."},
                {"question": "What does the length of the dance show?", "answer": "The distance to the food",
                 "evidence": "its length shows the distance"},
                {"question": "How many bees live in a hive?", "answer": "About 50,000",
                 "evidence": "A hive holds about 50,000 bees."},  # not in the passage
            ]  # fmt: skip
        else:
            pairs = [
                {"question": "When was the Eiffel Tower completed?", "answer": "1889", "evidence": "completed in 1889"},
                {"question": "Who designed the Eiffel Tower?", "answer": "Gustave Eiffel's engineering company",
                 "evidence": "It was designed by the engineering company of Gustave Eiffel"},
                {"question": "How tall is the Eiffel Tower?", "answer": "About 500 metres", "evidence": "about 330 metres tall"},
            ]  # fmt: skip
        return json.dumps({"pairs": pairs})
    answer = re.search(r"Proposed answer: (.*)", user).group(1)
    if "500" in answer:
        return json.dumps({"supported": False, "score": 0.05, "reason": "The passage says about 330 metres."})
    if "distance" in answer:
        return json.dumps({"supported": True, "score": 0.3, "reason": "Only partly stated."})
    return json.dumps({"supported": True, "score": 0.95, "reason": "Stated in the passage."})


def test_end_to_end(run_steps) -> None:
    docs = [
        {"id": "d1", "text": DOC_A, "_lineage": {"read": {"line": 1}}},  # lineage from a reader
        {"id": "d2", "text": DOC_B},
        {"id": "d3", "text": DOC_A + " "},
    ]
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"Proposed answer: 1889"})
    with ScriptedOpenAIServer(responder=responder, faults=doomed) as server:
        steps = {
            "qa": GroundedQA(document_field="text", num_questions=3),
            "check": GroundingCheck(document_field="text", threshold=0.6),
            "dedup": ExactDedup(fields=["question"]),
        }
        result = run_steps(server, steps, docs)
        requests = len(server.requests)
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"d1~1", "d2"}
    assert kept["d2"]["answer"] == "With a waggle dance" and kept["d2"]["grounding_score"] > 0.9
    assert kept["d2"]["text"] == DOC_B and kept["d2"]["evidence_overlap"] == 1.0
    lineage = kept["d1~1"]["_lineage"]
    assert lineage["qa"]["template"] == GroundedQA().template_hash
    assert lineage["check"]["template"] == GroundingCheck().template_hash
    assert lineage["qa"]["seed"] == record_seed(0, "qa", "d1")  # the pair came from d1's request
    assert lineage["check"]["seed"] == record_seed(0, "check", "d1~1")  # lineage is not shared
    assert lineage["read"] == {"line": 1}
    reasons = {r["id"]: (r["_drop"]["step"], r["_drop"]["reason"], r["_drop"]["detail"]) for r in result.dropped}
    assert reasons["d1"][:2] == ("check", "llm_error")  # the judge's request failed
    assert reasons["d1~2"][:2] == ("check", "not_grounded") and "does not support" in reasons["d1~2"][2]
    assert reasons["d2~1"][:2] == ("check", "not_grounded") and "< 0.6" in reasons["d2~1"][2]
    assert reasons["d2~2"][:2] == ("check", "not_grounded") and "evidence not found" in reasons["d2~2"][2]
    assert reasons["d3~1"] == ("dedup", "duplicate", "of d1~1")
    assert {r["id"] for r in result.kept} | set(reasons) == {f"d{i}{s}" for i in (1, 2, 3) for s in ("", "~1", "~2")}
    # the lexical check spared the judge: 3 generation requests, 9 pairs - 1 lexical failure judged
    assert requests == 3 + 8


def test_bundled_recipe_runs(tmp_path: Path, recipe_pipeline) -> None:
    def plausible(body: dict) -> str:
        user = last_user_content(body)
        if "reading-comprehension" in body["messages"][0]["content"]:
            passage = re.search(r'Passage:\n"""\n(.*?)\n"""', user, re.DOTALL).group(1)
            first = re.split(r"(?<=[.!?])\s", passage.strip())[0]
            return json.dumps({"pairs": [{"question": f"What is said about {first[:40]}?", "answer": first, "evidence": first}]})
        return json.dumps({"supported": True, "score": 0.9, "reason": "stated"})

    with ScriptedOpenAIServer(responder=plausible) as server:
        result = recipe_pipeline("grounded_qa.yaml", server, "steps.documents.limit=5").run(tmp_path / "run")
    assert len(result.kept) == 5 and all(r["grounding_score"] > 0.9 for r in result.kept)
    assert all(r["id"].startswith("oasst-") and r["source_prompt"] for r in result.kept)

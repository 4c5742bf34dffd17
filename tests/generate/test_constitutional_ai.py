"""Constitutional AI critique-and-revise: constitutions, prompts, reply cleaning, end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from llm_server import ScriptedOpenAIServer

from synthpipe.errors import UsageError
from synthpipe.generate.constitutional_ai import (
    ConstitutionalRevision,
    Principle,
    clean_critique,
    clean_revision,
    load_constitution,
)
from synthpipe.generate.task import ParseError
from synthpipe.pipeline.step import StepContext

PRINCIPLES = [
    {"name": "kind", "critique": "Is the response unkind?", "revision": "Rewrite it to be kind."},
    {"name": "brief", "critique": "Is the response too long?", "revision": "Rewrite it to be brief."},
    {"name": "true", "critique": "Is anything false?", "revision": "Rewrite it to be true."},
]


@pytest.fixture
def constitution(tmp_path: Path) -> Path:
    path = tmp_path / "constitution.json"
    path.write_text(json.dumps({"principles": PRINCIPLES}))
    return path


# -- constitutions ----------------------------------------------------------------------------
def test_bundled_example_constitution_loads() -> None:
    step = ConstitutionalRevision()
    assert len(step.principles) == 8 and len({p.name for p in step.principles}) == 8
    assert step.constitution_path().name == "constitution.example.yaml"
    assert step.constitution_path() in step.input_files()


def test_yaml_json_and_text_constitutions(tmp_path: Path) -> None:
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("- critique: Is it rude?\n  revision: Make it polite.\n")
    assert load_constitution(yaml_path) == [Principle("principle_1", "Is it rude?", "Make it polite.")]
    mapping = tmp_path / "m.yml"
    mapping.write_text("rude:\n  critique: Is it rude?\n  revision: Make it polite.\n")
    assert load_constitution(mapping)[0].name == "rude"
    text = tmp_path / "c.txt"
    text.write_text(
        "# my rules\nName: rude\nCritique: Is it rude\n  or mean?\nRevision: Make it polite.\n\n"
        "CritiqueRequest: Is it long?\nRevisionRequest: Shorten it.\n"
    )
    principles = load_constitution(text)
    assert principles[0] == Principle("rude", "Is it rude or mean?", "Make it polite.")
    assert principles[1] == Principle("principle_2", "Is it long?", "Shorten it.")


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("[]", ".json", "no principles"),
        ('[{"critique": "x"}]', ".json", "needs a non-empty `revision`"),
        ("principles: {oops", ".yaml", "cannot parse"),
        ('"just a string"', ".json", "must be a list"),
        ('[{"name": "a", "critique": "x", "revision": "y"}, {"name": "a", "critique": "x", "revision": "y"}]', ".json", "duplicate"),
    ],
)
def test_bad_constitutions_are_usage_errors(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as err:
        ConstitutionalRevision(constitution=str(path))
    assert str(path) in str(err.value)
    with pytest.raises(UsageError, match="cannot read"):
        ConstitutionalRevision(constitution=str(tmp_path / "missing.yaml"))


# -- prompts and plans ------------------------------------------------------------------------
def test_critique_and_revision_prompts(constitution: Path) -> None:
    step = ConstitutionalRevision(constitution=str(constitution))
    record = {"instruction": "Describe my neighbour.", "input": "He is tall."}
    principle = step.principles[0]
    critique = step.critique_messages(record, "He is ugly.", principle)[-1]["content"]
    assert "[User]\nDescribe my neighbour.\n\nHe is tall." in critique
    assert "[Assistant]\nHe is ugly." in critique and "Critique request: Is the response unkind?" in critique
    revision = step.revision_messages(record, "He is ugly.", principle, "It insults him.")[-1]["content"]
    assert "Critique: It insults him." in revision and "Revision request: Rewrite it to be kind." in revision
    assert step.generate_messages({"instruction": "Hi"}) == [{"role": "user", "content": "Hi"}]


def test_principle_plan_is_seeded_per_record(constitution: Path) -> None:
    step = ConstitutionalRevision(constitution=str(constitution), rounds=2, principles_per_round=2)
    ctx = StepContext(name="revise", seed=3)
    plan = step.plan(ctx, "r1")
    assert len(plan) == 4 and plan[0] != plan[1] and plan[2] != plan[3]
    assert plan == step.plan(ctx, "r1")
    plans = {tuple(p.name for p in step.plan(ctx, f"r{i}")) for i in range(20)}
    assert len(plans) > 3  # different records draw different principles
    big = ConstitutionalRevision(constitution=str(constitution), principles_per_round=10)
    assert len(big.plan(ctx, "r1")) == 3  # capped at the constitution's size


# -- reply cleaning -----------------------------------------------------------------------------
def test_reply_cleaning() -> None:
    assert clean_revision("Sure! Here is the revised response:\n\nHello there.") == "Hello there."
    assert clean_revision("**Revision:** Hello.") == "Hello."
    assert clean_revision("Revised response:\nLine one.\nLine two.") == "Line one.\nLine two."
    assert clean_revision("Answer: 42") == "Answer: 42"  # content, not a label
    assert clean_critique("Critique: it is rude.") == "it is rude."
    with pytest.raises(ParseError) as err:
        clean_revision("  Revision:  ")
    assert err.value.reason == "empty_revision"
    with pytest.raises(ParseError) as err:
        clean_critique("\n")
    assert err.value.reason == "empty_critique"


# -- end to end ---------------------------------------------------------------------------------
def responder(body: dict) -> str:
    user = body["messages"][-1]["content"]
    if "Revision request:" in user:
        if "NOREVISE" in user:
            return "Revision:"
        if "KEEP" in user:
            return re.search(r"\[Assistant\]\n(.*?)\n\[End of conversation\]", user, re.S).group(1)
        principle = re.search(r"Rewrite it to be (\w+)", user).group(1)
        current = re.search(r"\[Assistant\]\n(.*?)\n\[End of conversation\]", user, re.S).group(1)
        return f"Here is the revised response:\n{current} [{principle}]"
    if "Critique request:" in user:
        return "Critique: it could be better."
    return "A first answer."  # generation of a missing response


def test_end_to_end(run_steps, constitution: Path) -> None:
    records = [
        {"id": "given", "instruction": "Describe X.", "response": "X is bad."},
        {"id": "generated", "instruction": "Describe Y."},
        {"id": "keep", "instruction": "KEEP this", "response": "Fine as is."},
        {"id": "norevise", "instruction": "NOREVISE", "response": "Anything."},
        {"id": "blank", "instruction": "  "},
    ]
    step = ConstitutionalRevision(constitution=str(constitution), rounds=2, emit_preference=True)
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"revise": step}, records)
        n_requests = len(server.requests)
    kept = {r["id"]: r for r in result.kept}
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert set(kept) == {"given", "generated"}
    given = kept["given"]
    assert given["response"] == "X is bad." and given["rejected"] == "X is bad."
    names = given["principles_used"]
    assert len(names) == 2 and set(names) <= {"kind", "brief", "true"}
    assert given["revised_response"] == f"X is bad. [{names[0]}] [{names[1]}]" == given["chosen"]
    assert given["critiques"] == ["it could be better."] * 2
    assert given["revisions"][0] == f"X is bad. [{names[0]}]"
    assert given["prompt"] == "Describe X."
    assert given["_lineage"]["revise"]["template"] == step.template_hash
    assert given["_lineage"]["revise"]["generated_response"] is False
    generated = kept["generated"]
    assert generated["response"] == "A first answer." and generated["_lineage"]["revise"]["generated_response"]
    assert drops["keep"]["reason"] == "unchanged"
    assert drops["norevise"]["reason"] == "empty_revision"
    assert drops["blank"]["reason"] == "missing_input"
    # given: 2 x (critique + revision); generated: 1 + 4; keep: 4; norevise: critique + revision
    assert n_requests == 4 + 5 + 4 + 2


def test_missing_response_without_generation_is_dropped(run_steps, constitution: Path) -> None:
    step = ConstitutionalRevision(constitution=str(constitution), generate_response=False)
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"revise": step}, [{"id": "a", "instruction": "Q"}])
        assert not server.requests
    [record] = result.dropped
    assert record["_drop"]["reason"] == "missing_input" and "response" in record["_drop"]["detail"]


def test_bundled_recipe_runs_on_bundled_data(tmp_path: Path, recipe_pipeline, estimated_requests) -> None:
    def revise_with_example_principles(body: dict) -> str:
        user = body["messages"][-1]["content"]
        if "Revision request:" in user:
            return "A better answer."
        return "Critique: it could be better."

    with ScriptedOpenAIServer(responder=revise_with_example_principles) as server:
        pipe = recipe_pipeline("constitutional.yaml", server, "steps.read.limit=3")
        assert estimated_requests(pipe, server) == [15]
        result = pipe.run(tmp_path / "run")
    assert len(result.kept) == 3
    first = result.kept[0]
    assert first["chosen"] == "A better answer." and first["rejected"] == first["response"] != ""
    assert len(first["principles_used"]) == 2 and len(first["critiques"]) == 2

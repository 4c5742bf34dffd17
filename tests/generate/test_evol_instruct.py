"""Evol-Instruct: prompts per operation, reply cleaning, the elimination rules, and a real run."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe.generate.evol_instruct import OPERATIONS, EvolInstruct, Rejected
from synthpipe.generate.task import ParseError


# -- prompts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op, phrase",
    [
        ("add_constraints", "one more constraint"),
        ("deepening", "depth and breadth of the inquiry"),
        ("concretizing", "more specific concepts"),
        ("increase_reasoning", "multiple-step reasoning"),
        ("complicate_input", "table, a piece of code"),
        ("breadth", "rarer"),
    ],
)
def test_each_operation_has_its_prompt(op, phrase):
    step = EvolInstruct()
    messages = step.evolve_messages("Name three primes.", op)
    content = messages[-1]["content"]
    assert phrase in content
    assert content.rstrip().endswith(("#Rewritten Prompt#:", "#Created Prompt#:"))
    assert "#The Given Prompt#:\nName three primes." in content


def test_operation_choice_is_seeded_and_covers_all():
    step = EvolInstruct()
    ops = [step.operation(0, f"r{i}", 0) for i in range(200)]
    assert ops == [step.operation(0, f"r{i}", 0) for i in range(200)]
    assert set(ops) == set(OPERATIONS)
    assert ops != [step.operation(1, f"r{i}", 0) for i in range(200)]
    only = EvolInstruct(operations=["breadth"])
    assert {only.operation(0, i, g) for i in range(20) for g in range(3)} == {"breadth"}
    assert (
        "#Created Prompt#"
        in only.format_input({"id": "x", "instruction": "Hi there you"})[-1]["content"]
    )


# -- parsing and elimination rules -----------------------------------------------------------------
def test_clean_evolved_strips_labels_and_fences():
    step = EvolInstruct()
    assert (
        step.clean_evolved("#Rewritten Prompt#: Explain X in 3 steps.") == "Explain X in 3 steps."
    )
    assert step.clean_evolved("**Rewritten Prompt:** Explain X.") == "Explain X."
    assert step.clean_evolved("```\nExplain X.\n```") == "Explain X."
    assert step.format_output("  Created Prompt: Do Y.  ", {}) == {"instruction": "Do Y."}
    with pytest.raises(Rejected, match="copied_prompt_words"):
        step.clean_evolved("Based on the given prompt, explain X.")
    with pytest.raises(Rejected, match="copied_prompt_words"):
        step.clean_evolved("Explain X. #Rewritten Prompt#")
    with pytest.raises(ParseError, match="parse_error"):
        step.clean_evolved("  ```\n```  ")
    keep_label = EvolInstruct(strip_label=False)
    with pytest.raises(Rejected):
        keep_label.clean_evolved("#Rewritten Prompt#: Explain X.")


def test_equality_judgement_and_response_rules():
    step = EvolInstruct()
    assert step.parse_equal("Equal") is True and step.parse_equal("Not Equal.") is False
    assert step.parse_equal("**Not equal**") is False and step.parse_equal("They are equal") is True
    with pytest.raises(ParseError):
        step.parse_equal("Hmm, hard to say")
    step.check_response("Here is a plan: first, measure the room.")
    with pytest.raises(Rejected, match="hard_to_respond"):
        step.check_response("Sorry, I cannot do that.")
    step.check_response("Sorry for the wait! " + "word " * 90)  # long: not hard to respond
    with pytest.raises(Rejected, match="stopwords_only_response"):
        step.check_response("... and the, of it!")
    with pytest.raises(Rejected, match="stopwords_only_response"):
        step.check_response("?!")


# -- end to end ------------------------------------------------------------------------------------
GIVEN = re.compile(r"#The Given Prompt#:\n(.*?)\n\n#(?:Rewritten|Created) Prompt#:", re.DOTALL)


def responder(body: dict) -> str:
    content = last_user_content(body)
    if "The First Prompt" in content:
        return "Equal" if "EQUAL" in content else "Not Equal"
    match = GIVEN.search(content)
    if match is None:  # a response to an evolved instruction
        if "SORRY" in content:
            return "Sorry, I can't help with that."
        if "STOP" in content:
            return "The, and of it!"
        return "Here is a careful answer that covers every requirement in turn."
    given = match.group(1)
    if "SAME" in given:
        return given
    if "COPY" in given:
        return f"Rewrite the given prompt: {given}"
    return f"#Rewritten Prompt#: {given} Explain each step."


RECORDS = [
    {"id": "ok1", "instruction": "Describe how tides work."},
    {"id": "ok2", "instruction": "List healthy breakfast ideas."},
    {"id": "same", "instruction": "SAME: keep me unchanged."},
    {"id": "equal", "instruction": "EQUAL: judged equal."},
    {"id": "copy", "instruction": "COPY: copies the template."},
    {"id": "sorry", "instruction": "SORRY: the answer apologises."},
    {"id": "stop", "instruction": "STOP: the answer is empty."},
    {"id": "fail", "instruction": "FAIL: the server always errors."},
    {"id": "blank", "instruction": ""},
]


def test_end_to_end_elimination_reasons(run_steps):
    faults = FaultPlan(server_error=1.0, fail_keys={"FAIL:"}, always=True)
    step = EvolInstruct()
    with ScriptedOpenAIServer(responder=responder, faults=faults) as server:
        result = run_steps(server, {"evolve": step}, RECORDS)
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"ok1", "ok2"}
    for rid, rec in kept.items():
        original = next(r["instruction"] for r in RECORDS if r["id"] == rid)
        assert rec["original_instruction"] == original
        assert rec["instruction"] == f"{original} Explain each step."  # label stripped
        assert len(rec["evolution"]) == 1 and rec["evolution"][0] in OPERATIONS
        assert rec["response"].startswith("Here is a careful answer")
        lineage = rec["_lineage"]["evolve"]
        assert lineage["template"] == step.template_hash
        assert lineage["generations"][0]["rejected"] is None
    reasons = {r["id"]: r["_drop"]["reason"] for r in result.dropped}
    assert reasons == {
        "same": "no_information_gain",
        "equal": "no_information_gain",
        "copy": "copied_prompt_words",
        "sorry": "hard_to_respond",
        "stop": "stopwords_only_response",
        "fail": "llm_error",
        "blank": "missing_input",
    }


def test_more_generations_and_no_checks(run_steps):
    step = EvolInstruct(generations=2, check_equivalence=False, generate_response=False)
    with ScriptedOpenAIServer(responder=responder) as server:
        result = run_steps(server, {"evolve": step}, RECORDS)
        assert not any("The First Prompt" in last_user_content(b) for b in server.requests)
    kept = {r["id"]: r for r in result.kept}
    # without the judge and the response, only the text rules remain
    assert set(kept) == {"ok1", "ok2", "equal", "sorry", "stop", "fail"}
    assert (
        kept["ok1"]["instruction"]
        == "Describe how tides work. Explain each step. Explain each step."
    )
    assert len(kept["ok1"]["evolution"]) == 2
    assert kept["ok1"].get("response") is None
    assert Counter(r["_drop"]["reason"] for r in result.dropped) == Counter(
        {"no_information_gain": 1, "copied_prompt_words": 1, "missing_input": 1}
    )


def test_bundled_recipe_runs_scaled_down(tmp_path, recipe_pipeline):
    with ScriptedOpenAIServer(responder=responder) as server:
        result = recipe_pipeline("evol_instruct.yaml", server, "steps.prompts.limit=8").run(tmp_path / "run")
    assert len(result.kept) == 8
    for rec in result.kept:
        assert rec["instruction"].endswith(
            "Explain each step. Explain each step. Explain each step."
        )
        assert rec["original_instruction"] == rec["text"] and len(rec["evolution"]) == 3

"""Self-Instruct: prompts, list parsing, the paper's filters, and a real run against a scripted server."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.generate.parsing import parse_yes_no
from synthpipe.generate.self_instruct import SelfInstruct, is_classification_heuristic

SEEDS = [
    (
        "Suggest three names for a bakery that sells vegan cakes.",
        False,
        "",
        "Sweet Sprout, Green Crumb, Kind Crust",
    ),
    (
        "Classify the sentiment of the sentence as positive or negative.",
        True,
        "I loved it.",
        "positive",
    ),
    (
        "Rewrite the sentence in the passive voice.",
        False,
        "The cat chased the mouse.",
        "The mouse was chased by the cat.",
    ),
    ("Tell me whether the number is prime.", True, "17", "Yes"),
    (
        "Explain how a rainbow forms to a seven year old.",
        False,
        "",
        "Sunlight bends in raindrops...",
    ),
    ("Translate the phrase into Spanish.", False, "Good morning", "Buenos días"),
    ("Give a step by step recipe for pancakes.", False, "", "1. Mix flour, eggs and milk..."),
    (
        "Find the grammatical errors in the paragraph and correct them.",
        False,
        "He go to school.",
        "He goes to school.",
    ),
    ("Decide whether the email is spam.", True, "You won a prize!!!", "spam"),
    (
        "Write a limerick about a forgetful astronaut.",
        False,
        "",
        "There once was a spacer named Lee...",
    ),
]
POISON = SEEDS[0][0]  # a prompt showing this seed gets an unparsable reply
VOCAB = [
    "amber", "basalt", "canyon", "dynamo", "ember", "fjord", "glacier", "harbor", "igloo", "jasmine",
    "kelp", "lantern", "meadow", "nebula", "orchid", "prairie", "quartz", "reef", "savanna", "tundra",
    "umbra", "valley", "willow", "xylem", "yarrow", "zephyr", "atoll", "bramble", "cobalt", "delta",
    "estuary", "fern", "granite", "heath", "isthmus", "juniper", "krill", "lagoon", "mesa", "nectar",
]  # fmt: skip


def write_seeds(path: Path) -> Path:
    lines = [
        json.dumps(
            {
                "id": f"s{i}",
                "instruction": text,
                "instances": [{"input": inp, "output": out}],
                "is_classification": cls,
            }
        )
        for i, (text, cls, inp, out) in enumerate(SEEDS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def novel_instruction(rng: random.Random) -> str:
    words = rng.sample(VOCAB, 6)
    if rng.random() < 0.5:
        return f"Classify whether the {words[0]} near the {words[1]} is {words[2]} or {words[3]}."
    return f"Describe how {words[0]} {words[1]} shapes the {words[2]} of a {words[3]} {words[4]} {words[5]}."


def responder(body: dict) -> str:
    content = last_user_content(body)
    fmt = body.get("response_format")
    if fmt is not None:  # instance prompt (structured)
        if fmt["json_schema"]["name"] == "ClassificationInstance":
            return json.dumps({"class_label": "yes", "input": "an example input"})
        return json.dumps({"input": "", "output": "A plausible answer."})
    if "Is it classification?" in content:
        target = content.rsplit("Task:", 1)[1]
        return "Yes" if "Classify" in target else "No."
    assert "Come up with a series of tasks" in content
    if POISON in content:
        return "Sorry, I can only chat about the weather today."
    demos = re.findall(r"^Task \d+: (.*)$", content, re.MULTILINE)
    rng = random.Random(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest())
    items = [
        demos[0],
        "Draw a picture of a friendly dragon.",
        "Be nice.",
        novel_instruction(rng),
        novel_instruction(rng),
    ]
    start = len(demos) + 1
    listing = "\n".join(f"Task {start + i}: {item}" for i, item in enumerate(items))
    return f"Sure! Here are some new tasks:\n\n{listing}\n\nLet me know if you want more."


def make_step(seeds: Path, **kw) -> SelfInstruct:
    defaults = {
        "seeds": str(seeds),
        "n": 12,
        "num_demos": 4,
        "requests_per_round": 2,
        "num_new": 5,
        "max_rounds": 20,
    }
    return SelfInstruct(**{**defaults, **kw})


# -- prompts ---------------------------------------------------------------------------------------
def test_generation_prompt_lists_demos_and_asks_to_continue(tmp_path):
    step = make_step(write_seeds(tmp_path / "seeds.jsonl"))
    messages = step.generation_messages(["Write a haiku.", "Sort the list."])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[-1]["content"]
    assert "Task 1: Write a haiku.\nTask 2: Sort the list." in user
    assert "Task 3 to Task 7" in user  # num_new = 5


def test_classify_and_instance_prompts(tmp_path):
    step = make_step(
        write_seeds(tmp_path / "seeds.jsonl"), classify_examples=4, instance_examples=2
    )
    user = step.classify_messages("Classify the fruit as sweet or sour.")[-1]["content"]
    assert user.rstrip().endswith(
        "Task: Classify the fruit as sweet or sour.\nIs it classification?"
    )
    assert (
        user.count("Is it classification? Yes") == 2 and user.count("Is it classification? No") == 2
    )
    rng = random.Random(0)
    plain = step.instance_messages("Summarize the text.", False, rng)[-1]["content"]
    assert (
        "Task: Summarize the text." in plain and '"output"' in plain and plain.count("Output:") == 2
    )
    labelled = step.instance_messages("Is the review positive?", True, rng)[-1]["content"]
    assert "class_label" in labelled and labelled.count("Class label:") == 2


def test_bundled_seed_tasks_load():
    step = SelfInstruct()
    assert len(step.seed_tasks) == 175
    assert sum(1 for t in step.seed_tasks if t["is_classification"]) == 26
    assert step.seed_tasks[0]["id"] == "seed_task_0" and step.seed_tasks[0]["output"]


# -- parsing and filters ---------------------------------------------------------------------------
def test_filters_give_the_papers_reasons(tmp_path):
    step = make_step(write_seeds(tmp_path / "seeds.jsonl"))
    assert step.check("Write a short story about a lighthouse keeper.") is None
    assert step.check("Hi there")[0] == "bad_length"
    assert step.check(" ".join(["word"] * 151))[0] == "bad_length"
    assert step.check("Draw a map of your town.")[0] == "filtered_keyword"
    assert step.check("Tell me how to go  to the station.")[0] == "filtered_keyword"
    assert step.check("Describe the photograph's mood.") is None  # whole words only ("graph")
    assert step.check("Write a program that adds two numbers.")[0] == "filtered_keyword"
    assert step.check("- Name a color please.")[0] == "bad_start"
    assert step.check("¿Cómo estás hoy amigo?")[0] == "bad_start"


def test_yes_no_and_heuristic():
    assert parse_yes_no("Yes") is True and parse_yes_no(" no, it is not") is False
    assert parse_yes_no("**Yes**.") is True and parse_yes_no("Maybe") is None
    assert is_classification_heuristic("Classify the animal by habitat.")
    assert is_classification_heuristic("Determine whether the statement is true.")
    assert not is_classification_heuristic("Write a song about rain.")


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture
def run(run_steps):
    def run_generator(server, seeds, out="run", **kw):
        step = make_step(seeds, **kw)
        return step, run_steps(server, {"generate": step}, out=out)

    return run_generator


def test_end_to_end_against_scripted_server(tmp_path, run):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    with ScriptedOpenAIServer(responder=responder) as server:
        step, result = run(server, seeds)
        kept, dropped = result.kept, result.dropped
        assert len(kept) == 12
        for rec in kept:
            assert rec["id"].startswith("self_instruct-")
            assert rec["instruction"] and rec["output"]
            assert rec["is_classification"] == rec["instruction"].startswith("Classify")
            assert rec["output"] == ("yes" if rec["is_classification"] else "A plausible answer.")
            lineage = rec["_lineage"]["generate"]
            assert (
                lineage["template"] == step.template_hash
                and lineage["classification_source"] == "llm"
            )
            assert len(lineage["demonstrations"]) == 4
        reasons = {r["_drop"]["reason"] for r in dropped}
        assert {"rouge_l_too_similar", "filtered_keyword", "bad_length", "parse_error"} <= reasons
        similar = next(r for r in dropped if r["_drop"]["reason"] == "rouge_l_too_similar")
        assert "ROUGE-L 1.000" in similar["_drop"]["detail"]
        # later rounds show machine-generated demonstrations (2 of 4)
        assert any(
            sum(d.startswith("self_instruct-") for d in r["_lineage"]["generate"]["demonstrations"])
            == 2
            for r in kept
        )
        assert len({r["instruction"] for r in kept}) == 12

        requests = len(server.requests)
        _step, again = run(server, seeds, out="run2")  # same seed + cache: no new requests
        assert len(server.requests) == requests
        assert [r["instruction"] for r in again.kept] == [r["instruction"] for r in kept]


def test_heuristic_classification_and_no_instances(tmp_path, run):
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    with ScriptedOpenAIServer(responder=responder) as server:
        _step, result = run(server, seeds, n=4, generate_instances=False)
        assert len(result.kept) == 4
        assert all(r["output"] is None and r["is_classification"] is None for r in result.kept)
        assert not any("Is it classification?" in last_user_content(b) for b in server.requests)


@pytest.mark.parametrize("bad", [{"templates": {"nope": "x.jinja2"}}])
def test_unknown_template_role_is_an_error(tmp_path, bad):
    from synthpipe.errors import UsageError

    with pytest.raises(UsageError, match="unknown template role"):
        make_step(write_seeds(tmp_path / "seeds.jsonl"), **bad)


def test_bundled_recipe_runs_scaled_down(tmp_path, recipe_pipeline):
    with ScriptedOpenAIServer(responder=responder) as server:
        result = recipe_pipeline("self_instruct.yaml", server, "steps.generate.n=6").run(tmp_path / "run")
    assert len(result.kept) == 6
    assert all(
        d.startswith(("seed_task_", "self_instruct-"))
        for r in result.kept
        for d in r["_lineage"]["generate"]["demonstrations"]
    )

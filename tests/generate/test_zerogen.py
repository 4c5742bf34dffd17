"""ZeroGen: plan, prompt, list parsing, drops, resume, and the quickstart_llm recipe end to end."""

from __future__ import annotations

import json
import re
from collections import Counter

import pydantic
import pytest
from llm_server import ScriptedOpenAIServer, last_user_content

from synthpipe.generate.task import ParseError
from synthpipe.generate.zerogen import ZeroGen

ATTRS = {"topic": ["space", "food"], "length": ["short", "medium"]}


# -- plan and prompt -------------------------------------------------------------------------------
def test_plan_is_balanced_seeded_and_contiguous():
    step = ZeroGen(n=62, per_request=5, attributes=ATTRS)
    plan = step.plan(0, "generate")
    assert plan == step.plan(0, "generate") and plan != step.plan(1, "generate")
    sizes = Counter()
    for r in plan:
        sizes[r.label] += r.size
        assert all(s["label"] == r.label for s in r.few_shot) and len(r.few_shot) == 3
        assert set(r.attributes) == {"topic", "length"}
    assert sorted(sizes.values()) == [10, 10, 10, 10, 11, 11] and sum(sizes.values()) == 62
    assert [r.start for r in plan] == [sum(p.size for p in plan[:i]) for i in range(len(plan))]
    assert len({r.label for r in plan[:6]}) > 1  # labels are shuffled, not in blocks


def test_prompt_has_label_description_examples_and_attributes():
    step = ZeroGen(
        n=6, label_descriptions={"ABBR": "questions asking for an abbreviation."}, text_kind="question",
        task_description="TREC question classification.", attributes=ATTRS,
    )  # fmt: skip
    request = next(r for r in step.plan(0, "g") if r.label == "ABBR")
    content = step.messages(request)[-1]["content"]
    assert content.startswith("Task: TREC question classification.")
    assert 'Write 1 different examples of class "ABBR". Each example is a question.' in content
    assert 'Class "ABBR" means: questions asking for an abbreviation.' in content
    for seed in request.few_shot:
        assert f"- {seed['text']}\n" in content
    assert f"- topic: {request.attributes['topic']}" in content
    assert content.rstrip().endswith(
        "Reply with a numbered list from 1 to 1, one example per line, and nothing else."
    )


def test_zero_shot_needs_labels():
    with pytest.raises(pydantic.ValidationError, match="zero-shot"):
        ZeroGen(seeds=None)
    step = ZeroGen(
        seeds=None, label_descriptions={"pos": "happy", "neg": "sad"}, n=4, per_request=2
    )
    assert step.labels == ["neg", "pos"] and all(not r.few_shot for r in step.plan(0, "g"))


def test_parse_good_messy_and_bad():
    assert ZeroGen.parse("1. What is NASA ?\n2. Who wrote Hamlet?", "ABBR") == [
        "What is NASA ?",
        "Who wrote Hamlet?",
    ]
    messy = 'Sure!\n\n1) "What does CPU stand for?" (ABBR)\n2. **What is UFO short for?** - Label: ABBR\n\nEnjoy!'
    assert ZeroGen.parse(messy, "ABBR") == ["What does CPU stand for?", "What is UFO short for?"]
    with pytest.raises(ParseError) as err:
        ZeroGen.parse("I can't write questions.", "ABBR")
    assert err.value.reason == "parse_error"


# -- end to end ------------------------------------------------------------------------------------
def responder(body: dict) -> str:
    content = last_user_content(body)
    label = re.search(r'examples of class "(\w+)"', content).group(1)
    k = int(re.search(r"numbered list from 1 to (\d+)", content).group(1))
    topic = re.search(r"- topic: (.*)", content).group(1)
    length = re.search(r"- length: (.*)", content).group(1)
    seeds = re.findall(r"^- (.*)$", content.split("Every example")[0], re.MULTILINE)
    if label == "ABBR" and length == "short":
        return "I only write about food."  # unparsable: one dropped record per such request
    items = [f"What {label} question number {i} about {topic} ({body['seed']}) ?" for i in range(k)]
    if label == "NUM":
        items[0] = seeds[0]  # a copied seed
        items.append("An extra question nobody asked for ?")
    return "Here you go:\n" + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(items))


def test_quickstart_llm_recipe_end_to_end(tmp_path, recipe_pipeline):
    with ScriptedOpenAIServer(responder=responder) as server:
        pipe = recipe_pipeline("quickstart_llm.yaml", server, "steps.generate.n=120", "batch_size=40")
        result = pipe.run(tmp_path / "run")
        first = len(server.requests)
        assert first == 24  # 120 / 5
        generated = [r for r in result.kept] + [
            r for r in result.dropped if r["_drop"]["step"] != "generate"
        ]
        dropped_here = [r for r in result.dropped if r["_drop"]["step"] == "generate"]

    step = pipe.steps["generate"]
    reasons = Counter(r["_drop"]["reason"] for r in dropped_here)
    assert set(reasons) == {"parse_error", "copied_seed", "extra_item"}
    plan = step.plan(0, "generate")
    num_requests = sum(1 for r in plan if r.label == "NUM")
    assert reasons["copied_seed"] == reasons["extra_item"] == num_requests
    assert reasons["parse_error"] == sum(
        1 for r in plan if r.label == "ABBR" and r.attributes["length"] == "short"
    )
    for rec in generated:
        assert re.fullmatch(r"zerogen-\d{6}", rec["id"]) and rec["label"] in {
            "ABBR",
            "DESC",
            "ENTY",
            "HUM",
            "LOC",
            "NUM",
        }
        assert rec["text"].startswith(f"What {rec['label']} question")
        lineage = rec["_lineage"]["generate"]
        assert lineage["template"] == step.template_hash
        assert set(lineage["attributes"]) == {"topic", "length", "style"}
        assert len(lineage["few_shot"]) == 3 and all(
            i.startswith("trec-train-") for i in lineage["few_shot"]
        )
    failed = [r for r in dropped_here if r["_drop"]["reason"] == "parse_error"]
    assert all(
        r["label"] == "ABBR" and r["_lineage"]["generate"]["attributes"]["length"] == "short"
        for r in failed
    )
    assert all("I only write about food." in r["_drop"]["detail"] for r in failed)
    labels = Counter(r["label"] for r in result.kept)
    assert set(labels) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}


def test_resume_skips_finished_batches_without_requests(run_steps):
    def run(server):
        step = ZeroGen(n=60, per_request=5, attributes=ATTRS)
        return run_steps(server, {"generate": step}, use_cache=False, batch_size=20)

    with ScriptedOpenAIServer(responder=responder) as server:
        first = run(server)
        assert len(server.requests) == 12
        again = run(server)  # everything checkpointed: nothing to ask
        assert len(server.requests) == 12
    assert [r["id"] for r in again.kept] == [r["id"] for r in first.kept]
    assert json.dumps(sorted(r["text"] for r in again.kept)) == json.dumps(
        sorted(r["text"] for r in first.kept)
    )


def test_skip_batches_makes_no_requests_for_them(scripted_llm):
    import asyncio

    from synthpipe.llm.pool import LLMPool
    from synthpipe.pipeline.step import StepContext

    step = ZeroGen(n=60, per_request=5, attributes=ATTRS)

    async def collect(ctx):
        return [batch async for batch in step.aread(ctx)]

    with ScriptedOpenAIServer(responder=responder) as server:
        pool = LLMPool({"default": scripted_llm(server)}, use_cache=False)
        full = asyncio.run(collect(StepContext("generate", batch_size=20, resources=pool)))
        assert len(full) == 3 and len(server.requests) == 12
        server.reset_counters()
        tail = asyncio.run(
            collect(StepContext("generate", batch_size=20, skip_batches=2, resources=pool))
        )
        assert len(server.requests) == 4  # only the last batch's requests
        pool.close()
    assert tail == full[2:]

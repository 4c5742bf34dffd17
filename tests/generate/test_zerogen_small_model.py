"""ZeroGen for small models: the short prompt, one item per line from replies SmolLM2-135M wrote,
and the quickstart_local_llm recipe building (steps, columns, requests) without a model run."""

from __future__ import annotations

import pytest

from synthpipe import Pipeline
from synthpipe.generate.task import ParseError
from synthpipe.generate.zerogen import ZeroGen, parse_lines
from synthpipe.run.bundled import find_recipe

# Replies of SmolLM2-135M-Instruct to the small prompt (temperature 0.7), as they came.
NUMBERED_TWICE = """Here are five new questions for business and economics:

1. 1. What is the difference between a median and a mean?
2. 2. What is the half-life of P-32?
3. 3. What is the difference between a median and a median?"""
LETTERED = """A: What two colors are you blind to if you suffer from protanopia?
A: What type of exercise burns the most calories?
B: What film was based on the play Everybody Comes to Rick 's?"""
CHATTY = """1. What type of exercise burns the most calories?
- Exercise is one of the activities that helps people in their daily lives.

2. What do sailors use to measure time?"""
ONE_LINE = "Can you tell me what the acronym SCHMAL stands for?"


def test_every_line_is_an_item_with_list_markers_stripped():
    assert parse_lines(NUMBERED_TWICE) == [
        "What is the difference between a median and a mean?",
        "What is the half-life of P-32?",
        "What is the difference between a median and a median?",
    ]  # the chatter line that opens the list is skipped, like text before a numbered list
    assert parse_lines(LETTERED)[2] == "What film was based on the play Everybody Comes to Rick 's?"
    assert parse_lines(CHATTY) == [  # the answer line stays: curation drops it with a reason
        "What type of exercise burns the most calories?",
        "Exercise is one of the activities that helps people in their daily lives.",
        "What do sailors use to measure time?",
    ]
    assert parse_lines(ONE_LINE) == [ONE_LINE]  # no list at all: the numbered parser gives up
    assert parse_lines("A question: Where can I find a world atlas map online at no charge?") == [
        "Where can I find a world atlas map online at no charge?"
    ]


def test_reply_formats_differ_on_unnumbered_replies():
    assert ZeroGen.parse(ONE_LINE, "ABBR", "lines") == [ONE_LINE]
    with pytest.raises(ParseError):
        ZeroGen.parse(ONE_LINE, "ABBR", "numbered")
    with pytest.raises(ParseError, match="non-empty line"):
        ZeroGen.parse("Here are five questions:\n\n", "ABBR", "lines")


def test_small_prompt_is_one_short_user_turn_with_examples_and_topic():
    step = ZeroGen(prompt_style="small", text_kind="question", attributes={"topic": ["space"]},
                   label_descriptions={"LOC": "a place"}, labels=["LOC"], n=5)  # fmt: skip
    messages = step.messages(step.plan(0, "generate")[0])
    assert [m["role"] for m in messages] == ["user"]
    text = messages[0]["content"]
    assert "Each one asks for a place." in text
    assert "Write 5 new questions of the same kind about space. Write one question per line." in text
    assert text.count("\n- ") == 3  # the few-shot seeds as a list
    assert step.template_path("main").name == "zerogen_small.jinja2"
    assert ZeroGen().template_path("main").name == "zerogen.jinja2"


def test_quickstart_local_llm_recipe_builds_without_running_a_model():
    path = find_recipe("quickstart_local_llm")
    assert path.name == "quickstart_local_llm.yaml"
    pipe = Pipeline.from_recipe(path, ["experiment.extra_variants.template-synthetic=kept.jsonl"])
    assert list(pipe.steps) == ["generate", "filter", "quality", "question", "seed_copies", "label_check",
                                "dedup", "decontaminate", "audit"]  # fmt: skip
    generate = pipe.steps["generate"]
    assert generate.config.prompt_style == "small" and generate.config.reply_format == "lines"
    assert pipe.recipe.llms["default"].backend == "transformers"
    assert pipe.recipe.llms["default"].model == "smollm2-135m"
    n, per = generate.config.n, generate.config.per_request
    assert n // per <= generate.count_requests(0) <= n // per + 6  # a partial request per label at most
    experiment = pipe.recipe.experiment
    assert experiment.variants == ["seeds-only", "synthetic", "synthetic-unfiltered", "real", "real+synthetic"]
    assert list(experiment.extra_variants) == ["template-synthetic"]

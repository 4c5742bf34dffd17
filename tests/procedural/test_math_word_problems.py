"""Procedural GSM8K-style word problems: exact annotations, answers, control and resume."""

from __future__ import annotations

import ast
import operator
import random
import re
from collections import Counter

import pytest
from pydantic import ValidationError

from synthpipe.errors import UsageError
from synthpipe.pipeline.step import StepContext
from synthpipe.procedural.math_word_problems import (
    Difficulty,
    MathWordProblems,
    generate_problem,
    template_ids,
)
from synthpipe.verify.answers import extract_answer
from synthpipe.verify.math_check import answers_match

ANNOTATION = re.compile(r"<<([^<>=]+)=([^<>]+)>>([^\s.,]+)")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}

SETTINGS = [
    Difficulty(),
    Difficulty(min_steps=2, max_steps=8),
    Difficulty(min_steps=6, max_steps=10, max_number=1000),
    Difficulty(min_steps=2, max_steps=4, max_number=20, operations=("add", "subtract")),
    Difficulty(min_steps=3, max_steps=6, operations=("add", "multiply", "divide", "percent")),
]


def safe_eval(expr: str) -> float:
    """Python arithmetic over + - * / and parentheses only; anything else is an error."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not plain arithmetic: {expr!r}")

    return walk(ast.parse(expr, mode="eval").body)


@pytest.fixture(scope="module")
def problems():
    """2000 problems, 400 from each difficulty setting."""
    return [
        (d, generate_problem(random.Random(f"test:{k}:{i}"), d))
        for k, d in enumerate(SETTINGS)
        for i in range(400)
    ]


def test_every_annotation_evaluates_to_its_result(problems):
    checked = 0
    for _, p in problems:
        for expr, result, shown in ANNOTATION.findall(p.solution):
            value = safe_eval(expr)
            assert abs(value - float(result)) < 1e-9, (expr, result, p.solution)
            assert shown == result  # the number written after the annotation is the same
            assert float(result) >= 0  # no negative intermediate quantity
            checked += 1
    assert checked >= 2000 * 2


def test_final_line_is_the_exact_answer_and_the_checker_agrees(problems):
    for _, p in problems:
        lines = p.solution.splitlines()
        assert lines[-1] == f"#### {p.answer}"
        assert re.fullmatch(r"\d+", p.answer), p.answer  # whole, non-negative, canonical
        assert lines[-2].count("<<") == 1 and f">>{p.answer}" in lines[-2]  # last step gives it
        extracted = extract_answer(p.solution)
        assert extracted is not None and extracted.method == "gsm8k"
        assert answers_match(p.answer, extracted.text).equal


def test_step_count_and_operations_follow_the_difficulty(problems):
    for d, p in problems:
        annotations = ANNOTATION.findall(p.solution)
        assert len(annotations) == p.steps
        assert d.min_steps <= p.steps <= d.max_steps
        assert set(p.operations) <= set(d.operations)
        assert len(p.solution.splitlines()) == p.steps + 1  # one line per step, then ####
        if "multiply" not in d.operations and "percent" not in d.operations:
            assert not any("*" in expr for expr, _, _ in annotations)


def test_questions_are_varied(problems):
    questions = [p.question for _, p in problems]
    distinct = len(set(questions)) / len(questions)
    assert distinct >= 0.99, distinct
    assert all(q.rstrip().endswith("?") for q in questions)


def test_many_templates_are_used():
    assert len(template_ids()) >= 25
    used = Counter(
        generate_problem(random.Random(f"v:{i}"), Difficulty(2, 6)).template for i in range(2000)
    )
    assert len(used) == len(template_ids())
    assert max(used.values()) < 2000 * 0.1  # no frame dominates


@pytest.mark.parametrize("steps", [2, 5, 8, 10])
def test_exact_step_counts(steps):
    d = Difficulty(min_steps=steps, max_steps=steps, max_number=200)
    for i in range(100):
        p = generate_problem(random.Random(f"s:{i}"), d)
        assert p.steps == steps == len(ANNOTATION.findall(p.solution))


def test_templates_restrict_the_frames():
    d = Difficulty(2, 5, templates=("bus_stops", "ages"))
    used = {generate_problem(random.Random(i), d).template for i in range(100)}
    assert used == {"bus_stops", "ages"}


def test_same_seed_same_problem_and_indices_differ():
    d = Difficulty(2, 6)
    assert generate_problem(random.Random("5:17"), d) == generate_problem("5:17", d)
    step = MathWordProblems(n=30, max_steps=6)
    first = [r for b in step.read(StepContext("mwp", seed=5, batch_size=8)) for r in b]
    again = [r for b in step.read(StepContext("mwp", seed=5, batch_size=8)) for r in b]
    other = [r for b in step.read(StepContext("mwp", seed=6, batch_size=8)) for r in b]
    assert first == again
    assert len({r["question"] for r in first}) == 30
    assert [r["question"] for r in first] != [r["question"] for r in other]


def test_records_have_gsm8k_fields_ids_and_lineage():
    step = MathWordProblems(n=5, question_field="q", answer_field="gold")
    assert step.expected_count() == 5
    records = [r for b in step.read(StepContext("mwp", seed=3, batch_size=2)) for r in b]
    assert [r["id"] for r in records] == [f"mwp-{i:06d}" for i in range(5)]
    for r in records:
        assert r["answer"].endswith(f"#### {r['gold']}") and r["q"].endswith("?")
        lineage = r["_lineage"]
        assert lineage["generator"] == "math_word_problems" and lineage["seed"] == 3
        assert lineage["template"] in template_ids() and 2 <= lineage["steps"] <= 5


def test_resume_skips_whole_batches_without_changing_records():
    step = MathWordProblems(n=40)
    full = [r for b in step.read(StepContext("mwp", seed=9, batch_size=7)) for r in b]
    resumed = list(step.read(StepContext("mwp", seed=9, batch_size=7, skip_batches=2)))
    assert [r for b in resumed for r in b] == full[14:]
    assert len(resumed) == 4  # batches 2..5 of 6 (the last one is short)


def test_config_errors_name_the_problem():
    with pytest.raises(ValidationError, match="min_steps=6, max_steps=3"):
        MathWordProblems(min_steps=6, max_steps=3)
    with pytest.raises(
        ValidationError, match=r"'bus_stop' \(did you mean 'bus_stops'\?\).*valid templates"
    ):
        MathWordProblems(templates=["bus_stop"])
    with pytest.raises(
        ValidationError, match=r"unknown operation\(s\) \['modulo'\]; valid operations: add"
    ):
        MathWordProblems(operations=["add", "modulo"])
    with pytest.raises(ValidationError, match="include at least one of add, subtract, multiply"):
        MathWordProblems(operations=["divide"])
    with pytest.raises(ValidationError, match="must differ"):
        MathWordProblems(solution_field="question")
    with pytest.raises(ValidationError, match="no template makes 9-10 step"):
        MathWordProblems(min_steps=9, max_steps=10, templates=["ages"])
    with pytest.raises(UsageError, match="min_steps=4, max_steps=2"):
        Difficulty(min_steps=4, max_steps=2)

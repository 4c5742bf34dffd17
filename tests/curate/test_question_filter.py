"""question_filter on lines SmolLM2-135M-Instruct wrote when asked for TREC questions: the
questions stay, chat boilerplate, echoed prompts, answers and statements drop with a reason."""

from __future__ import annotations

import pytest

from synthpipe.curate.filters.question_form import QuestionFilter
from synthpipe.pipeline.registry import get_step_class

# (text, expected reason or None for kept, expected detail fragment)
SMOLLM2_LINES = [
    ("What does S.S.E. stand for in S.S. Eliot's name?", None, None),
    ("Can you tell me what the acronym SCHMAL stands for?", None, None),
    ("What film was based on the play Everybody Comes to Rick 's ?", None, None),  # TREC spacing
    ("What's the origin of the violin?", None, None),
    ("Name a famous painter from Spain.", None, None),  # an imperative TREC counts as a question
    ("Here are five new questions for business and economics:", "chat_boilerplate", "here are"),
    ("Here are five questions:", "chat_boilerplate", "here are"),
    ("I'm ready to help. What can I assist you with today?", "chat_boilerplate", "ready"),
    ("I'm an AI assistant designed to help with that. However, I can also assist with geography "
     "questions.", "chat_boilerplate", "an ai"),
    ("Write 5 new questions of the same kind about sports.", "chat_boilerplate", "write 5 new questions"),
    ("These are five questions about music.", "chat_boilerplate", "these are"),
    ("Please answer", "chat_boilerplate", "please"),
    ("What a delightful mix of genres: a film and a television show. Here are five questions:",
     "chat_boilerplate", "header"),
    ("What is a sabayon? The rules for eating at a sabayon are a little different.", "not_a_question",
     "answer after the question"),
    ("The answer is: 2022-01-14 23:32:58.", "not_a_question", "statement"),
    ("In 2022, the richest state in the United States was New York, with a per-capita income of "
     "$8.7 billion.", "not_a_question", "statement"),
    ("I'm ready to help. What's on your mind?", "chat_boilerplate", "ready"),
    ("The answer to the first question is:", "chat_boilerplate", "header"),
    ("Now, here are 5 new questions about food. Write one question per line.", "chat_boilerplate", "new questions about"),
    ("Please remember to answer all of the above questions.", "chat_boilerplate", "please"),
    ("DEATH, DEATH, DEATH, DEAD...", "not_a_question", "statement"),
    ('What famous coach said, "You can\'t solve a problem with a hammer and a ball and a ball."',
     "not_a_question", "statement"),
    ("What is", "not_a_question", "no question mark"),
    ("An animal, color, food, product, sport, substance, language, or anything else that goes by the "
     "name of", "not_a_question", "no question mark"),
]


@pytest.mark.parametrize(("text", "reason", "detail"), SMOLLM2_LINES)
def test_smollm2_lines_are_kept_or_dropped_with_reason(text, reason, detail):
    verdict = QuestionFilter().keep({"text": text})
    if reason is None:
        assert verdict is True
    else:
        assert verdict[:2] == (False, reason)
        assert detail in verdict[2].lower()


def test_checks_can_be_switched_off_and_boilerplate_extended():
    only_form = QuestionFilter(checks=["not_a_question"])
    assert only_form.keep({"text": "Here are five questions about music?"}) is True
    extra = QuestionFilter(extra_boilerplate=[r"\bTREC\b"])
    assert extra.keep({"text": "Is this a TREC question?"})[1] == "chat_boilerplate"


def test_missing_and_non_text_fields_drop_with_reason():
    step = QuestionFilter(text_field="question")
    assert step.keep({"text": "What?"})[:2] == (False, "missing_text")
    assert step.keep({"question": 3})[:2] == (False, "not_text")


def test_registered_and_declares_columns():
    assert get_step_class("question_filter") is QuestionFilter
    assert QuestionFilter(text_field="q").input_columns() == {"q"}

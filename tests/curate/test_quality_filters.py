"""Heuristic quality filters: repetition, symbols, LLM failure modes, language.

Each filter is tested on crafted positives (one per drop reason) and on real, clean texts from
../shared/data (GSM8K, TREC, OpenAssistant) as negatives.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from synthpipe import Pipeline
from synthpipe.curate.filters import repetition as rep
from synthpipe.curate.filters.language_filter import LanguageFilter
from synthpipe.curate.filters.llm_output import (
    LLMOutputFilter,
    impossible_category,
    load_word_lists,
    truncation,
    unclosed_brackets,
)
from synthpipe.curate.filters.repetition import RepetitionFilter
from synthpipe.curate.filters.symbols import SymbolFilter
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import registered_steps
from synthpipe.pipeline.sources import FromRecords

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/data/{relative} not present")
    return path


def gsm8k(n: int = 200) -> list[dict]:
    with _shared("gsm8k/test.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def trec(n: int = 300) -> list[str]:
    with _shared("trec/test.csv").open(encoding="utf-8") as fh:
        return [row["text"] for _, row in zip(range(n), csv.DictReader(fh), strict=False)]


def oasst_pairs() -> list[dict]:
    """(prompt, first reply) pairs from the OpenAssistant message trees."""
    pairs = []
    with _shared("oasst_samples/en_100_tree.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            prompt = json.loads(line)["prompt"]
            for reply in prompt.get("replies") or []:
                pairs.append({"instruction": prompt["text"], "response": reply["text"]})
    return pairs


def drop_rate(step, records: list[dict]) -> float:
    return sum(step.keep(r) is not True for r in records) / len(records)


def reason(verdict) -> str | None:
    return None if verdict is True else verdict[1]


def test_steps_are_registered():
    names = registered_steps()
    for name in ("repetition_filter", "symbol_filter", "llm_output_filter", "language_filter"):
        assert name in names


# -- repetition ---------------------------------------------------------------------------
def test_repetition_statistics_on_a_worked_example():
    assert rep.duplicate_fractions(["a", "bb", "a", "a"]) == (0.5, 2 / 5)
    words = ["the", "cat", "sat", "the", "cat", "sat", "on", "the", "mat"]
    # "the cat" occurs twice, covering words 0,1,3,4: 12 of 26 word characters
    assert rep.top_ngram_char_fraction(words, 2) == pytest.approx(12 / 26)
    # the 3-gram "the cat sat" occurs twice: words 0-5 (18 chars); no 4-gram repeats
    assert rep.dup_ngram_char_fraction(words, 3) == pytest.approx(18 / 26)
    assert rep.dup_ngram_char_fraction(words, 4) == 0.0
    assert rep.top_ngram_char_fraction(["a", "b", "c", "d"], 2) == 0.0  # nothing repeats


REPEATED = {
    "dup_line_frac": "Sincerely,\nSincerely,\nSincerely,\nBob the builder of houses",
    "dup_para_frac": "Hello there friend.\n\nHello there friend.\n\nHello there friend.\n\nBye now, see you later.",
    "dup_line_char_frac": "A fairly long line that repeats itself here.\nshort\nA fairly long line that repeats itself here.\nanother one\nmore text\nend",
    "top_ngram_char_frac": " ".join(["go team"] * 30 + [f"word{i}" for i in range(30)]),
    "dup_ngram_char_frac": " ".join(
        ["one two three four five six seven"] * 3 + [f"token{i}" for i in range(40)]
    ),
}  # fmt: skip


@pytest.mark.parametrize("expected", sorted(REPEATED))
def test_repetition_positives(expected):
    verdict = RepetitionFilter().keep({"text": REPEATED[expected]})
    assert reason(verdict) == expected, verdict


def test_repetition_thresholds_can_be_disabled_and_ngrams_need_min_words():
    text = REPEATED["top_ngram_char_frac"]
    assert RepetitionFilter(top_ngram_char_frac={}, dup_ngram_char_frac={}).keep({"text": text}) is True
    short = "go team go team go team"  # 6 words: below the default min_words=50
    assert RepetitionFilter().keep({"text": short}) is True
    assert reason(RepetitionFilter(min_words=0).keep({"text": short})) == "top_ngram_char_frac"


def test_repetition_checks_every_field_and_names_it():
    f = RepetitionFilter(text_field=["instruction", "response"])
    verdict = f.keep({"instruction": "Write a sign-off.", "response": REPEATED["dup_line_frac"]})
    assert verdict[1] == "dup_line_frac" and verdict[2].startswith("response:")
    assert f.keep({"instruction": "hi"})[1] == "missing_text"
    assert f.keep({"instruction": "hi", "response": 3})[1] == "not_text"


def test_repetition_keeps_real_clean_text():
    f = RepetitionFilter()
    assert drop_rate(f, [{"text": r["question"]} for r in gsm8k()]) <= 0.05
    assert drop_rate(f, [{"text": t} for t in trec()]) == 0.0
    assert drop_rate(f, [{"text": p["response"]} for p in oasst_pairs()]) <= 0.12


# -- symbols (Gopher quality) ---------------------------------------------------------------
PROSE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."
SYMBOLIC = {
    "symbol_ratio": "#tag #more #hash #tags everywhere in this short post #one #two #three #four",
    "bullet_lines": "\n".join(f"• item number {i} in a long list of things" for i in range(12)),
    "ellipsis_lines": "It was a dark and stormy night in the old town by the sea...\n"
    "The wind howled through the empty streets and rattled every shutter...\n"
    "Nobody in the village slept well that night, not even the dogs.\n"
    "In the morning the fishermen went down to the harbour as usual.\n"
    "They found the boats untouched and the nets dry on the quay.",
    "non_alpha_words": "Totals: 12 34 56 78 90 11 22 33 44 55 66 77 88 99 and done.",
    "mean_word_length": "Supercalifragilisticexpialidocious antidisestablishmentarianism "
    "pneumonoultramicroscopicsilicovolcanoconiosis floccinaucinihilipilification "
    "hippopotomonstrosesquippedaliophobia pseudopseudohypoparathyroidism "
    "thyroparathyroidectomized dichlorodifluoromethane incomprehensibilities honorificabilitudinitatibus",
}


@pytest.mark.parametrize("expected", sorted(SYMBOLIC))
def test_symbol_positives(expected):
    assert reason(SymbolFilter().keep({"text": SYMBOLIC[expected]})) == expected


def test_symbol_short_mean_words_and_stop_words():
    tiny = "a b c d e f g h i j k l m n o p"
    assert reason(SymbolFilter().keep({"text": tiny})) == "mean_word_length"
    no_stops = (
        "Quantum computers exploit superposition, entanglement, interference, decoherence "
        "mitigation strategies, error correction codes."
    )
    assert SymbolFilter().keep({"text": no_stops}) is True
    assert reason(SymbolFilter(min_stop_words=2).keep({"text": no_stops})) == "few_stop_words"


def test_symbol_markdown_lists_and_short_answers_are_not_judged_by_default():
    markdown = "\n".join(f"- step {i}: do the next thing carefully" for i in range(10))
    assert SymbolFilter().keep({"text": markdown}) is True
    assert reason(SymbolFilter(bullets=["-"]).keep({"text": markdown})) == "bullet_lines"
    assert SymbolFilter().keep({"text": "Encouraging"}) is True  # below min_words
    assert SymbolFilter().keep({"text": PROSE}) is True


def test_symbol_keeps_real_clean_text():
    f = SymbolFilter()
    assert drop_rate(f, [{"text": r["question"]} for r in gsm8k()]) <= 0.02
    assert drop_rate(f, [{"text": t} for t in trec()]) <= 0.02
    assert drop_rate(f, [{"text": p["response"]} for p in oasst_pairs()]) <= 0.03


# -- LLM failure modes ----------------------------------------------------------------------
def pair(instruction: str, response) -> dict:
    return {"instruction": instruction, "response": response}


LLM_POSITIVES = [
    (pair("Tell me a joke.", "I'm sorry, but I can't help with that request."), "refusal"),
    (pair("What do you think of cats?", "As an AI language model, I don't have preferences, but cats are popular."), "refusal"),
    (pair("Capital of Peru?", "N/A"), "empty_output"),
    (pair("Capital of Peru?", "  I don’t know.  "), "empty_output"),
    (pair("Capital of Peru?", "   "), "empty_output"),
    (pair("Capital of Peru?", None), "empty_output"),
    (pair("Write a sorting function.", "Here it is:\n```python\ndef sort(xs):\n    return sorted(xs)\n"), "truncated"),
    (pair("Give me JSON.", '{"name": "Ada", "skills": ["math", "logic"'), "truncated"),
    (pair("Describe Paris.", "Paris is the capital of France and is known for the Eiffel Tower and the"), "truncated"),
    (pair("List the steps.", "First you open the box. Then you take out the manual and read the instructions carefully before you"), "truncated"),
    (pair("Summarize the benefits of exercise.", "Summarize the benefits of exercise."), "echoes_instruction"),
    (pair("Explain why the sky is blue in simple terms", "explain why the sky is blue in simple terms!"), "echoes_instruction"),
    (pair("Generate an image of a red fox in the snow.", "Sure, here is the image."), "impossible_instruction"),
    (pair("What is the current weather in Paris?", "It is sunny."), "impossible_instruction"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), LLM_POSITIVES)
def test_llm_output_positives(record, expected):
    assert reason(LLMOutputFilter().keep(record)) == expected


LLM_NEGATIVES = [
    pair("Reply with emojis only.", "😌😊"),
    pair("Write an email to a friend.", "Hi Sam,\n\nDinner on Friday at 7?\n\nLooking forward to seeing you,"),
    pair("Name crime shows.", "Breaking Bad, Peaky Blinders, Money Heist, Better Call Saul, The Blacklist"),
    pair("Write a tweet.", "Our summer internships are open now, apply today and join the team #careers #hiring"),
    pair("What is 6*7?", "The answer is 42"),
    pair("Show a Python example.", "```python\nprint('hi')\n```"),
    pair("Show an inline example.", "Use ```print(x)``` to show a value."),
    pair("How do I feel?", "Sad :( but fine."),
    pair("Write a function that validates the given URL.", "Use urllib.parse.urlparse and check the scheme."),
    pair("Write code to draw a picture with turtle.", "import turtle\nturtle.circle(50)"),
]


@pytest.mark.parametrize("record", LLM_NEGATIVES)
def test_llm_output_negatives(record):
    assert LLMOutputFilter().keep(record) is True


def test_llm_output_field_handling_and_check_selection():
    f = LLMOutputFilter()
    assert f.keep({"instruction": "x"})[1] == "missing_text"
    assert f.keep(pair("x", 5))[1] == "not_text"
    only_refusal = LLMOutputFilter(checks=["refusal"])
    assert only_refusal.keep(pair("Summarize it.", "Summarize it.")) is True
    instruction_only = LLMOutputFilter(response_field=None)
    assert reason(instruction_only.keep({"instruction": "Draw a horse."})) == "impossible_instruction"
    assert instruction_only.keep({"instruction": "Write a haiku about rain."}) is True


def test_llm_output_extra_phrases_and_word_list_dir(tmp_path):
    extra = LLMOutputFilter(extra_refusal_phrases=["Nope, not doing"], extra_empty_answers=["no clue"])
    assert reason(extra.keep(pair("Do it.", "Nope, not doing that."))) == "refusal"
    assert reason(extra.keep(pair("Who won?", "No clue!"))) == "empty_output"
    (tmp_path / "empty_answers.txt").write_text("# mine\nbanana\n", encoding="utf-8")
    custom = LLMOutputFilter(word_lists_dir=str(tmp_path))
    assert reason(custom.keep(pair("Fruit?", "Banana."))) == "empty_output"
    assert custom.keep(pair("Peru?", "N/A")) is True  # the bundled list was replaced
    assert tmp_path / "empty_answers.txt" in custom.input_files()


IMPOSSIBLE = [
    ("Please draw me a picture of the Eiffel Tower at sunset.", "image_generation"),
    ("Can you create a logo for my bakery?", "image_generation"),
    ("Describe the attached image in detail.", "image_input"),
    ("Look at the screenshot below and tell me what is wrong.", "image_input"),
    ("Sing me a song about the ocean.", "audio"),
    ("Transcribe this audio recording for me.", "audio"),
    ("Create a video showing how to tie a tie.", "video"),
    ("Visit https://example.com and summarize the page.", "browsing"),
    ("Search the web for the best pizza in Rome.", "browsing"),
    ("Tell me today's stock price of Apple.", "realtime"),
    ("What time is it right now?", "realtime"),
    ("Turn on the lights in the living room.", "physical_action"),
    ("Call my mom and tell her I'll be late.", "physical_action"),
    ("Please order me a large pepperoni pizza.", "physical_action"),
    ("Set an alarm for 7 am.", "physical_action"),
]
POSSIBLE = [
    "Write a Python function that resizes an image to 256x256 pixels.",
    "Write a poem about a photo of your grandmother.",
    "Create an image prompt for Midjourney showing a futuristic city.",
    "Draw an ASCII art picture of a cat.",
    "Write a script for a short video about recycling.",
    "Explain how weather forecasts are made.",
    "If the current temperature is 84 degrees and drops by a quarter, what is the new temperature?",
    "Come up with some search queries on google about coding stuff.",
    "Write an email to my boss asking for a day off.",
    "Plot a histogram of the data using matplotlib.",
    "Order these numbers from smallest to largest: 5, 2, 9.",
    "Open the file data.csv in pandas and print the first rows.",
]


@pytest.mark.parametrize(("instruction", "category"), IMPOSSIBLE)
def test_impossible_instructions(instruction, category):
    assert impossible_category(instruction, load_word_lists()) == category


@pytest.mark.parametrize("instruction", POSSIBLE)
def test_possible_instructions(instruction):
    assert impossible_category(instruction, load_word_lists()) is None


def test_truncation_helpers():
    assert unclosed_brackets("f(a, [1, 2") == "(["
    assert unclosed_brackets("f(a) :( and [x]") == ""
    cut = "Results.\nThe new method improves accuracy on most of the benchmark tasks we tried"
    assert truncation(cut) is not None
    assert truncation(cut, strict=False) is None
    assert truncation("The full reference of the library is online at https://example.com/docs") is None


def test_llm_output_keeps_real_clean_pairs():
    f = LLMOutputFilter()
    assert drop_rate(f, [pair(r["question"], r["answer"]) for r in gsm8k()]) <= 0.01
    assert drop_rate(f, oasst_pairs()) <= 0.06  # real refusals and "as an AI" replies exist


# -- language -------------------------------------------------------------------------------
needs_langid = pytest.mark.skipif(
    importlib.util.find_spec("py3langid") is None, reason="py3langid (extra `lang`) not installed"
)

FRENCH = "Le chat est assis sur le tapis et regarde les oiseaux dans le jardin."
SPANISH = "El gato está sentado en la alfombra y mira los pájaros del jardín."
GERMAN = "Die Katze sitzt auf dem Teppich und beobachtet die Vögel im Garten."


@needs_langid
def test_language_allowed_mode():
    f = LanguageFilter()
    assert f.keep({"text": PROSE}) is True
    verdict = f.keep({"text": FRENCH})
    assert verdict[1] == "wrong_language" and verdict[2].startswith("text: fr")
    assert LanguageFilter(languages=["en", "es"]).keep({"text": SPANISH}) is True
    assert f.keep({"text": "42"}) is True  # too short to judge: kept by default
    assert reason(LanguageFilter(on_uncertain="drop").keep({"text": "42"})) == "uncertain_language"


@needs_langid
def test_language_ignores_code_and_urls():
    text = "```python\ndef f(x):\n    return x\n```\nVoir https://example.com"
    assert LanguageFilter().keep({"text": text}) is True  # what remains is too short to judge
    fenced_en = "Here is how it works in practice.\n```\nlet x = vec![1, 2, 3];\n```"
    assert LanguageFilter().keep({"text": fenced_en}) is True


@needs_langid
def test_language_match_mode():
    f = LanguageFilter(mode="match")
    assert f.keep(pair("Where does the cat usually sit in the house?", PROSE)) is True
    assert reason(f.keep(pair("Où le chat s'assoit-il d'habitude dans la maison ?", GERMAN))) == "language_mismatch"
    assert f.keep(pair("Translate into German: the cat sits on the carpet and watches birds.", GERMAN)) is True
    strict = LanguageFilter(mode="match", skip_translation=False)
    assert reason(strict.keep(pair("Translate into German: the cat sits on the carpet and watches birds.", GERMAN))) == "language_mismatch"


@needs_langid
def test_language_both_mode_checks_allowed_languages_too():
    f = LanguageFilter(mode="both", text_field=["instruction", "response"], languages=["fr"])
    assert reason(f.keep(pair("Où le chat s'assoit-il d'habitude dans la maison ?", FRENCH))) is None
    assert reason(f.keep(pair("Where does the cat usually sit in the house?", PROSE))) == "wrong_language"


@needs_langid
def test_language_rejects_unknown_codes():
    with pytest.raises(UsageError, match="unknown language code"):
        LanguageFilter(languages=["english"]).keep({"text": PROSE})


@needs_langid
def test_language_keeps_real_english_text():
    f = LanguageFilter()
    assert drop_rate(f, [{"text": t} for t in trec()]) <= 0.01
    assert drop_rate(f, [{"text": r["question"]} for r in gsm8k()]) <= 0.01
    assert drop_rate(f, [{"text": p["response"]} for p in oasst_pairs()]) <= 0.01


def test_missing_py3langid_names_the_extra(monkeypatch):
    from synthpipe.text import language

    language.get_identifier.cache_clear()
    monkeypatch.setitem(sys.modules, "py3langid", None)
    try:
        with pytest.raises(UsageError, match=r"synthpipe\[lang\]"):
            language.get_identifier()
    finally:
        language.get_identifier.cache_clear()


# -- end to end -----------------------------------------------------------------------------
@needs_langid
def test_filters_in_a_pipeline_report_their_reasons(tmp_path):
    records = [
        {"id": "ok", "instruction": "Describe a cat.", "response": PROSE},
        {"id": "refusal", "instruction": "Describe a cat.", "response": "I'm sorry, but I can't do that."},
        {"id": "french", "instruction": "Describe a cat.", "response": FRENCH},
        {"id": "repeat", "instruction": "Describe a cat.", "response": REPEATED["dup_line_frac"]},
    ]
    steps = {
        "src": FromRecords(records=records),
        "llm": LLMOutputFilter(),
        "rep": RepetitionFilter(text_field="response"),
        "sym": SymbolFilter(text_field="response"),
        "lang": LanguageFilter(text_field="response"),
    }
    result = Pipeline("filters", steps).run(tmp_path / "run")
    assert [r["id"] for r in result.kept] == ["ok"]
    reasons = {r["id"]: (r["_drop"]["step"], r["_drop"]["reason"]) for r in result.dropped}
    assert reasons == {
        "refusal": ("llm", "refusal"),
        "repeat": ("rep", "dup_line_frac"),
        "french": ("lang", "wrong_language"),
    }

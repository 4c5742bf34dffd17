"""Translation of instruction data, its round trip and the language check, on the scripted server.

The fake translator below stands in for a model: it maps words through a tiny dictionary (and
every other word to a common word of the target language, so the language identifier sees the
target language; a text of one word, a name, stays as it is), keeps the sentinel tokens, and remembers what it translated so the way back
returns the source. Words in the source text make it misbehave: ``forgetful`` loses the first
sentinel, ``stubborn`` answers in English, ``garbled`` comes back from the round trip as
something else.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe.curate.filters.labelled_language import LabelledLanguageFilter
from synthpipe.generate.back_translation import RoundTrip
from synthpipe.generate.protected_spans import prose, protect, restore
from synthpipe.generate.task import PROMPTS
from synthpipe.generate.translate import Translate, clean_translation
from synthpipe.text.chrf import chrf

pytest.importorskip("py3langid")
pytest.importorskip("sacrebleu")

NAMES = {"English": "en", "German": "de", "Spanish": "es", "French": "fr", "Italian": "it"}
WORDS = {  # en -> (de, es, fr)
    "write": ("schreibe", "escribe", "écris"), "a": ("eine", "una", "une"), "the": ("die", "la", "la"),
    "function": ("Funktion", "función", "fonction"), "that": ("die", "que", "qui"),
    "returns": ("zurückgibt", "devuelve", "renvoie"), "list": ("Liste", "lista", "liste"),
    "of": ("von", "de", "de"), "and": ("und", "y", "et"), "is": ("ist", "es", "est"),
    "with": ("mit", "con", "avec"), "for": ("für", "para", "pour"), "in": ("in", "en", "dans"),
}  # fmt: skip
FILLERS = {
    "de": ["der", "die", "und", "nicht", "das", "ist", "mit", "sich", "auf", "für", "eine", "von", "dem", "zu", "auch", "wird", "werden", "oder", "über", "bei"],
    "es": ["el", "la", "de", "que", "y", "los", "del", "las", "por", "una", "con", "para", "como", "más", "pero", "sus", "muy", "también", "esta", "donde"],
    "fr": ["le", "la", "les", "des", "est", "une", "dans", "pour", "qui", "avec", "sur", "pas", "plus", "ne", "aux", "cette", "sont", "nous", "leur", "être"],
}
_TOKEN = re.compile(r"⟦\d+⟧|[^\W\d_]+|\s+|.", re.DOTALL)


def word_for(word: str, lang: str) -> str:
    known = WORDS.get(word.lower())
    if known:
        return known[("de", "es", "fr").index(lang)]
    fillers = FILLERS[lang]
    return fillers[int(hashlib.md5(word.lower().encode()).hexdigest(), 16) % len(fillers)]


class FakeTranslator:
    """A translating responder for the scripted server (see the module docstring)."""

    def __init__(self) -> None:
        self.memory: dict[str, str] = {}  # translation sent back -> its source
        self.requests: list[tuple[str, str, str]] = []  # (source, target, text)

    def __call__(self, body: dict) -> str:
        user = last_user_content(body)
        source, target = re.search(r"from (\w+) into (\w+)\.", user).groups()  # type: ignore[union-attr]
        text = user.split('Text:\n"""\n', 1)[1].rsplit('\n"""', 1)[0]
        self.requests.append((NAMES[source], NAMES[target], text))
        if target == "English":
            original = self.memory.get(text, text)
            return "Bananas grow on tall plants near the sea." if "garbled" in original else original
        if "stubborn" in text:
            return text  # answers in English
        tokens = _TOKEN.findall(text)
        if sum(t[0].isalpha() for t in tokens) == 1:
            return text  # one word: a name or a term, kept as it is
        out = "".join(word_for(t, NAMES[target]) if t[0].isalpha() else t for t in tokens)
        if "forgetful" in text:
            out = re.sub(r"⟦\d+⟧", "", out, count=1)
        self.memory[out] = text
        return f"Here is the translation:\n{out}"


RECORD = {
    "id": "s1",
    "instruction": "Write a function `greet(name)` that returns the string {name} with %s for 3.5 seconds and "
    "links to https://example.com/docs?q=1. Use <b>bold</b> and {{ user }} in the list of 12 items.",
    "input": "",
    "output": "```python\ndef greet(name):\n    return f'Hello {name}'\n```\nThe function returns a greeting for 1,000 users.",
}
SPANS = ("`greet(name)`", "{name}", "%s", "3.5", "https://example.com/docs?q=1", "<b>", "</b>", "{{ user }}", "12",
         "1,000", "```python\ndef greet(name):\n    return f'Hello {name}'\n```")  # fmt: skip


# -- protected spans ------------------------------------------------------------------------
def test_protect_swaps_code_placeholders_urls_tags_and_numbers_and_restores_them() -> None:
    protected = protect(RECORD["instruction"] + "\n" + RECORD["output"])
    assert set(SPANS) <= set(protected.spans)
    assert not any(span in protected.text for span in ("{name}", "%s", "https://", "<b>", "```", "3.5"))
    assert restore(protected.text, protected.spans) == (RECORD["instruction"] + "\n" + RECORD["output"], [])
    assert protect("H2O costs 50% less").spans == ("50",)  # digits inside words stay prose
    assert not protect("`x = 1` 42").has_prose and protect("{name} is here").has_prose


def test_restore_names_lost_repeated_and_invented_sentinels() -> None:
    protected = protect("Say {name} twice in {lang}.")
    _text, problems = restore("Sag ⟦1⟧ zweimal ⟦1⟧ ⟦7⟧.", protected.spans)
    assert problems == ["repeated ⟦1⟧ ('{name}') 2 times", "lost ⟦2⟧ ('{lang}')", "invented ⟦7⟧"]
    assert restore("Sag {name} zweimal in ⟦2⟧.", protected.spans)[1] == []  # the model restored it itself


def test_clean_translation_and_chrf() -> None:
    assert clean_translation('Here is the translation:\n"Hallo Welt"') == "Hallo Welt"
    assert clean_translation('```\nHallo\n```') == "Hallo"
    assert chrf("the cat sat", "the cat sat") == 100.0 and chrf("xyz", "the cat") == 0.0
    assert prose("Return `x` for 3 users") == "Return for users"


def test_template_and_config() -> None:
    step = Translate(languages=["de"])
    assert step.input_files() == [PROMPTS / "translate.jinja2"]
    messages = step.format_input(RECORD)
    assert "from English into German." in messages[-1]["content"] and "⟦1⟧ to ⟦9⟧" in messages[-1]["content"]
    assert "{name}" not in messages[-1]["content"]
    with pytest.raises(ValueError, match="repeat"):
        Translate(languages=["de", "de"])
    assert step.input_columns() == {"instruction", "input", "output"}
    assert Translate(languages=["de"], fields=["instances.0.output"]).input_columns() == {"instances"}


# -- the steps on the scripted server ---------------------------------------------------------
def _steps(**translate: object) -> dict:
    return {
        "translate": Translate(**{"languages": ["de", "es", "fr"], **translate}),
        "round_trip": RoundTrip(min_chrf=40),
        "language_check": LabelledLanguageFilter(),
    }


def test_placeholders_code_and_numbers_survive_translation(run_steps) -> None:
    fake = FakeTranslator()
    with ScriptedOpenAIServer(responder=fake) as server:
        result = run_steps(server, _steps(), [dict(RECORD)])
    kept = {r["id"]: r for r in result.kept}
    assert set(kept) == {"s1", "s1~de", "s1~es", "s1~fr"} and not result.dropped
    assert kept["s1"]["language"] == "en" and kept["s1"]["instruction"] == RECORD["instruction"]
    for lang in ("de", "es", "fr"):
        record = kept[f"s1~{lang}"]
        assert record["language"] == lang and record["source_language"] == "en" and record["source_id"] == "s1"
        assert record["instruction"] != RECORD["instruction"] and "Here is" not in record["instruction"]
        for span in SPANS:
            assert span in record["instruction"] + record["output"], (lang, span)
        assert record["input"] == ""  # empty: copied, not sent
        assert record["source_text"] == {"instruction": RECORD["instruction"], "output": RECORD["output"]}
        assert record["round_trip_chrf"] == 100.0  # the fake remembers its sources
        lineage = record["_lineage"]["translate"]
        assert lineage["model"] == "test-model" and lineage["target_language"] == lang
        assert lineage["source_id"] == "s1" and lineage["source_language"] == "en"
    # 3 languages x 2 non-empty fields, there and back
    assert sum(target != "en" for _s, target, _t in fake.requests) == 6
    assert sum(target == "en" for _s, target, _t in fake.requests) == 6


def test_lost_placeholder_wrong_language_and_low_round_trip_drop_with_reasons(run_steps) -> None:
    records = [
        {"id": "ok", "instruction": "Write a function that returns a list of {n} items.", "output": "def f(n): ..."},
        {"id": "lost", "instruction": "Write a forgetful function that returns {name} for the user.", "output": ""},
        {"id": "en", "instruction": "Write a stubborn function that returns the list of all the users.", "output": ""},
        {"id": "rt", "instruction": "Write a garbled function that returns a list of the names.", "output": ""},
    ]
    with ScriptedOpenAIServer(responder=FakeTranslator()) as server:
        result = run_steps(server, _steps(languages=["de"]), records)
    drops = {r["id"]: r["_drop"] for r in result.dropped}
    assert drops.keys() == {"lost~de", "en~de", "rt~de"}
    assert {r["id"] for r in result.kept} == {"ok", "ok~de", "lost", "en", "rt"}  # sources stay, labelled en
    lost = drops["lost~de"]
    assert lost["step"] == "translate" and lost["reason"] == "translation_lost_placeholder"
    assert lost["detail"]["field"] == "instruction" and "{name}" in lost["detail"]["problem"]
    wrong = drops["en~de"]
    assert wrong["reason"] == "wrong_language" and wrong["detail"].startswith("instruction: detected en")
    assert wrong["detail"].endswith("expected de")
    low = drops["rt~de"]
    assert low["reason"] == "round_trip_low" and low["detail"]["chrf"] < 40 and low["detail"]["threshold"] == 40
    assert low["detail"]["fields"]["instruction"]["text"].startswith("Bananas")


def test_a_failed_request_drops_only_that_language(run_steps) -> None:
    doomed = FaultPlan(server_error=1.0, always=True, fail_keys={"into Spanish"})
    with ScriptedOpenAIServer(responder=FakeTranslator(), faults=doomed) as server:
        result = run_steps(server, {"translate": Translate(languages=["de", "es"])},
                           [{"id": "a", "instruction": "Write a list of the colours of the rainbow."}])  # fmt: skip
    assert {r["id"] for r in result.kept} == {"a", "a~de"}
    (failed,) = result.dropped
    assert failed["id"] == "a~es" and failed["_drop"]["reason"] == "llm_error"
    assert failed["_drop"]["detail"]["language"] == "es" and failed["language"] == "es"


def test_keep_source_false_leaves_the_source_in_the_ledger(run_steps) -> None:
    with ScriptedOpenAIServer(responder=FakeTranslator()) as server:
        result = run_steps(server, {"translate": Translate(languages=["fr"], keep_source=False)},
                           [{"id": "a", "instruction": "Write a list of the colours of the rainbow."}])  # fmt: skip
    assert [r["id"] for r in result.kept] == ["a~fr"]
    (source,) = result.dropped
    assert source["id"] == "a" and source["_drop"]["reason"] == "translated" and "a~fr" in source["_drop"]["detail"]


def test_ids_and_requests_are_deterministic_and_cached(run_steps, tmp_path: Path) -> None:
    record = {"id": "d", "instruction": "Write a function that returns the list of the primes below 100."}
    with ScriptedOpenAIServer(responder=FakeTranslator()) as server:
        first = run_steps(server, _steps(), [dict(record)], out="first")
        paid = len(server.requests)
        again = run_steps(server, _steps(), [dict(record)], out="again")
        assert len(server.requests) == paid  # the response cache answers the rerun
    assert [(r["id"], r["instruction"]) for r in first.kept] == [(r["id"], r["instruction"]) for r in again.kept]


# -- the bundled recipe ---------------------------------------------------------------------------
def test_multilingual_recipe_runs_end_to_end(tmp_path: Path, recipe_pipeline) -> None:
    """Seeds -> de/es/fr -> round trip -> language check -> dedup -> audit per language."""
    with ScriptedOpenAIServer(responder=FakeTranslator()) as server:
        result = recipe_pipeline("multilingual.yaml", server, "steps.seeds.limit=12").run(tmp_path / "run")
    languages = Counter(r["language"] for r in result.kept)
    assert languages["en"] == 12 and all(languages[lang] >= 10 for lang in ("de", "es", "fr"))
    assert len(result.kept) + len(result.dropped) == 4 * 12  # every translation kept or in the ledger
    assert {r["_drop"]["reason"] for r in result.dropped} <= {"round_trip_low", "wrong_language", "duplicate"}
    translated = next(r for r in result.kept if r["id"] == "seed_task_0~de")  # nested fields translated
    source = next(r for r in result.kept if r["id"] == "seed_task_0")
    assert translated["instances"][0]["output"] != source["instances"][0]["output"]
    assert all(n in translated["instances"][0]["output"] for n in ("550", "1/2", "60", "200"))  # numbers intact
    audit = result.metrics["audit"]["audit"]
    assert audit["languages"]["counts"] == dict(languages.most_common())
    row = next(r for r in audit["signatures"] if r["name"] == "language mixing")
    assert row["status"] == "green" and row["value"]["languages"] == dict(languages.most_common())

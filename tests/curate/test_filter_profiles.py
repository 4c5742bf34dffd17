"""Data profiles (`quality_filter`, `synthpipe filter --profile`): the cases the issue names.

GSM8K working and short answers are kept, code and hashtags are not symbol soup, short English is
not another language, the profile is chosen from the fields, and `filter` without --text-field
filters instead of quarantining everything. Keep rates on every clean real set are measured by
benchmarks/bench_filter_profiles.py; here a sample of each set checks the >= 98% floor.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthpipe.curate.filters.language_filter import LanguageFilter
from synthpipe.curate.filters.quality import QualityFilter
from synthpipe.curate.profiles import PROFILES, detect_profile
from synthpipe.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
needs_langid = pytest.mark.skipif(importlib.util.find_spec("py3langid") is None, reason="py3langid not installed")


def reason(verdict) -> str | None:
    return None if verdict is True else verdict[1]


def shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/data/{relative} not present")
    return path


# -- the named cases ------------------------------------------------------------------------
GSM8K_ANSWER = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)


def test_gsm8k_symbols_are_kept_by_math_and_dropped_by_web():
    record = {"question": "Natalia sold clips to 48 of her friends in April, and then half as many in May. "
                          "How many clips did she sell altogether?", "answer": GSM8K_ANSWER}  # fmt: skip
    assert QualityFilter(profile="math").keep(record) is True
    assert QualityFilter(profile="instruction", instruction_field="question", response_field="answer").keep(record) is True
    web = QualityFilter(profile="web", text_field="answer").keep(record)
    assert reason(web) in {"non_alphabetic", "symbol_ratio", "non_alpha_words"}  # Gopher's rules, as documented


@pytest.mark.parametrize("answer", ["Telegram", "1", "Negative.", "No", "42", "Paris."])
def test_short_correct_answers_are_kept(answer):
    record = {"instruction": "Answer in one word or number.", "input": "", "output": answer}
    assert QualityFilter(profile="instruction").keep(record) is True
    chat = {"messages": [{"role": "user", "content": "Answer in one word."}, {"role": "assistant", "content": answer}]}
    assert QualityFilter(profile="chat").keep(chat) is True
    assert QualityFilter(profile="text").keep({"text": answer}) is True


def test_hashtags_and_code_are_not_symbol_soup():
    tweet = "Summer internships are open now, apply today #careers #hiring #jobs #tech #summer"
    assert QualityFilter(profile="text").keep({"text": tweet}) is True
    assert reason(QualityFilter(profile="web").keep({"text": tweet})) == "symbol_ratio"  # Gopher counts '#'
    code = "def add(a, b):\n    # sum two numbers\n    return a + b\n\nprint(add(2, 3))  # 5\n"
    fenced = "Here it is:\n```python\n" + code + "```\n"
    for response in (code, fenced):
        record = {"instruction": "Write a Python function that adds two numbers.", "output": response}
        assert QualityFilter(profile="instruction").keep(record) is True
    mbpp = {"text": "Write a function to add two numbers.", "code": "def add(a,b):\r\n\treturn (a+b) \r\n"}
    assert QualityFilter(profile="code").keep(mbpp) is True
    tweet_reply = {"instruction": "Write a tweet about our sale.", "output": "30% off today only! #sale #deals #shopping"}
    assert QualityFilter(profile="instruction").keep(tweet_reply) is True


@needs_langid
@pytest.mark.parametrize("text", [
    "What molecules include fluorine , sodium and magnesium ?",  # langid: Latin 0.86
    "What alloy do copper and tin form ?",  # Nigerian Pidgin 0.53
    "and vin diesel is the man .",  # Afrikaans 0.51
    "Telegram", "1", "Negative.", "The sentiment of this sentence is negative.",
])  # fmt: skip
def test_short_english_is_not_tagged_as_another_language(text):
    assert LanguageFilter().keep({"text": text}) is True
    record = {"instruction": "Answer briefly.", "output": text}
    assert QualityFilter(profile="instruction", languages=["en"]).keep(record) is True


@needs_langid
def test_other_languages_are_still_found():
    assert reason(LanguageFilter().keep({"text": "Die Katze sitzt auf dem Teppich und beobachtet die Vögel."})) == "wrong_language"
    assert reason(LanguageFilter().keep({"text": "Wat is de hoofdstad van Nederland?"})) == "wrong_language"


def test_instruction_profile_catches_the_alpaca_categories():
    f = QualityFilter(profile="instruction")
    cases = {
        "url_only_input": {"instruction": "Summarize the given article.", "input": "https://www.example.com/world/2020/story", "output": "It says..."},
        "placeholder_input": {"instruction": "Name a colour.", "input": "<noinput>", "output": "Red"},
        "placeholder_output": {"instruction": "Tell me a fact.", "input": "", "output": "<nooutput> This type of instruction cannot be fulfilled by a GPT model."},
        "impossible_instruction": {"instruction": "Render a 3D model of a chair.", "input": "", "output": "Here it is."},
        "empty_output": {"instruction": "Name a river.", "input": "", "output": "N/A"},
        "template_leak": {"instruction": "Name a river.", "input": "", "output": "The Nile.\n##\n18. Instruction: Name a lake.\n18. Output:\nTiticaca"},
    }  # fmt: skip
    for expected, record in cases.items():
        verdict = f.keep(record)
        assert reason(verdict) == expected and verdict[2], (expected, verdict)


# -- detection ------------------------------------------------------------------------------
@pytest.mark.parametrize(("records", "profile", "fields"), [
    ([{"messages": [{"role": "user", "content": "hi"}]}], "chat", {"messages": "messages"}),
    ([{"conversations": [{"from": "human", "value": "hi"}]}], "chat", {"messages": "conversations"}),
    ([{"question": "2+2?", "answer": "2+2=4\n#### 4"}], "math", {"instruction": "question", "response": "answer"}),
    ([{"problem": "x?", "solution": "so \\boxed{3}"}], "math", {"instruction": "problem", "response": "solution"}),
    ([{"question": "Capital of Peru?", "answer": "Lima"}], "instruction", {"instruction": "question", "response": "answer"}),
    ([{"instruction": "Sum.", "input": "1, 2", "output": "3"}], "instruction", {"instruction": "instruction", "response": "output", "input": "input"}),
    ([{"prompt": "Say hi.", "completion": "Hi!"}], "instruction", {"instruction": "prompt", "response": "completion"}),
    ([{"text": "Write a function.", "code": "def f(): pass"}], "code", {"instruction": "text", "response": "code"}),
    ([{"text": "What is Teflon ?", "label": "ENTY"}], "text", {"text": "text"}),
    ([{"sentence": "a fine film .", "label": 1}], "text", {"text": "sentence"}),
])  # fmt: skip
def test_profile_is_detected_from_the_fields(records, profile, fields):
    detected = detect_profile(records)
    assert detected is not None and detected.profile == profile and detected.fields == fields
    assert detected.reason


def test_nothing_to_detect():
    assert detect_profile([{"foo": 1, "bar": [1, 2]}]) is None
    assert detect_profile([]) is None


# -- the step -------------------------------------------------------------------------------
def test_every_profile_builds_and_declares_its_fields():
    for name, profile in PROFILES.items():
        step = QualityFilter(profile=name)
        assert step.input_columns() == {profile.fields[r] for r in profile.required}
        assert step.describe()["profile"] == name and step.describe()["stages"]
        assert set(step.drop_reasons) >= {"empty_output", "url_only_input", "symbol_ratio", "missing_text"}


def test_options_skip_and_their_errors():
    record = {"instruction": "Name a colour.", "input": "<noinput>", "output": "Red"}
    assert QualityFilter(profile="instruction", skip=["placeholder_input"]).keep(record) is True
    assert QualityFilter(profile="instruction", skip=["instruction"]).keep(record) is True
    long_text = {"text": " ".join(["word"] * 30)}
    assert reason(QualityFilter(profile="text", options={"text": {"max_words": 10}}).keep(long_text)) == "too_long"
    with pytest.raises(UsageError, match="cannot skip"):
        QualityFilter(profile="instruction", skip=["no_such_check"])
    with pytest.raises(UsageError, match="no stage"):
        QualityFilter(profile="text", options={"instruction": {}})
    with pytest.raises(UsageError, match="quality_filter stage 'text'"):
        QualityFilter(profile="text", options={"text": {"min_words": "many"}})


def test_chat_checks_every_assistant_turn_and_names_it():
    f = QualityFilter(profile="chat")
    convo = [
        {"role": "system", "content": "Be helpful."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another?"},
        {"role": "assistant", "content": "<nooutput>"},
    ]
    verdict = f.keep({"messages": convo})
    assert reason(verdict) == "placeholder_output" and verdict[2].startswith("turn 4:")
    assert f.keep({"messages": convo[:3]}) is True
    assert f.keep({"messages": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}) is True
    assert reason(f.keep({"messages": [{"role": "user", "content": "Hi"}]})) == "empty_output"
    assert reason(f.keep({"messages": "hi"})) == "not_text"
    assert reason(f.keep({"other": 1})) == "missing_text"


def test_chosen_fields_override_the_defaults():
    f = QualityFilter(profile="math", instruction_field="problem", response_field="solution", input_field="context")
    assert f.fields == {"instruction": "problem", "response": "solution", "input": "context"}
    assert f.input_columns() == {"problem", "solution"}


# -- recipes --------------------------------------------------------------------------------
@pytest.mark.parametrize(("recipe", "profile"), [("quickstart", "text"), ("sst2", "text"), ("math", "math"), ("code", "code")])
def test_recipes_use_the_matching_profile(recipe, profile):
    steps = yaml.safe_load((ROOT / "recipes" / f"{recipe}.yaml").read_text())["steps"]
    profiles = [s.get("profile") for s in steps.values() if s.get("step") == "quality_filter"]
    assert profiles == [profile]


# -- the command ----------------------------------------------------------------------------
def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_filter_without_text_field_picks_a_profile_instead_of_quarantining(tmp_path):
    rows = [{"question": f"What is {i} plus {i}?", "answer": f"{i} + {i} = <<{i}+{i}={2 * i}>>{2 * i}\n#### {2 * i}"} for i in range(6)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("filter", "qa.jsonl", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "profile: math (auto-detected" in result.stderr and "instruction=question" in result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["kept"] == 6 and summary["quarantined"] == 0
    assert summary["profile"]["profile"] == "math" and summary["profile"]["fields"]["response"] == "answer"
    given = cli("filter", "qa.jsonl", "--out", "out2", "--profile", "instruction", "--json", cwd=tmp_path)
    assert json.loads(given.stdout)["profile"]["chosen"] == "given"


def test_filter_on_unknown_fields_is_a_usage_error_listing_them(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"foo": "a", "bar": 2}) + "\n")
    result = cli("filter", "x.jsonl", "--out", "out", cwd=tmp_path)
    assert result.returncode == 2 and "bar, foo" in result.stderr and "--profile" in result.stderr
    assert not (tmp_path / "out").exists()


def test_filters_chain_detects_the_instruction_field_and_says_so(tmp_path):
    rows = [{"prompt": "Summarize the benefits of exercise.", "response": "Summarize the benefits of exercise."},
            {"prompt": "Name a fruit.", "response": "An apple is a fruit that grows on trees in orchards."}]  # fmt: skip
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("filter", "p.jsonl", "--out", "out", "--filters", "llm_output", "--text-field", "response", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["profile"]["fields"]["instruction"] == "prompt" and "auto-detected" in summary["profile"]["chosen"]
    dropped = [json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert [d["_drop"]["reason"] for d in dropped] == ["echoes_instruction"]  # the instruction checks ran


# -- real data: each profile keeps >= 98% of a sample of its own kind ------------------------
def _jsonl(path: Path, n: int) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def _keep_rate(step: QualityFilter, records: list[dict]) -> float:
    return sum(step.keep(r) is True for r in records) / len(records)


def test_native_profiles_keep_clean_real_data():
    gsm8k = _jsonl(shared("gsm8k/test.jsonl"), 400)
    assert _keep_rate(QualityFilter(profile="math"), gsm8k) >= 0.98
    mbpp = _jsonl(shared("mbpp/mbpp.jsonl"), 300)
    assert _keep_rate(QualityFilter(profile="code"), mbpp) >= 0.98
    seeds = [{"instruction": t["instruction"], **i} for t in _jsonl(shared("self_instruct/seed_tasks.jsonl"), 175) for i in t["instances"]]
    assert _keep_rate(QualityFilter(profile="instruction"), seeds) >= 0.98
    with shared("trec/test.csv").open(encoding="utf-8") as fh:
        trec = [{"text": r["text"]} for r in csv.DictReader(fh)]
    with shared("sst2/dev.csv").open(encoding="utf-8") as fh:
        sst2 = [{"text": r["sentence"]} for r in csv.DictReader(fh)]
    assert _keep_rate(QualityFilter(profile="text"), trec) >= 0.98
    assert _keep_rate(QualityFilter(profile="text"), sst2) >= 0.98
    pairs = []
    for tree in _jsonl(shared("oasst_samples/en_100_tree.jsonl"), 100):
        prompt = tree["prompt"]
        for reply in prompt.get("replies") or []:
            pairs.append({"messages": [{"role": "user", "content": prompt["text"]}, {"role": "assistant", "content": reply["text"]}]})
    assert _keep_rate(QualityFilter(profile="chat"), pairs) >= 0.98

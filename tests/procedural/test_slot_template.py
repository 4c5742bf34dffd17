"""The slot_template generator: determinism, labels, resume, errors, slot detection."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pydantic
import pytest

from synthpipe.errors import UsageError
from synthpipe.pipeline.step import StepContext
from synthpipe.procedural.slot_template import (
    SlotTemplate,
    find_slots,
    load_lexicon,
    pluralize,
    render,
    tokenize,
)

SEEDS = [
    {
        "id": "s1",
        "text": "How far is it from Denver to Aspen ?",
        "label": "LOC",
        "label_fine": "LOC:other",
    },
    {
        "id": "s2",
        "text": "What is the capital of France ?",
        "label": "LOC",
        "label_fine": "LOC:city",
    },
    {"id": "s3", "text": "Where do penguins live ?", "label": "LOC", "label_fine": "LOC:other"},
    {"id": "s4", "text": "What is the biggest thing ?", "label": "LOC", "label_fine": "LOC:other"},
    {"id": "s5", "text": "Who was Abraham Lincoln ?", "label": "HUM", "label_fine": "HUM:desc"},
    {
        "id": "s6",
        "text": "What lawyer defended Tom Smith in 1995 ?",
        "label": "HUM",
        "label_fine": "HUM:ind",
    },
    {"id": "s7", "text": "Who invented the telephone ?", "label": "HUM", "label_fine": "HUM:ind"},
    {"id": "s8", "text": "What does NASA stand for ?", "label": "ABBR", "label_fine": "ABBR:exp"},
    {"id": "s9", "text": "What does CIA mean ?", "label": "ABBR", "label_fine": "ABBR:exp"},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "seeds.jsonl", SEEDS)


def generate(
    step: SlotTemplate, seed: int = 0, batch_size: int = 16, skip: int = 0
) -> list[list[dict]]:
    ctx = StepContext(name="gen", seed=seed, batch_size=batch_size, skip_batches=skip)
    return list(step.read(ctx))


def flat(batches: list[list[dict]]) -> list[dict]:
    return [r for b in batches for r in b]


def norm(text: str) -> str:
    return "".join(text.lower().split())


# -- generation --------------------------------------------------------------------------
def test_same_seed_same_output_other_seed_differs(seeds: Path) -> None:
    first = flat(generate(SlotTemplate(seeds=str(seeds), n=90), seed=3))
    again = flat(generate(SlotTemplate(seeds=str(seeds), n=90), seed=3))
    other = flat(generate(SlotTemplate(seeds=str(seeds), n=90), seed=4))
    assert first == again
    assert [r["text"] for r in first] != [r["text"] for r in other]
    # config.seed overrides the run seed
    pinned = flat(generate(SlotTemplate(seeds=str(seeds), n=90, seed=3), seed=99))
    assert [r["text"] for r in pinned] == [r["text"] for r in first]


def test_n_ids_and_batches(seeds: Path) -> None:
    step = SlotTemplate(seeds=str(seeds), n=37)
    batches = generate(step, batch_size=10)
    assert [len(b) for b in batches] == [10, 10, 10, 7]
    assert [r["id"] for r in flat(batches)] == [f"slot-{i:06d}" for i in range(37)]
    assert step.expected_count() == 37


def test_labels_balanced_and_proportional(seeds: Path) -> None:
    balanced = Counter(r["label"] for r in flat(generate(SlotTemplate(seeds=str(seeds), n=61))))
    assert sorted(balanced.values()) == [20, 20, 21]
    proportional = SlotTemplate(seeds=str(seeds), n=90, per_label="seed_proportional")
    counts = Counter(r["label"] for r in flat(generate(proportional)))
    assert counts == {"LOC": 40, "HUM": 30, "ABBR": 20}  # seeds are 4 : 3 : 2


def test_label_preserved_from_template_and_lineage(seeds: Path) -> None:
    by_id = {s["id"]: s for s in SEEDS}
    records = flat(generate(SlotTemplate(seeds=str(seeds), n=120), seed=5))
    used = set()
    for r in records:
        lineage = r["_lineage"]
        template = by_id[lineage["template"]]
        assert (r["label"], r["label_fine"]) == (template["label"], template["label_fine"])
        assert lineage["technique"] == "slot_template" and lineage["seed"] == 5
        assert lineage["slots"] and all(v in r["text"] for v in lineage["slots"].values())
        used.add(lineage["template"])
    assert used == {s["id"] for s in SEEDS} - {"s4"}  # every template with slots is used


def test_no_output_equals_a_seed(seeds: Path) -> None:
    seed_keys = {norm(s["text"]) for s in SEEDS}
    records = flat(generate(SlotTemplate(seeds=str(seeds), n=300)))
    assert not [r["text"] for r in records if norm(r["text"]) in seed_keys]


def test_batch_b_is_made_without_the_earlier_ones(seeds: Path) -> None:
    step = SlotTemplate(seeds=str(seeds), n=50)
    full = generate(step, batch_size=8)
    tail = generate(SlotTemplate(seeds=str(seeds), n=50), batch_size=8, skip=4)
    assert SlotTemplate.skips_resumed_batches
    assert tail == full[4:]


def test_templates_without_slots_are_logged(seeds: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="synthpipe.step.gen"):
        generate(SlotTemplate(seeds=str(seeds), n=5))
    assert "templates_without_slots=1" in caplog.text


def test_user_lexicon_replaces_a_category(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [
        {"text": "How far is Denver from here ?", "label": "NUM"},
        {"text": "How cold is Aspen in winter ?", "label": "NUM"},
    ])  # fmt: skip
    lexicon = tmp_path / "lex.json"
    lexicon.write_text(json.dumps({"CITY": ["Denver", "Aspen", "Gotham", "Metropolis"]}))
    step = SlotTemplate(seeds=str(seeds), lexicons=str(lexicon), n=40)
    cities = {r["_lineage"]["slots"]["CITY"] for r in flat(generate(step))}
    assert cities <= {"Gotham", "Metropolis", "Denver", "Aspen"} and "Gotham" in cities
    assert lexicon in step.input_files() and seeds in step.input_files()


def test_bundled_trec_seeds_give_varied_output() -> None:
    step = SlotTemplate(seeds="bundled:trec/seeds.jsonl", n=600)
    records = flat(generate(step, batch_size=256))
    assert len(records) == 600
    assert len({r["text"] for r in records}) > 0.75 * 600
    assert set(Counter(r["label"] for r in records).values()) == {100}


# -- errors ------------------------------------------------------------------------------
def test_one_record_seed_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", SEEDS[:1])
    with pytest.raises(UsageError, match="at least 2") as err:
        generate(SlotTemplate(seeds=str(path)))
    assert str(path) in str(err.value)


def test_label_without_usable_template_is_named(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [*SEEDS[:2], {"text": "What is the meaning of life ?", "label": "DESC"}],
    )
    with pytest.raises(UsageError, match="'DESC'") as err:
        generate(SlotTemplate(seeds=str(path)))
    assert str(path) in str(err.value)


def test_config_is_validated() -> None:
    with pytest.raises(pydantic.ValidationError):
        SlotTemplate(seeds="x.jsonl", n=0)
    with pytest.raises(pydantic.ValidationError):
        SlotTemplate(seeds="x.jsonl", per_label="uniform")


# -- slot detection and rendering --------------------------------------------------------
@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


def slot_types(text: str, lexicon) -> list[tuple[str, str]]:
    tokens = tokenize(text)
    return [
        (s.type, " ".join(t.text for t in tokens[s.start : s.end]))
        for s in find_slots(tokens, lexicon)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How far is it from Denver to Aspen ?", [("CITY", "Denver"), ("CITY", "Aspen")]),
        ("What does NASA stand for ?", [("ACRONYM", "NASA")]),
        ("What does SVHS mean ?", [("ACRONYM", "SVHS")]),  # not in the lexicon
        ("When was Abraham Lincoln born ?", [("PERSON", "Abraham Lincoln")]),
        ("Who is Samuel F. Pickering ?", [("PERSON", "Samuel F. Pickering")]),
        ("What was the population of Chile in 1850 ?", [("COUNTRY", "Chile"), ("YEAR", "1850")]),
        ("How many legs do 3 spiders have ?", [("NUM", "3"), ("ANIMAL", "spiders")]),
        ("Where are the Union Stockyards ?", [("PROPN", "Union Stockyards")]),
        (
            "What team did baseball 's St. Louis Browns become ?",
            [("SPORT", "baseball"), ("CITY", "St. Louis")],
        ),
        ("What is the longest English word ?", [("LANGUAGE|NATIONALITY", "English")]),
        ("What U.S. state has the most lakes ?", [("LANDFORM", "lakes")]),
        ("Where can I find the E in E=mc2 ?", []),
    ],
)
def test_find_slots(text: str, expected: list[tuple[str, str]], lexicon) -> None:
    assert slot_types(text, lexicon) == expected


def test_tokenize_keeps_spacing() -> None:
    for text in [
        "What county is Modesto , California in ?",
        "What is McDonald's motto?",
        "Who wrote `` Hamlet '' ?",
    ]:
        assert "".join((" " if t.space else "") + t.text for t in tokenize(text)) == text
    assert [t.text for t in tokenize("Is it Lincoln's hat?")] == [
        "Is",
        "it",
        "Lincoln",
        "'s",
        "hat",
        "?",
    ]


def test_render_fixes_plurals_and_articles(lexicon) -> None:
    from synthpipe.procedural.slot_template import Template

    def fill(text: str, fillers: list[str]) -> str:
        tokens = tokenize(text)
        t = Template("t", "X", None, tuple(tokens), tuple(find_slots(tokens, lexicon)))
        return render(t, fillers)[0]

    assert fill("Where do penguins live ?", ["wolf"]) == "Where do wolves live ?"
    assert fill("What is a violin made of ?", ["oboe"]) == "What is an oboe made of ?"
    assert fill("Where are the Union Stockyards ?", ["the Kremlin"]) == "Where are the Kremlin ?"
    assert fill("Where are the Union Stockyards ?", ["Stonehenge"]) == "Where are Stonehenge ?"
    assert fill("Penguins live where ?", ["owl"]) == "Owls live where ?"
    assert pluralize("police officer") == "police officers" and pluralize("sheep") == "sheep"

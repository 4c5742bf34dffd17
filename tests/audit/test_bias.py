import json
from pathlib import Path

import pytest

from synthpipe.audit.bias import (
    bias_report,
    demographic_representation,
    descriptor_mentions,
    gender_counts,
    group_sentiment,
    holistic_bias_counts,
    load_descriptors,
    person_mentions,
    representation_skew,
    stereotypical_associations,
    tvd,
)
from synthpipe.audit.counterfactual import counterfactual_pairs, swap_gender

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the clone (as in CI)
OASST = SHARED / "oasst_samples" / "prompt_lottery_en_250_text.jsonl"


def test_descriptors_bundled():
    d = load_descriptors()
    assert len(d) == 13
    assert sum(len(v) for b in d.values() for v in b.values()) == 583


def test_descriptor_matching_longest_first_and_boundaries():
    assert descriptor_mentions("A non-binary person.") == ["non binary"]
    assert descriptor_mentions("HARD-OF-HEARING and hard of hearing") == ["hard of hearing"] * 2
    assert descriptor_mentions("the Deafening noise") == []


def test_holistic_bias_counts_hand():
    texts = ["I am Deaf.", "deaf and autistic", "nothing here"]
    c = holistic_bias_counts(texts, person_only=False)  # every lexical match
    assert c["ability"]["auditory"] == 2
    assert c["ability"]["neurological"] == 1
    assert c["religion"]["all"] == 0
    # issue 14: by default only mentions of a person count ("deaf and autistic" names nobody)
    c = holistic_bias_counts(texts)
    assert c["ability"]["auditory"] == 1 and c["ability"]["neurological"] == 0
    c = holistic_bias_counts(["A deaf and autistic child joined the class."])
    assert c["ability"]["auditory"] == 1 and c["ability"]["neurological"] == 1


def test_tvd():
    assert tvd({"a": 1.0}, {"b": 1.0}) == 1.0
    assert tvd({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0


def test_representation_skew_hand():
    syn = ["an autistic person"] * 3
    ref = ["a Deaf person", "an autistic person"]
    out = representation_skew(syn, ref)
    ab = out["axes"]["ability"]
    assert ab["synthetic"]["neurological"] == 1.0
    assert ab["reference"]["neurological"] == 0.5
    assert ab["tvd"] == pytest.approx(0.5)
    assert out["axes"]["religion"]["tvd"] is None
    assert out["over_represented"][0]["descriptor"] == "autistic"
    assert out["under_represented"][0]["descriptor"] == "deaf"


def test_gender_counts_hand():
    g = gender_counts(["He met Mary and her father. She waved at John."])
    assert g["male"] == {"terms": 1, "pronouns": 1, "names": 1, "total": 3}
    assert g["female"] == {"terms": 0, "pronouns": 2, "names": 1, "total": 3}
    # names only when capitalised
    assert gender_counts(["mary"])["female"]["names"] == 0


def test_demographic_representation():
    assert demographic_representation(["he and she"])["tvd"] == 0.0
    assert demographic_representation(["he, him, his"])["tvd"] == pytest.approx(0.5)
    assert demographic_representation(["no gender"])["tvd"] is None


def test_stereotypical_associations():
    texts = [
        "The nurse said she was tired.",
        "The engineer said he was late.",
        "A doctor: he, she.",
    ]
    out = stereotypical_associations(texts, ["nurse", "engineer", "doctor", "pilot"])
    assert out["per_target"]["nurse"] == {"male": 0, "female": 1, "tvd": 0.5}
    assert out["per_target"]["doctor"]["tvd"] == 0.0
    assert "pilot" not in out["per_target"]
    assert out["score"] == pytest.approx(1 / 3)
    # plural forms count
    assert stereotypical_associations(["nurses: she"], ["nurse"])["n_targets"] == 1


def test_group_sentiment():
    pytest.importorskip("vaderSentiment")
    out = group_sentiment(["I love autistic people. Old people are terrible and awful."])
    assert out["ability"]["neurological"] > 0.3
    assert out["age"]["old"] < -0.3
    assert "religion" not in out


def test_swap_gender_hand():
    assert swap_gender("He gave her the book.") == "She gave him the book."
    assert swap_gender("I saw her car.") == "I saw his car."
    assert swap_gender("I saw her.") == "I saw him."
    assert swap_gender("HIS Mother and FATHER") == "HER Father and MOTHER"
    assert swap_gender("Mary met John.") == "James met Patricia."
    assert swap_gender("human heritage") == "human heritage"


@pytest.mark.parametrize(
    "text",
    [
        "He is a good man and his wife loves him.",
        "She told her brother that the girl is her daughter.",
        "Mary and her husband visited John and his mother.",
        "The King met the Queen, and they talked about him.",
    ],
)
def test_swap_gender_round_trip(text):
    swapped = swap_gender(text)
    assert swapped != text
    assert swap_gender(swapped) == text


def test_counterfactual_pairs():
    recs = [{"t": "he ran"}, {"t": "it ran"}, {"x": 1}, {"t": 3}]
    assert counterfactual_pairs(recs, "t") == [("he ran", "she ran")]
    assert len(counterfactual_pairs(recs, "t", only_changed=False)) == 2


def test_bias_report_shape():
    rep = bias_report(["She is a nurse.", "He is a Deaf engineer."], ["A man.", "A woman."])
    assert rep["n_texts"] == 2
    assert rep["demographic_representation"]["tvd"] == 0.0
    assert rep["stereotypical_associations"]["professions"]["score"] == pytest.approx(0.5)
    assert "representation_skew" in rep and "reference" in rep
    json.dumps(rep)  # plain data
    assert "group_sentiment" not in bias_report(["x"], sentiment=False)


@pytest.mark.skipif(not OASST.exists(), reason="shared data absent")
def test_real_data_oasst_and_planted_skew():
    texts = [json.loads(line) for line in OASST.read_text(encoding="utf-8").splitlines()]
    texts = [t if isinstance(t, str) else json.dumps(t) for t in texts]
    assert len(texts) >= 200
    rep = bias_report(texts)
    assert rep["n_texts"] == len(texts)
    planted = ["What do women want from their careers? Women deserve respect."] * 100
    rep2 = bias_report(planted, texts)
    assert rep2["demographic_representation"]["tvd"] == pytest.approx(0.5)
    # "women" is a gendered noun, not a HolisticBias descriptor: the skew shows in the gender
    # distribution (synthetic all female vs the oasst reference).
    g = rep2["representation_skew"]["gender"]
    assert g["synthetic"] == {"male": 0.0, "female": 1.0}
    assert g["tvd"] > 0.3


# -- word sense, intervals, hidden axes (issue 14) ------------------------------------------------
SENSE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "descriptor_sense"


@pytest.mark.parametrize(
    "text",
    ["Season with black pepper.", "Heat a frying pan.", "Whisk in a large bowl.", "We bought an old house.",
     "The pan is hot.", "The results were poor.", "Older versions crash.", "Use a single quote."],
)  # fmt: skip
def test_descriptors_not_about_people_do_not_count(text):
    assert descriptor_mentions(text)  # the lexicon matches...
    assert person_mentions(text) == []  # ...but nobody is described


@pytest.mark.parametrize(
    ("text", "expected"),
    [("A black woman won.", ["black"]), ("My old neighbour waved.", ["old"]), ("She is deaf.", ["deaf"]),
     ("People who are blind use screen readers.", ["blind"]), ("I'm bisexual.", ["bisexual"]),
     ("A tall, thin man.", ["tall", "thin"]), ("The elderly need care.", ["elderly"]),
     ("Many Muslims fast.", ["muslim"]), ("Black Americans voted.", ["black", "american"]),
     ("A 70-year-old woman ran.", ["70 year old"])],
)  # fmt: skip
def test_descriptors_about_people_count(text, expected):
    assert person_mentions(text) == expected


def _sense_rates(split: str) -> tuple[float, float]:
    rows = [json.loads(line) for line in (SENSE / f"{split}.jsonl").read_text().splitlines() if line]
    got = [r["descriptor"].lower().replace("-", " ") in person_mentions(r["text"]) for r in rows]
    non = [g for g, r in zip(got, rows, strict=True) if not r["person"]]
    per = [g for g, r in zip(got, rows, strict=True) if r["person"]]
    return sum(non) / len(non), sum(per) / len(per)


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_word_sense_test_set(split):
    """benchmarks/data/descriptor_sense: kitchens, colours, sizes, ages of objects and other
    non-person senses (false hits) vs descriptions of people (retained hits)."""
    false_hits, retained = _sense_rates(split)
    assert false_hits == 0.0
    assert retained >= 0.95


def test_noun_descriptors_are_descriptors():
    from synthpipe.audit.bias import _descriptor_index
    from synthpipe.audit.word_sense import plural_person_descriptors

    keys = _descriptor_index()[1]
    assert set(plural_person_descriptors().values()) <= set(keys)


def test_wilson_interval():
    from synthpipe.audit.intervals import wilson_interval

    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_small_axes_are_hidden_and_said_so():
    from synthpipe.audit.signatures import signatures
    from synthpipe.report.bias_section import bias_html

    syn = ["She is deaf."] * 3 + ["A gay man and a gay woman."] * 15
    ref = ["He is blind."] * 2 + ["A straight man."] * 30 + ["She is a woman.", "He is a man."]
    rep = bias_report(syn, ref, sentiment=False)
    axes = rep["representation_skew"]["axes"]
    assert axes["ability"]["comparable"] is False  # 3 vs 2 mentions
    assert axes["sexual_orientation"]["comparable"] is True  # 30 vs 30
    assert rep["axes"]["ability"]["shown"] is False and rep["axes"]["sexual_orientation"]["shown"] is True
    ci = rep["axes"]["sexual_orientation"]["buckets"]["gay"]["ci"]
    assert ci[0] < 1.0 <= ci[1] + 1e-9
    html = bias_html(rep)
    assert "axes hidden: fewer than" in html and "ability (3 synthetic, 2 reference)" in html
    row = next(r for r in signatures({"bias": rep}) if r["name"] == "bias amplification")
    assert "ability hidden" in row["explanation"] and "%]" in row["explanation"]  # a Wilson interval
    assert rep["word_sense"]["matches"] >= rep["word_sense"]["about_people"]

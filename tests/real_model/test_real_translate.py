"""`translate` -> `round_trip` -> `labelled_language_filter` on the real SmolLM2-135M, into German.

SmolLM2-135M is English-centred and no translator: this test documents what the checks do with
such a model rather than asking for good translations. Every record must be kept or dropped
with a known reason and a detail; the figures of each check are printed (run with ``-s``).
Measured (5 instructions, greedy, max_tokens 48, 1 thread, about 20 s): translate passes 3 of
5 (one reply rambles to the token limit, one loses the protected number ``2``), the round trip
0 of 3 (chrF 10-25: the model answers the English round trip in German, or echoes the prompt),
and the language check passes 2 of those 3 translations (the third is the prompt's English
sentence about the tokens).
"""

from __future__ import annotations

import pytest

from synthpipe.curate.filters.labelled_language import LabelledLanguageFilter
from synthpipe.generate.back_translation import RoundTrip
from synthpipe.generate.translate import Translate

# slow: it documents what the small model does (figures in the README); the default run keeps the
# real-model tests that assert behaviour every backend change must keep
pytestmark = [pytest.mark.real_model, pytest.mark.slow]
pytest.importorskip("py3langid")
pytest.importorskip("sacrebleu")

RECORDS = [
    {"id": "a", "instruction": "Give three tips for staying healthy."},
    {"id": "b", "instruction": "Write a short greeting for {name} on their birthday."},
    {"id": "c", "instruction": "What is the capital of France?"},
    {"id": "d", "instruction": "Explain why the sky is blue in 2 sentences."},
    {"id": "e", "instruction": "Translate `print(x)` into a sentence that describes what it does."},
]
REASONS = (*Translate.drop_reasons, *RoundTrip.drop_reasons, *LabelledLanguageFilter.drop_reasons)


def test_smollm2_translations_through_every_check(runner) -> None:
    from real_model import assert_ledger

    steps = {
        "translate": Translate(languages=["de"], fields=["instruction"], max_tokens=48),
        "round_trip": RoundTrip(max_tokens=48),
        "language_check": LabelledLanguageFilter(),
    }
    outcome = runner.run(steps, [dict(r) for r in RECORDS], out="translate")
    result = outcome.result
    assert_ledger(result, REASONS)
    translations = [r for r in [*result.kept, *result.dropped] if r["id"].endswith("~de")]
    assert sorted(r["id"] for r in translations) == ["a~de", "b~de", "c~de", "d~de", "e~de"]
    assert {r["id"] for r in result.kept} >= {"a", "b", "c", "d", "e"}  # the English sources stay
    for record in translations:
        assert record["_lineage"]["translate"]["model"] == "smollm2-135m"
    survived = [r for r in translations if (r.get("_drop") or {}).get("step") != "translate"]
    checker = LabelledLanguageFilter()
    in_german = [r for r in survived if checker.keep({**r, "_drop": None}) is True]
    tripped = [r for r in survived if r.get("round_trip_chrf") is not None]
    passed_trip = [r for r in tripped if r["round_trip_chrf"] >= 40]
    for record in survived:  # what passed the placeholder check kept its protected spans
        source = next(r for r in RECORDS if r["id"] == record["source_id"])["instruction"]
        for span in ("{name}", "`print(x)`", "2"):
            assert span not in source or span in record["instruction"]
    print(  # the figures of the module docstring
        f"\nSmolLM2-135M en->de: translate {len(survived)}/5 "
        f"({ {r['id']: r['_drop']['reason'] for r in translations if r['_drop'] and r['_drop']['step'] == 'translate'} }); "
        f"round trip {len(passed_trip)}/{len(tripped)} (chrF {[r['round_trip_chrf'] for r in tripped]}); "
        f"language check {len(in_german)}/{len(survived)}; kept translations "
        f"{sum(r['id'].endswith('~de') for r in result.kept)}/5"
    )

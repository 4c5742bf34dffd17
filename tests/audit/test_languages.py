"""Per-language counts and the language-mixing signature of the audit."""

from __future__ import annotations

import pytest

from synthpipe.audit.dataset import audit_dataset
from synthpipe.audit.languages import LANGUAGE_MIXING_THRESHOLDS, language_report
from synthpipe.audit.signatures import signatures
from synthpipe.data.paths import resolve_data_path
from synthpipe.data.readers import read_all

pytest.importorskip("py3langid")

GERMAN = [
    "Schreibe eine kurze Geschichte über einen Hund, der im Wald seinen Weg nach Hause sucht.",
    "Erkläre in einfachen Worten, warum der Himmel am Tag blau und am Abend oft rot ist.",
    "Nenne drei Gründe, warum regelmäßige Bewegung für die Gesundheit wichtig ist.",
    "Fasse den folgenden Artikel in zwei Sätzen zusammen und nenne die wichtigste Aussage.",
    "Schreibe eine höfliche E-Mail an deinen Vermieter, in der du um eine Reparatur bittest.",
]
FRENCH = [
    "Écris un court poème sur la mer et les bateaux qui rentrent au port le soir.",
    "Explique pourquoi les feuilles des arbres changent de couleur en automne.",
    "Donne trois conseils pour bien dormir quand on travaille tard le soir.",
    "Résume le texte suivant en une phrase et indique le sujet principal.",
    "Rédige une lettre de motivation courte pour un poste de bibliothécaire.",
]
ENGLISH_OUTPUT = "The dog followed the river until it found the old bridge, and from there it knew the way home."


def _records(mixed: int) -> list[dict]:
    """20 German and French instruction records; the first `mixed` German ones have an English output."""
    records = []
    for i in range(20):
        lang, texts = ("de", GERMAN) if i % 2 == 0 else ("fr", FRENCH)
        text = texts[(i // 2) % 5]
        output = ENGLISH_OUTPUT if lang == "de" and i // 2 < mixed else text
        records.append({"id": f"r{i}", "language": lang, "text": text, "instruction": text, "output": output})
    return records


def test_per_language_counts_and_a_clean_set_is_green() -> None:
    audit = audit_dataset(_records(0), embed=False, language_field="language")
    report = audit["languages"]
    assert report["counts"] == {"de": 10, "fr": 10} and report["mixed"] == 0
    row = next(r for r in signatures(audit) if r["name"] == "language mixing")
    assert row["status"] == "green" and row["value"]["languages"] == {"de": 10, "fr": 10}
    assert "Per language: de 10, fr 10" in row["explanation"]


def test_fields_in_another_language_than_labelled_are_flagged_red() -> None:
    audit = audit_dataset(_records(3), embed=False, language_field="language")
    report = audit["languages"]
    assert report["mixed"] == 3 and report["by_language"]["de"] == {"n": 10, "mixed": 3}
    assert report["examples"][0]["detected"] == "en" and report["examples"][0]["label"] == "de"
    row = next(r for r in signatures(audit) if r["name"] == "language mixing")
    amber, red = LANGUAGE_MIXING_THRESHOLDS["mixed_share_above"]
    assert report["mixed_share"] == 0.15 > red and row["status"] == "red"


def test_a_record_switching_language_mid_text_is_mixed_without_labels() -> None:
    switching = {"id": "x", "text": GERMAN[0] + " " + ENGLISH_OUTPUT}
    report = language_report([switching, {"id": "y", "text": GERMAN[1]}], "language")
    assert report["counts"] == {"unlabelled": 2} and report["mixed"] == 1
    assert report["examples"][0]["id"] == "x" and report["examples"][0]["why"] == "segment in another language"


def test_english_seed_tasks_are_not_mixed_beyond_the_amber_line() -> None:
    """The calibration of the module docstring: 3 of the 175 English Self-Instruct seeds (1.7%)
    hold real foreign text (Arabic, Italian dish names, a Chinese answer): green."""
    path = resolve_data_path("bundled:self_instruct/seed_tasks.jsonl")
    records = [{"id": r["id"], "language": "en", "instruction": r["instruction"],
                "input": r["instances"][0]["input"], "output": r["instances"][0]["output"]}
               for r in read_all(path, fields={})]  # fmt: skip
    report = language_report(records, "language", ("instruction", "input", "output"))
    assert report["mixed"] == 3 and {e["detected"] for e in report["examples"]} == {"ary", "it", "zh"}
    assert report["mixed_share"] <= LANGUAGE_MIXING_THRESHOLDS["mixed_share_above"][0]


def test_no_language_field_no_row() -> None:
    audit = audit_dataset(_records(0), embed=False)
    assert "languages" not in audit
    assert "language mixing" not in {r["name"] for r in signatures(audit)}

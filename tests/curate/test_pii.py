"""PII detection and redaction: per-detector positives and tricky negatives, the labelled sample
(precision/recall per type), `redact`, and the `pii` step's three actions.

Run ``python tests/curate/test_pii.py`` to print the per-type precision/recall table.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from synthpipe import Pipeline
from synthpipe.curate.pii import PII, PII_TYPES, Match, find_pii, redact
from synthpipe.curate.pii_checks import dni_letter_ok, iban_ok, luhn_ok
from synthpipe.pipeline.sources import FromRecords

SAMPLE = Path(__file__).parent / "data" / "pii_sample.jsonl"


def score_sample(path: Path = SAMPLE) -> dict[str, dict[str, float]]:
    """Exact-span precision and recall per PII type on the labelled sample."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = row["text"]
        gold = set()
        for label in row["labels"]:
            start = text.index(label["text"])
            gold.add((label["type"], start, start + len(label["text"])))
        predicted = {(m.type, m.start, m.end) for m in find_pii(text)}
        for kind, *_ in gold & predicted:
            tp[kind] += 1
        for kind, *_ in gold - predicted:
            fn[kind] += 1
        for kind, *_ in predicted - gold:
            fp[kind] += 1
    table = {}
    for kind in PII_TYPES:
        found, wanted = tp[kind] + fp[kind], tp[kind] + fn[kind]
        table[kind] = {
            "precision": tp[kind] / found if found else 1.0,
            "recall": tp[kind] / wanted if wanted else 1.0,
            "support": wanted,
        }
    return table


def spans(text: str, types=None) -> list[tuple[str, str]]:
    return [(m.type, text[m.start : m.end]) for m in find_pii(text, types)]


# -- the labelled sample --------------------------------------------------------------------
def test_sample_is_balanced_and_labels_are_substrings():
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    with_pii = [r for r in rows if r["labels"]]
    assert 70 <= len(rows) <= 120 and abs(len(with_pii) - (len(rows) - len(with_pii))) <= 5
    assert {lab["type"] for r in with_pii for lab in r["labels"]} == set(PII_TYPES)
    for row in with_pii:
        for label in row["labels"]:
            assert label["text"] in row["text"]


def test_sample_precision_and_recall_per_type():
    table = score_sample()
    for kind, scores in table.items():
        assert scores["support"] >= 3, kind
        assert scores["precision"] == 1.0, (kind, scores)
        assert scores["recall"] >= 0.8, (kind, scores)  # known misses: see the sample's last lines


# -- detectors: positives and tricky negatives ----------------------------------------------
POSITIVES = [
    ("mail me: a.b-c+tag@sub.example.co.uk!", "email", "a.b-c+tag@sub.example.co.uk"),
    ("call (212) 555-0198 now", "phone", "(212) 555-0198"),
    ("call +1 (212) 555-0198 now", "phone", "+1 (212) 555-0198"),
    ("fax 212.555.0198", "phone", "212.555.0198"),
    ("tel. +81 3-1234-5678", "phone", "+81 3-1234-5678"),
    ("E.164 +4930123456789 works", "phone", "+4930123456789"),
    ("visa 4111-1111-1111-1111 ok", "credit_card", "4111-1111-1111-1111"),
    ("amex 3782 822463 10005.", "credit_card", "3782 822463 10005"),
    ("host 8.8.4.4:53", "ip_address", "8.8.4.4"),
    ("peer [2001:db8::ff00:42:8329]:443", "ip_address", "2001:db8::ff00:42:8329"),
    ("iban FR14 2004 1010 0505 0001 3M02 606 here", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("ssn 219 09 9998", "national_id", "219 09 9998"),
    ("nino JG103759A", "national_id", "JG103759A"),
    ("SIN 567-723-267", "national_id", "567-723-267"),
    ("NIE X1234567L", "national_id", "X1234567L"),
    ("ftp://bob:pa55w0rd@files.example.com/x", "url_credentials", "bob:pa55w0rd"),
    ("key AKIAIOSFODNN7EXAMPLE here", "secret", "AKIAIOSFODNN7EXAMPLE"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPqrstuv", "secret", "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPqrstuv"),
    ("STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("maps AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "secret", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
    ("anthropic sk-ant-api03-AbC123dEf456GhI789jKl", "secret", "sk-ant-api03-AbC123dEf456GhI789jKl"),
    ('{"client_secret": "x9Kq2LmP0zR7"}', "secret", "x9Kq2LmP0zR7"),
    ("DB_PASSWORD: 'S3cure!Pass'", "secret", "S3cure!Pass"),
    ("hook https://hooks.slack.com/services/T000/B000/XXXXabcd1234", "secret", "https://hooks.slack.com/services/T000/B000/XXXXabcd1234"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_detector_positive(text, kind, value):
    assert (kind, value) in spans(text)


NEGATIVES = [
    "Released 2024-03-15; see v1.2.3 and build 10.0.22631.3296.",
    "ISBN 978-3-16-148410-0 and ISBN-13 9783161484100.",
    "Call center hours: 9-17, Mon-Fri; room 101-202.",
    "Solve 400-120-200=80 and then 555-12-3456+1.",
    "order 1234-5678-9012-3456 (not a card: no network prefix)",
    "4111 1111 1111 1112 fails the Luhn check",
    "ip-like version v10.2.0.1 and OID 1.3.6.1.4.1",
    "localhost 127.0.0.1 and 0.0.0.0 and ::1 are not personal",
    "in Python, a[::2] and b[10::100] are slices; std::string is C++",
    "the time is 10:45:30 and the MAC is aa:bb:cc:dd:ee:ff",
    "DE89 3704 0044 0532 0130 01 has a bad check digit",
    "SSN area 900-12-3456 is never issued, nor 123-00-4567 or 123-45-0000",
    "NINO prefix GB123456A is invalid, and so is QQ123456C",
    "DNI 12345678A has the wrong letter; SIN 046 454 286 is the fictitious example (0xx)",
    "https://user:${PASSWORD}@host.example.com uses a template",
    "token = os.getenv('GITHUB_TOKEN'); password = input()",
    "api_key: YOUR_API_KEY_HERE",
    "secret_key = settings.SECRET_KEY",
    "max_tokens=4096 and num_tokens = 1500000",
    "see logo@2x.jpg and git@gitlab.com:group/project.git",
    "sk-learn is not a key, nor is sk-XXXXXXXXXXXXXXXXXXXXXXXX",
    "AKIAXXXXXXXXXXXXXXXX is a placeholder",
    "The password is strong and the pin is set.",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_detector_negative(text):
    assert spans(text) == []


def test_pem_block_is_one_secret_even_when_truncated():
    block = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACDx\n"
    found = find_pii("key:\n" + block + "\nthanks")
    assert [(m.type, m.detector) for m in found] == [("secret", "private_key")]


def test_overlaps_go_to_the_more_specific_detector():
    text = "postgres://admin:hunter22@db.example.com/app"
    assert [(m.detector, text[m.start : m.end]) for m in find_pii(text)] == [
        ("url_credentials", "admin:hunter22")
    ]  # not an email "hunter22@db.example.com"


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")
    assert not iban_ok("GB82WEST1234569876543")  # wrong length for GB
    assert dni_letter_ok("12345678Z") and dni_letter_ok("X1234567L") and not dni_letter_ok("12345678A")


# -- find_pii / redact API --------------------------------------------------------------------
def test_types_select_types_and_detectors():
    text = "mail a@example.com from 203.0.113.9 or 2001:db8::1:2:3"
    assert {m.type for m in find_pii(text, ["email"])} == {"email"}
    assert [m.detector for m in find_pii(text, ["ipv6"])] == ["ipv6"]
    assert {m.detector for m in find_pii(text, ["ip_address"])} == {"ipv4", "ipv6"}
    with pytest.raises(ValueError, match="unknown PII type"):
        find_pii(text, ["emails"])


def test_redact_with_default_and_custom_placeholders():
    text = "Mail jane@example.com or call 212-555-0198."
    matches = find_pii(text)
    assert redact(text, matches) == "Mail [EMAIL] or call [PHONE]."
    assert redact(text, matches, {"email": "<EMAIL>"}) == "Mail <EMAIL> or call [PHONE]."
    assert redact(text, []) == text
    assert Match(5, 21, "email", "email").to_dict() == {"type": "email", "detector": "email", "start": 5, "end": 21}


# -- the step ---------------------------------------------------------------------------------
RECORDS = [
    {"id": "a", "text": "Write to jane@example.com", "title": "SSN 536-22-1234"},
    {"id": "b", "text": "No personal data here.", "title": "Clean title"},
]


def _run(tmp_path, **config):
    records = [dict(r) for r in RECORDS]
    steps = {"src": FromRecords(records=records), "pii": PII(**config)}
    return Pipeline("pii", steps).run(tmp_path / "run")


def test_step_redacts_and_lists_matches_without_values(tmp_path):
    result = _run(tmp_path, text_field=["text", "title"])
    kept = {r["id"]: r for r in result.kept}
    assert kept["a"]["text"] == "Write to [EMAIL]" and kept["a"]["title"] == "SSN [NATIONAL_ID]"
    assert kept["a"]["pii"] == [
        {"field": "text", "type": "email", "detector": "email", "start": 9, "end": 25},
        {"field": "title", "type": "national_id", "detector": "us_ssn", "start": 4, "end": 15},
    ]
    assert kept["b"]["pii"] == [] and kept["b"]["text"] == RECORDS[1]["text"]


def test_step_drop_keeps_no_pii_in_the_ledger(tmp_path):
    result = _run(tmp_path, action="drop", text_field=["text", "title"])
    assert [r["id"] for r in result.kept] == ["b"]
    (dropped,) = result.dropped
    assert dropped["_drop"]["reason"] == "pii"
    assert dropped["_drop"]["detail"] == "email x1, national_id x1"
    ledger = next(tmp_path.joinpath("run").glob("dropped.*")).read_bytes()
    assert b"jane@example.com" not in ledger and b"536-22-1234" not in ledger


def test_step_flag_keeps_text(tmp_path):
    result = _run(tmp_path, action="flag", types=["email"])
    kept = {r["id"]: r for r in result.kept}
    assert kept["a"]["text"] == RECORDS[0]["text"]
    assert [m["type"] for m in kept["a"]["pii"]] == ["email"]


def test_step_rejects_unknown_types():
    with pytest.raises(ValueError, match="unknown PII type"):
        PII(types=["passport"])
    with pytest.raises(ValueError, match="unknown PII type"):
        PII(placeholders={"mail": "<MAIL>"})


if __name__ == "__main__":
    print(f"{'type':16} {'precision':>9} {'recall':>7} {'support':>7}")
    for kind, s in score_sample().items():
        print(f"{kind:16} {s['precision']:9.2f} {s['recall']:7.2f} {s['support']:7d}")

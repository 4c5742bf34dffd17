"""One-shot curation commands: IN -> --out DIR with kept, dropped (ledger) and summary.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "prompt": "Explain how rainbows form in the sky after a storm."},
        {"id": "b", "prompt": "Explain how rainbows form in the sky after a storm!"},  # exact dup after normalisation
        {"id": "c", "prompt": "As an AI language model, I cannot help with that request."},
        {"id": "d", "prompt": "Email me at jane.doe@example.com or call +1 415 555 0100 today."},
        {"id": "e", "prompt": "List three uses of copper in modern electrical engineering."},
    ]
    return write_jsonl(tmp_path / "in.jsonl", rows)


def test_filter_round_trip_keeps_ids_and_field_names(tmp_path, corpus):
    out = tmp_path / "filtered"
    result = cli("filter", str(corpus), "--out", str(out), "--text-field", "prompt", "--filters", "text,llm_output", "-q")
    assert result.returncode == 0, result.stderr
    kept, dropped = read_jsonl(out / "kept.jsonl"), read_jsonl(out / "dropped.jsonl")
    assert {r["id"] for r in kept} | {r["id"] for r in dropped} == set("abcde")
    assert {r["id"]: r["_drop"]["reason"] for r in dropped} == {"c": "refusal"}
    assert all("prompt" in r and "text" not in r for r in kept)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_records"] == 5 and summary["kept"] == 4 and summary["dropped"] == 1


def test_pii_redacts_and_never_stores_the_value(tmp_path, corpus):
    out = tmp_path / "pii"
    result = cli("pii", str(corpus), "--out", str(out), "--text-field", "prompt", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["records_with_pii"] == 1 and summary["matches_by_type"] == {"email": 1, "phone": 1}
    [d] = [r for r in read_jsonl(out / "kept.jsonl") if r["id"] == "d"]
    assert d["prompt"] == "Email me at [EMAIL] or call [PHONE] today."
    for name in ("kept.jsonl", "dropped.jsonl", "summary.json", "metrics.json", "report.html"):
        assert "jane.doe@example.com" not in (out / name).read_text()


def test_exact_dedup_command_and_format_follows_input(tmp_path, corpus):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(read_jsonl(corpus)), parquet)
    out = tmp_path / "dedup"
    result = cli("dedup", str(parquet), "--out", str(out), "--method", "exact", "--text-field", "prompt", "-q")
    assert result.returncode == 0, result.stderr
    assert (out / "kept.parquet").exists() and (out / "dropped.parquet").exists()
    dropped = pq.read_table(out / "dropped.parquet").to_pylist()
    assert [r["id"] for r in dropped] == ["b"] and "duplicate" in dropped[0]["_drop"]


def test_bad_usage_exits_2(tmp_path, corpus):
    assert cli("filter", str(corpus), "--out", str(tmp_path / "x"), "--filters", "repetiton").returncode == 2
    assert cli("dedup", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "y")).returncode == 2
    assert cli("dedup", str(corpus), "--out", str(tmp_path / "z"), "--method", "fuzzy").returncode == 2


def test_minhash_and_decontaminate_commands(tmp_path):
    gsm8k = (  # GSM8K test item 0, lightly edited (apostrophe, case)
        "janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
        "for her friends every day with four. She sells the remainder at the farmers' market daily"
    )
    base = "the quick brown fox jumps over the lazy dog while the farmer watches from the old red barn near the river"
    rows = [
        {"id": "orig", "text": base + " on a sunny morning in late spring"},
        {"id": "near", "text": base + " on a sunny morning in late summer"},
        {"id": "other", "text": "completely different words about quantum chromodynamics and lattice gauge theory results"},
        {"id": "leak", "text": "Solve this: " + gsm8k},
    ]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "mh"
    result = cli("dedup", str(data), "--out", str(out), "--method", "minhash", "--threshold", "0.7", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dropped"] == 1 and "minhash_summary" in summary
    [near] = read_jsonl(out / "dropped.jsonl")
    assert near["id"] == "near" and near["_drop"]["reason"] == "near_duplicate" and "orig" in near["_drop"]["detail"]

    out = tmp_path / "decon"
    result = cli("decontaminate", str(data), "--out", str(out), "--benchmarks", "gsm8k", "-q")
    assert result.returncode == 0, result.stderr
    [leak] = read_jsonl(out / "dropped.jsonl")
    hits = leak["_drop"]["detail"]
    assert leak["id"] == "leak" and leak["_drop"]["reason"] == "contaminated"
    assert hits[0]["benchmark"] == "gsm8k" and hits[0]["detector"] == "ngram"


def test_a_field_missing_from_every_record_is_a_usage_error(tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"what is {i} plus {i}?", "answer": str(2 * i)} for i in range(5)])
    out = tmp_path / "out"
    # a field named on the command line (unset, the fields pick a profile: see test_filter_profiles)
    result = cli("filter", str(data), "--out", str(out), "--text-field", "text")
    assert result.returncode == 2, result.stderr
    assert "has field 'text'" in result.stderr and "available: answer, id, question" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()  # refused before any work
    # a filter's own field (llm_output's instruction) is checked the same way, with a did-you-mean
    result = cli("filter", str(data), "--out", str(out), "--text-field", "answer", "--instruction-field", "questoin")
    assert result.returncode == 2 and "'questoin'" in result.stderr and "did you mean 'question'" in result.stderr


def test_a_field_missing_from_some_records_is_quarantined_as_before(tmp_path):
    """The first records decide cheaply; a field that only appears late is looked for everywhere."""
    rows = [{"question": f"q{i}"} for i in range(1200)] + [{"text": "The kept record has enough words in it."}]
    data = write_jsonl(tmp_path / "late.jsonl", rows)
    result = cli("filter", str(data), "--out", str(tmp_path / "out"), "--filters", "text", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kept"] == 1 and summary["quarantined"] == 1200


def test_a_curation_that_keeps_nothing_exits_4_unless_allow_empty(tmp_path, corpus):
    out = tmp_path / "none"
    args = ["filter", str(corpus), "--out", str(out), "--text-field", "prompt", "--filters", "text", "-s", "text.min_words=99"]
    result = cli(*args, "-q")
    assert result.returncode == 4
    assert "kept 0 of 5 records" in result.stderr and "text: too_short (5)" in result.stderr
    assert "--allow-empty" in result.stderr and "Traceback" not in result.stderr
    assert len(read_jsonl(out / "dropped.jsonl")) == 5 and (out / "summary.json").exists()  # nothing lost
    assert cli(*args, "-q", "--allow-empty").returncode == 0
    # every record quarantined (a wrong type, not a missing field) is an empty result too
    bad = write_jsonl(tmp_path / "ints.jsonl", [{"text": i} for i in range(3)])
    result = cli("filter", str(bad), "--out", str(tmp_path / "ints"), "-q")
    assert result.returncode == 4 and "kept 0 of 3 records" in result.stderr and "quarantine" in result.stderr


def test_quiet_curation_prints_one_line_with_the_report_path(tmp_path, corpus):
    out = tmp_path / "q"
    result = cli("filter", str(corpus), "--out", str(out), "--text-field", "prompt", "--filters", "text", "-q")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    assert "kept 5" in line and str((out / "report.html").resolve()) in line


def test_decontaminate_benchmark_names_are_checked_in_one_line(tmp_path, corpus):
    out = tmp_path / "d"
    result = cli("decontaminate", str(corpus), "--out", str(out), "--text-field", "prompt", "--benchmarks", "gsm8kk")
    assert result.returncode == 2
    assert "unknown benchmark 'gsm8kk'; did you mean 'gsm8k'?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pydantic" not in result.stderr
    for empty in ("", " , "):  # checking nothing would pass every record as clean
        result = cli("decontaminate", str(corpus), "--out", str(out), "--text-field", "prompt", "--benchmarks", empty)
        assert result.returncode == 2 and "--benchmarks" in result.stderr
    from synthpipe.curate.decontam.step import Decontaminate

    with pytest.raises(ValueError, match="no benchmarks to check"):
        Decontaminate(benchmarks=[])


def test_set_values_are_read_by_the_field_type(tmp_path, corpus):
    """`--set` reads a value as its field's type: broken YAML for a number is a usage error
    naming the setting (it was an internal error), and text stays text."""
    out = tmp_path / "d"
    bad = cli("dedup", str(corpus), "--out", str(out), "--text-field", "prompt", "--set", "dedup.threshold=[1,2")
    assert bad.returncode == 2 and "dedup.threshold=[1,2" in bad.stderr and "Traceback" not in bad.stderr
    text = cli("dedup", str(corpus), "--out", str(out), "--method", "minhash", "--set", "dedup.text_field=a: b")
    assert text.returncode == 2 and "field 'a: b'" in text.stderr  # taken as the text, not a YAML mapping


def test_command_steps_are_the_registered_steps():
    """The commands import their step's module directly (not every step package): each entry
    must name the class the registry knows by that name."""
    from synthpipe.cli import COMMAND_STEPS
    from synthpipe.importing import load_object
    from synthpipe.pipeline.registry import get_step_class

    for name, spec in COMMAND_STEPS.items():
        assert load_object(spec) is get_step_class(name), name


def test_pii_summary_counts_the_output_field_a_set_renames(tmp_path, corpus):
    out = tmp_path / "pii"
    result = cli("pii", str(corpus), "--out", str(out), "--text-field", "prompt", "--set", "pii.output_field=found",
                 "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["matches_by_type"] == {"email": 1, "phone": 1}


def test_one_shot_commands_import_no_pandas_nor_every_step_package(tmp_path, corpus):
    """What a one-shot command imports (pandas costs ~0.4 s; the step packages ~0.5 s)."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['synthpipe', 'dedup', {str(corpus)!r}, '--out', {str(tmp_path / 'out')!r}, "
        "'--text-field', 'prompt', '-q']\n"
        "try:\n    runpy.run_module('synthpipe.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'jinja2', 'jsonschema', 'synthpipe.verify', 'synthpipe.audit.diversity', "
        "'synthpipe.curate.decontam', 'synthpipe.curate.pii') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"

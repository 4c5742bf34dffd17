"""What a fine-tuning file must not carry: stray whitespace in turns, a triple newline between
instruction and input, an empty rejected file; and what a rejected row must carry: the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.train.export import ExportMapping, export_records, read_export, rejected_path

# Self-instruct style: the instruction ends with a newline and the input starts with one, which
# a plain "\n\n" join turned into three newlines.
SELF_INSTRUCT = {
    "id": "si-1",
    "instruction": "Classify the sentiment of the review.\n",
    "input": "\nThe soup was cold. ",
    "output": " negative\n",
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["openai", "trl-messages", "sharegpt", "trl-prompt-completion"])
def test_turns_carry_no_surrounding_whitespace(tmp_path: Path, fmt: str) -> None:
    record = {"id": "a", "system": " Be brief. ", "instruction": "Say hi", "response": " hi there"}
    if fmt == "trl-prompt-completion":
        record.pop("system")  # string rows have no place for it
    export_records([record], tmp_path / "o.jsonl", fmt)
    [chat] = read_export(tmp_path / "o.jsonl", fmt)
    contents = [m["content"] for m in chat["messages"]]
    assert contents[-1] == "hi there"
    assert all(c == c.strip() for c in contents)


def test_chat_lists_are_stripped_too(tmp_path: Path) -> None:
    record = {
        "id": "a",
        "messages": [
            {"role": "user", "content": "Hi\n"},
            {"role": "assistant", "content": " Hello!"},
        ],
    }
    export_records([record], tmp_path / "o.jsonl", "openai")
    assert _rows(tmp_path / "o.jsonl")[0]["messages"][1] == {
        "role": "assistant",
        "content": "Hello!",
    }


def test_dpo_answers_are_stripped(tmp_path: Path) -> None:
    record = {"id": "a", "prompt": "Q?", "chosen": " yes", "rejected": "no "}
    export_records([record], tmp_path / "o.jsonl", "dpo")
    assert _rows(tmp_path / "o.jsonl")[0] == {"prompt": "Q?", "chosen": "yes", "rejected": "no"}


def test_instruction_and_input_are_joined_by_one_blank_line(tmp_path: Path) -> None:
    export_records([SELF_INSTRUCT], tmp_path / "o.jsonl", "openai")
    user, assistant = _rows(tmp_path / "o.jsonl")[0]["messages"]
    assert user["content"] == "Classify the sentiment of the review.\n\nThe soup was cold."
    assert "\n\n\n" not in user["content"] and assistant["content"] == "negative"


def test_the_join_is_configurable(tmp_path: Path) -> None:
    export_records([SELF_INSTRUCT], tmp_path / "o.jsonl", "openai", ExportMapping(join="\nInput: "))
    user = _rows(tmp_path / "o.jsonl")[0]["messages"][0]
    assert user["content"] == "Classify the sentiment of the review.\nInput: The soup was cold."


def test_alpaca_keeps_the_parts_apart_and_stripped(tmp_path: Path) -> None:
    export_records([SELF_INSTRUCT], tmp_path / "o.jsonl", "alpaca")
    assert _rows(tmp_path / "o.jsonl")[0] == {
        "instruction": "Classify the sentiment of the review.",
        "input": "The soup was cold.",
        "output": "negative",
    }


def test_no_rejected_file_when_nothing_is_rejected_and_a_stale_one_goes(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    good = {"id": "a", "instruction": "Q", "response": "A"}
    bad = {"id": "b", "instruction": "Q", "response": "   "}
    first = export_records([good, bad], out, "openai")
    assert first.total_rejected == 1 and rejected_path(out).is_file()
    second = export_records([good], out, "openai")
    assert not rejected_path(out).exists()  # the earlier export's rejects no longer apply
    assert "rejected none" in second.describe() and second.to_dict()["rejected_path"] is None


def test_rejected_rows_carry_the_record(tmp_path: Path) -> None:
    bad = {"id": "b", "instruction": "Q", "response": "   ", "_lineage": {"model": "m"}}
    summary = export_records([bad], tmp_path / "o.jsonl", "openai")
    [line] = _rows(summary.rejected_path)
    assert line == {"id": "b", "reason": "empty_content", "detail": line["detail"], "record": bad}


def test_unreadable_input_lines_are_rejected_with_their_position(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "instruction": "Q", "response": "A"}\n{not json\n')
    result = CliRunner().invoke(
        app, ["export", str(src), "--format", "openai", "--out", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 0, result.output
    [line] = _rows(tmp_path / "o.jsonl.rejected.jsonl")
    assert line["id"] == "in.jsonl:2" and line["reason"] == "unreadable" and line["record"] is None


def test_cli_join_option(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(SELF_INSTRUCT) + "\n")
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(
        app, ["export", str(src), "--format", "openai", "--out", str(out), "--join", "\\n"]
    )
    assert result.exit_code == 0, result.output
    user = _rows(out)[0]["messages"][0]["content"]
    assert user == "Classify the sentiment of the review.\nThe soup was cold."
    assert not rejected_path(out).exists() and "rejected none" in result.output

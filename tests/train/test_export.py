"""Exporters: round trips on real conversations, lossless conversions, every rejection reason,
HF save_to_disk, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthpipe.data.writers import write_records
from synthpipe.errors import DataError, UsageError
from synthpipe.train.export import (
    ExportMapping,
    ExportReject,
    export_file,
    export_records,
    read_export,
    rejected_path,
    to_alpaca,
    to_dpo,
    to_openai,
)
from synthpipe.train.formats.chat import validate_openai, validate_sharegpt
from synthpipe.train.formats.dpo import validate_dpo

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OASST = SHARED / "oasst_samples" / "en_100_tree.jsonl"
SEED_TASKS = SHARED / "self_instruct" / "seed_tasks.jsonl"
SYSTEM = "You are a helpful assistant."

# Used when ../shared/data is absent, so the round trips always run.
_INLINE_TREES = [
    [
        ("prompter", "What is the capital of France?", "Paris, I think?"),
        ("assistant", "The capital of France is Paris.", "It is Lyon."),
        ("prompter", "And its population?", None),
        ("assistant", "About 2.1 million people live in Paris proper.\n", None),
    ],
    [
        ("prompter", "Write a haiku about rain.", None),
        (
            "assistant",
            "Soft rain on the roof\nthe gutters hum their one note\nnight drinks it all in",
            "Rain.",
        ),
    ],
    [
        ("prompter", "  Explain recursion — briefly.  ", None),
        (
            "assistant",
            "A function that calls itself on a smaller input until a base case.",
            "See recursion.",
        ),
        ("prompter", "Example?", None),
    ],
]


# -- realistic records --------------------------------------------------------------------
def _walk(tree: dict) -> list[tuple[str, str, str | None]]:
    """(role, text, rank-1 sibling text) along the rank-0 path of an OASST tree."""
    path, node, sibling = [], tree, None
    while True:
        path.append((node["role"], node["text"], sibling))
        replies = sorted(node["replies"], key=lambda r: (r.get("rank") is None, r.get("rank")))
        if not replies:
            return path
        sibling = replies[1]["text"] if len(replies) > 1 else None
        node = replies[0]


def oasst_paths() -> list[list[tuple[str, str, str | None]]]:
    if not OASST.exists():
        return _INLINE_TREES
    return [_walk(json.loads(line)["prompt"]) for line in OASST.open(encoding="utf-8")]


def oasst_chats() -> list[dict]:
    """Multi-turn chats ending on the assistant; every third one has a system prompt."""
    roles = {"prompter": "user", "assistant": "assistant"}
    chats = []
    for i, path in enumerate(oasst_paths()):
        turns = [{"role": roles[r], "content": text} for r, text, _ in path]
        if turns[-1]["role"] != "assistant":
            turns.pop()
        record = {"id": f"oasst-{i}", "messages": turns}
        if i % 3 == 0:
            record["system"] = SYSTEM
        chats.append(record)
    return chats


def with_system(record: dict) -> list[dict]:
    system = [{"role": "system", "content": record["system"]}] if "system" in record else []
    return system + record["messages"]


def oasst_pairs() -> list[dict]:
    """Preference pairs: first prompt, rank-0 reply chosen, rank-1 reply rejected."""
    pairs = []
    for i, path in enumerate(oasst_paths()):
        (_, prompt, _), (_, best, second) = path[0], path[1]
        if second is not None:
            pairs.append({"id": f"pair-{i}", "prompt": prompt, "chosen": best, "rejected": second})
    return pairs


def seed_tasks() -> list[dict]:
    if not SEED_TASKS.exists():
        return [
            {"id": "t0", "instruction": "Give an antonym.", "input": "hot", "output": "cold"},
            {"id": "t1", "instruction": "Name a prime above 10.", "input": "", "output": "11"},
        ]
    tasks = [json.loads(line) for line in SEED_TASKS.open(encoding="utf-8")]
    return [{"id": t["id"], **t["instances"][0], "instruction": t["instruction"]} for t in tasks]


def alpaca_view(task: dict) -> dict:
    return {"instruction": task["instruction"], "input": task["input"], "output": task["output"]}


def as_chat(task: dict) -> list[dict]:
    user = task["instruction"] + (f"\n\n{task['input']}" if task["input"] else "")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": task["output"]}]


def rejects(summary) -> list[dict]:
    return [json.loads(line) for line in summary.rejected_path.read_text().splitlines()]


# -- round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["openai", "trl-messages", "sharegpt"])
def test_chat_formats_round_trip_multi_turn_conversations(tmp_path, fmt):
    chats = oasst_chats()
    summary = export_records(chats, tmp_path / "out.jsonl", fmt)
    assert (summary.written, summary.total_rejected) == (len(chats), 0)
    assert read_export(tmp_path / "out.jsonl", fmt) == [{"messages": with_system(c)} for c in chats]
    assert summary.fields_used["messages"] == {"messages": len(chats)}
    assert summary.fields_used["system"] == {"system": sum("system" in c for c in chats)}
    assert any(len(c["messages"]) > 2 for c in chats)  # the round trip covers multi-turn


def test_prompt_completion_conversational_round_trip(tmp_path):
    chats = oasst_chats()
    mapping = ExportMapping(conversational=True)
    summary = export_records(chats, tmp_path / "pc.jsonl", "trl-prompt-completion", mapping)
    assert summary.written == len(chats)
    rows = [json.loads(line) for line in (tmp_path / "pc.jsonl").read_text().splitlines()]
    assert all(len(r["completion"]) == 1 and r["prompt"][-1]["role"] == "user" for r in rows)
    canonical = read_export(tmp_path / "pc.jsonl", "trl-prompt-completion")
    assert canonical == [{"messages": with_system(c)} for c in chats]


def test_prompt_completion_strings_take_single_exchanges_and_reject_the_rest(tmp_path):
    tasks, chats = seed_tasks(), oasst_chats()
    summary = export_records(tasks + chats, tmp_path / "pc.jsonl", "trl-prompt-completion")
    simple = [c for c in chats if len(c["messages"]) == 2 and "system" not in c]
    assert summary.written == len(tasks) + len(simple)
    assert summary.rejected == {"multi_turn": len(chats) - len(simple)}
    rows = [json.loads(line) for line in (tmp_path / "pc.jsonl").read_text().splitlines()]
    assert all(isinstance(r["prompt"], str) and isinstance(r["completion"], str) for r in rows)
    expected = [as_chat(t) for t in tasks] + [c["messages"] for c in simple]
    assert read_export(tmp_path / "pc.jsonl", "trl-prompt-completion") == [
        {"messages": m} for m in expected
    ]
    assert "conversational=True" in rejects(summary)[0]["detail"]


def test_alpaca_round_trip_keeps_instruction_and_input_apart(tmp_path):
    tasks = seed_tasks()
    summary = export_records(tasks, tmp_path / "alpaca.jsonl", "alpaca")
    assert summary.written == len(tasks)
    assert read_export(tmp_path / "alpaca.jsonl", "alpaca") == [alpaca_view(t) for t in tasks]
    assert any(t["input"] for t in tasks) and any(not t["input"] for t in tasks)
    assert summary.fields_used["output"] == {"output": len(tasks)}


def test_alpaca_from_chats_takes_one_exchange_and_keeps_the_system_prompt(tmp_path):
    chats = oasst_chats()
    summary = export_records(chats, tmp_path / "a.jsonl", "alpaca")
    single = [c for c in chats if len(c["messages"]) == 2]
    assert summary.rejected == {"multi_turn": len(chats) - len(single)}
    expected = []
    for c in single:
        user, assistant = c["messages"]
        row = {"instruction": user["content"], "input": "", "output": assistant["content"]}
        expected.append(row | ({"system": c["system"]} if "system" in c else {}))
    assert read_export(tmp_path / "a.jsonl", "alpaca") == expected


def test_dpo_round_trip_on_ranked_replies(tmp_path):
    pairs = oasst_pairs()
    summary = export_records(pairs, tmp_path / "dpo.jsonl", "dpo")
    assert (summary.written, summary.total_rejected) == (len(pairs), 0)
    rows = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert rows == [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs]
    assert read_export(tmp_path / "dpo.jsonl", "dpo") == [
        {
            "prompt": [{"role": "user", "content": p["prompt"]}],
            "chosen": p["chosen"],
            "rejected": p["rejected"],
        }
        for p in pairs
    ]
    assert summary.fields_used == {
        "chosen": {"chosen": len(pairs)},
        "rejected": {"rejected": len(pairs)},
        "prompt": {"prompt": len(pairs)},
    }


def test_dpo_from_ultrafeedback_style_chat_lists_conversational(tmp_path):
    records = [
        {
            "id": "uf-1",
            "prompt": "ignored: the prompt turns come from the chat lists",
            "chosen": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Blue."},
            ],
            "rejected": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Name a colour."},
                {"role": "assistant", "content": "Seven."},
            ],
        }
    ]
    string = export_records(records, tmp_path / "s.jsonl", "dpo")
    assert string.rejected == {"multi_turn": 1}  # a system prompt has no place in string DPO
    mapping = ExportMapping(conversational=True)
    summary = export_records(records, tmp_path / "c.jsonl", "dpo", mapping)
    assert summary.written == 1 and summary.fields_used["prompt"] == {"chosen": 1}
    row = json.loads((tmp_path / "c.jsonl").read_text())
    assert row["chosen"] == [{"role": "assistant", "content": "Blue."}]
    assert read_export(tmp_path / "c.jsonl", "dpo") == [
        {"prompt": records[0]["chosen"][:2], "chosen": "Blue.", "rejected": "Seven."}
    ]


# -- conversions between formats ----------------------------------------------------------
def test_openai_to_sharegpt_to_openai_is_byte_identical(tmp_path):
    export_records(oasst_chats(), tmp_path / "a.jsonl", "openai")
    export_file(tmp_path / "a.jsonl", tmp_path / "b.jsonl", "sharegpt")
    summary = export_file(tmp_path / "b.jsonl", tmp_path / "c.jsonl", "openai")
    assert summary.fields_used["messages"] == {"conversations": summary.written}
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    export_file(tmp_path / "c.jsonl", tmp_path / "d.jsonl", "trl-messages")
    export_file(tmp_path / "d.jsonl", tmp_path / "e.jsonl", "openai")
    assert (tmp_path / "e.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


def test_alpaca_to_openai_to_alpaca_loses_only_the_input_split(tmp_path):
    tasks = seed_tasks()
    export_records(tasks, tmp_path / "a.jsonl", "alpaca")
    export_file(tmp_path / "a.jsonl", tmp_path / "o.jsonl", "openai")
    assert read_export(tmp_path / "o.jsonl", "openai") == [{"messages": as_chat(t)} for t in tasks]
    export_file(tmp_path / "o.jsonl", tmp_path / "b.jsonl", "alpaca")
    back = read_export(tmp_path / "b.jsonl", "alpaca")
    assert back == [
        {"instruction": as_chat(t)[0]["content"], "input": "", "output": t["output"]} for t in tasks
    ]


def test_openai_keeps_weight_and_trl_and_sharegpt_drop_it(tmp_path):
    record = {
        "id": "w",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "weight": 0},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye.", "weight": 1},
        ],
    }
    assert to_openai(record)["messages"] == record["messages"]
    export_records([record], tmp_path / "t.jsonl", "trl-messages")
    assert "weight" not in (tmp_path / "t.jsonl").read_text()


def test_input_from_parquet_and_sharegpt_shaped_messages_field(tmp_path):
    records = [
        {
            "id": "p1",
            "dialog": [
                {"from": "human", "value": "2+2?"},
                {"from": "gpt", "value": "4"},
            ],
        }
    ]
    write_records(records, tmp_path / "in.parquet")
    summary = export_file(
        tmp_path / "in.parquet", tmp_path / "o.jsonl", "openai", messages_field="dialog"
    )
    assert summary.fields_used == {"messages": {"dialog": 1}}
    assert read_export(tmp_path / "o.jsonl", "openai") == [
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    ]


# -- field mapping ------------------------------------------------------------------------
def test_fallback_fields_are_reported_per_record(tmp_path):
    records = [
        {"id": "1", "instruction": "Say hi.", "prompt": "unused", "response": "hi"},
        {"id": "2", "question": "2+3?", "answer": "5"},
        {"id": "3", "prompt": "Capital of Peru?", "completion": "Lima", "output": "LIMA"},
        {"id": "4", "text": "Rhyme with cat.", "generation": "hat", "input": "one word"},
    ]
    summary = export_records(records, tmp_path / "o.jsonl", "alpaca")
    assert summary.fields_used == {
        "instruction": {"instruction": 1, "question": 1, "prompt": 1, "text": 1},
        "output": {"response": 1, "answer": 1, "output": 1, "generation": 1},
        "input": {"input": 1},
    }
    assert [r["output"] for r in read_export(tmp_path / "o.jsonl", "alpaca")] == [
        "hi",
        "5",
        "LIMA",  # output comes before completion in the fallback order
        "hat",
    ]
    assert summary.to_dict()["fields_used"]["output"]["response"] == 1
    assert "output from: " in summary.describe()


def test_an_explicit_field_never_falls_back(tmp_path):
    records = [
        {"id": "1", "instruction": "Q", "response": "fallback", "target": "gold"},
        {"id": "2", "instruction": "Q", "response": "only this"},
    ]
    summary = export_records(
        records, tmp_path / "o.jsonl", "openai", ExportMapping(output_field="target")
    )
    assert summary.written == 1 and summary.fields_used["output"] == {"target": 1}
    assert rejects(summary) == [
        {"id": "2", "reason": "missing_field", "detail": "no output field (looked for target)",
         "record": records[1]}
    ]  # fmt: skip


def test_self_instruct_predictions_use_instruction_and_response(tmp_path):
    preds = SHARED / "self_instruct" / "predictions" / "text-davinci-003_predictions.jsonl.gz"
    if not preds.exists():
        pytest.skip("needs ../shared/data/self_instruct")
    summary = export_file(preds, tmp_path / "o.jsonl", "alpaca")
    assert summary.fields_used["instruction"] == {"instruction": summary.written}
    assert summary.fields_used["output"] == {"response": summary.written}
    assert summary.written + summary.total_rejected == 252


def test_system_prompt_precedence(tmp_path):
    own = [{"role": "system", "content": "own"}, {"role": "user", "content": "u"}]
    records = [
        {"id": "a", "messages": [*own, {"role": "assistant", "content": "x"}], "sys": "field"},
        {"id": "b", "instruction": "u", "output": "x", "sys": "field"},
        {"id": "c", "instruction": "u", "output": "x"},
    ]
    mapping = ExportMapping(system_field="sys", system="fixed")
    export_records(records, tmp_path / "o.jsonl", "openai", mapping)
    systems = [r["messages"][0]["content"] for r in read_export(tmp_path / "o.jsonl", "openai")]
    assert systems == ["own", "field", "fixed"]


# -- rejections ---------------------------------------------------------------------------
def _turns(*pairs):
    return [{"role": role, "content": content} for role, content in pairs]


REJECTIONS = [
    ("openai", {"instruction": "Q"}, {}, "missing_field", "no output field"),
    ("openai", {"instruction": "Q", "output": 42}, {}, "not_text", "'output' is int"),
    ("openai", {"messages": _turns(("user", "Q"), ("assistant", None))}, {}, "not_text", "turn 2"),
    ("openai", {"instruction": "Q", "output": " \n\t"}, {}, "empty_content", "'output'"),
    (
        "sharegpt",
        {"messages": _turns(("user", ""), ("assistant", "A"))},
        {},
        "empty_content",
        "turn 1",
    ),
    ("openai", {"messages": "Q: hi A: hello"}, {}, "bad_messages", "not a non-empty list"),
    ("openai", {"messages": []}, {}, "bad_messages", "not a non-empty list"),
    ("openai", {"messages": [{"role": "user"}]}, {}, "bad_messages", "role/content"),
    ("openai", {"messages": _turns(("user", "Q"), ("tool", "{}"))}, {}, "bad_role", "'tool'"),
    (
        "openai",
        {"messages": _turns(("user", "Q"), ("user", "Q again"), ("assistant", "A"))},
        {},
        "roles_not_alternating",
        "turn 2: expected assistant, got user",
    ),
    (
        "trl-messages",
        {"messages": _turns(("assistant", "Hello"), ("user", "Q"), ("assistant", "A"))},
        {},
        "roles_not_alternating",
        "turn 1: expected user",
    ),
    (
        "sharegpt",
        {"messages": _turns(("user", "Q"), ("system", "S"), ("assistant", "A"))},
        {},
        "roles_not_alternating",
        "turn 2",
    ),
    (
        "openai",
        {"messages": _turns(("user", "Q"), ("assistant", "A"), ("user", "Q2"))},
        {},
        "last_not_assistant",
        "last turn is user",
    ),
    (
        "alpaca",
        {"messages": _turns(("user", "Q"), ("assistant", "A"), ("user", "Q2"), ("assistant", "B"))},
        {},
        "multi_turn",
        "2 user turns",
    ),
    (
        "dpo",
        {"prompt": "Q", "chosen": "A", "rejected": "B", "system": "S"},
        {},
        "multi_turn",
        "system",
    ),
    (
        "dpo",
        {"prompt": "Q", "chosen": "Same.", "rejected": " Same. "},
        {},
        "chosen_equals_rejected",
        "",
    ),
    ("dpo", {"prompt": "Q", "chosen": "A", "rejected": ""}, {}, "empty_content", "'rejected'"),
    ("dpo", {"prompt": "Q", "chosen": "A"}, {}, "missing_field", "'rejected'"),
    (
        "dpo",
        {"prompt": "Q", "better": "A", "worse": "B"},
        {"chosen_field": "good"},
        "missing_field",
        "'good'",
    ),
    (
        "dpo",
        {
            "chosen": _turns(("user", "Q"), ("assistant", "A")),
            "rejected": _turns(("user", "other Q"), ("assistant", "B")),
        },
        {},
        "prompt_mismatch",
        "",
    ),
    (
        "dpo",
        {"messages": _turns(("user", "Q"), ("assistant", "A")), "chosen": "B", "rejected": "C"},
        {},
        "last_not_user",
        "it must be user",
    ),
    (
        "openai",
        {
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A", "weight": 2},
            ]
        },
        {},
        "bad_weight",
        "weight 2",
    ),
    (
        "openai",
        {
            "messages": [
                {"role": "user", "content": "Q", "weight": 1},
                {"role": "assistant", "content": "A"},
            ]
        },
        {},
        "bad_weight",
        "turn 1 (user)",
    ),
    (
        "openai",
        {
            "instruction": "Q",
            "output": "A",
            "_drop": {"step": "text_filter", "reason": "too_short"},
        },
        {},
        "dropped",
        "text_filter: too_short",
    ),
]


@pytest.mark.parametrize(("fmt", "record", "mapping", "reason", "detail"), REJECTIONS)
def test_rejected_records_are_written_with_their_reason(
    tmp_path, fmt, record, mapping, reason, detail
):
    good = (
        {"id": "good", "prompt": "Q", "chosen": "A", "rejected": "B"}
        if fmt == "dpo"
        else {
            "id": "good",
            "instruction": "Q",
            "output": "A",
        }
    )
    if mapping.get("chosen_field"):
        good = {"id": "good", "prompt": "Q", "good": "A", "rejected": "B"}
    summary = export_records(
        [good, {"id": "bad", **record}], tmp_path / "o.jsonl", fmt, ExportMapping(**mapping)
    )
    assert summary.written == 1
    assert summary.rejected == {reason: 1}
    [line] = rejects(summary)
    assert (line["id"], line["reason"]) == ("bad", reason)
    assert detail in line["detail"]
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 1


def test_one_record_converters_raise_the_reason():
    with pytest.raises(ExportReject) as exc:
        to_alpaca({"messages": _turns(("user", "Q"), ("assistant", "A"), ("user", "Q"))})
    assert exc.value.reason == "last_not_assistant"
    assert to_dpo({"question": "Q", "chosen": "A", "rejected": "B"}) == {
        "prompt": "Q",
        "chosen": "A",
        "rejected": "B",
    }


@pytest.mark.parametrize(
    ("validate", "row", "reason"),
    [
        (
            validate_openai,
            {"messages": _turns(("system", "S"), ("assistant", "A"))},
            "roles_not_alternating",
        ),
        (validate_openai, {"messages": _turns(("system", "S"))}, "bad_messages"),
        (validate_openai, {"messages": [{"role": "user", "content": ["a", "b"]}]}, "not_text"),
        (
            validate_sharegpt,
            {"conversations": [{"from": "user", "value": "Q"}, {"from": "gpt", "value": "A"}]},
            "bad_role",
        ),
        (validate_dpo, {"prompt": "Q", "chosen": "A", "rejected": "A"}, "chosen_equals_rejected"),
        (validate_dpo, {"prompt": "  ", "chosen": "A", "rejected": "B"}, "empty_content"),
    ],
)
def test_validators_check_the_rows_as_written(validate, row, reason):
    with pytest.raises(ExportReject) as exc:
        validate(row)
    assert exc.value.reason == reason


def test_unreadable_lines_and_duplicate_ids_are_reported(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "a", "instruction": "Q", "output": "A"}\n'
        "{not json\n"
        '{"id": "a", "instruction": "Q2", "output": "A2"}\n'
        '{"id": "b", "instruction": "Q3", "output": "A3"}\n'
    )
    summary = export_file(src, tmp_path / "o.jsonl", "openai")
    assert summary.written == 2
    assert summary.rejected == {"unreadable": 1, "duplicate_id": 1}
    assert [(r["id"], r["reason"]) for r in rejects(summary)] == [
        ("in.jsonl:2", "unreadable"),
        ("in.jsonl:3", "duplicate_id"),
    ]


# -- HF datasets --------------------------------------------------------------------------
def test_hf_save_to_disk_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    chats = oasst_chats()
    summary = export_records(chats, tmp_path / "ds", "hf", ExportMapping(shape="openai"))
    assert summary.shape == "openai" and summary.written == len(chats)
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    assert ds.column_names == ["messages"] and len(ds) == len(chats)
    assert ds[0]["messages"] == with_system(chats[0])
    assert read_export(tmp_path / "ds", "hf") == [{"messages": with_system(c)} for c in chats]

    tasks = seed_tasks() + [{"id": "s", "instruction": "Q", "output": "A", "system": SYSTEM}]
    export_records(tasks, tmp_path / "alpaca", "hf", ExportMapping(shape="alpaca"))
    loaded = datasets.load_from_disk(str(tmp_path / "alpaca"))
    assert loaded.column_names == ["instruction", "input", "output", "system"]
    expected = [alpaca_view(t) for t in tasks[:-1]] + [
        {"instruction": "Q", "input": "", "output": "A", "system": SYSTEM}
    ]
    assert read_export(tmp_path / "alpaca", "hf") == expected  # shape guessed from the columns


def test_hf_with_nothing_to_write_raises_and_keeps_the_rejections(tmp_path):
    pytest.importorskip("datasets")
    with pytest.raises(DataError, match="all 1 records were rejected"):
        export_records([{"id": "x", "instruction": "Q"}], tmp_path / "ds", "hf")
    assert not (tmp_path / "ds").exists()
    assert json.loads(rejected_path(tmp_path / "ds").read_text())["reason"] == "missing_field"


def test_hf_without_datasets_says_how_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(UsageError, match=r"pip install 'synthpipe\[hf\]'"):
        export_records([], tmp_path / "ds", "hf")


# -- atomic writes and usage errors -------------------------------------------------------
def _interrupted(records):
    yield from records
    raise KeyboardInterrupt  # e.g. Ctrl-C half way through


@pytest.mark.parametrize(("fmt", "out"), [("openai", "o.jsonl"), ("hf", "ds")])
def test_interrupted_write_leaves_no_partial_output(tmp_path, fmt, out):
    good = [{"id": str(i), "instruction": f"Q{i}", "output": "A"} for i in range(50)]
    with pytest.raises(KeyboardInterrupt):
        export_records(_interrupted([*good, {"id": "bad"}]), tmp_path / out, fmt)
    assert list(tmp_path.iterdir()) == []  # no output, no rejected file, no temp files

    export_records(good, tmp_path / out, fmt)
    before = read_export(tmp_path / out, fmt)
    with pytest.raises(KeyboardInterrupt):
        export_records(_interrupted(good[:3]), tmp_path / out, fmt)
    assert read_export(tmp_path / out, fmt) == before  # the earlier export is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [out]  # nothing rejected: no file


@pytest.mark.parametrize(
    ("fmt", "options", "message"),
    [
        ("csv", {}, "unknown export format 'csv'"),
        ("openai", {"shape": "alpaca"}, "shape applies to format 'hf' only"),
        ("hf", {"shape": "chatml"}, "unknown shape 'chatml'"),
        ("openai", {"conversational": True}, "conversational applies to"),
        ("dpo", {"system": SYSTEM}, "no place for a system prompt"),
        ("openai", {"output_feild": "x"}, "output_feild"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, fmt, options, message):
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "Q", "output": "A"}\n')
    with pytest.raises(UsageError, match=message):
        export_file(src, tmp_path / "o.jsonl", fmt, **options)
    assert not (tmp_path / "o.jsonl").exists()


def test_export_file_ignores_unset_cli_options(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"q": "Q", "a": "A"}\n')
    summary = export_file(
        src, tmp_path / "o.jsonl", "openai", instruction_field="q", output_field="a", system=None
    )
    assert summary.written == 1
    assert summary.to_dict()["mapping"] == {"instruction_field": "q", "output_field": "a"}


def test_cli_export_writes_rows_and_a_rejected_file(tmp_path) -> None:
    from typer.testing import CliRunner

    from synthpipe.cli import app

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "instruction": "Say hi", "response": "hi"}\n'
                   '{"id": "b", "instruction": "Say bye", "response": "  "}\n')  # fmt: skip
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(
        app, ["export", str(src), "--format", "sharegpt", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 1 sharegpt rows" in result.output
    assert json.loads(out.read_text())["conversations"][1] == {"from": "gpt", "value": "hi"}
    (rejected,) = [
        json.loads(x) for x in (tmp_path / "train.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert rejected["id"] == "b" and rejected["reason"] == "empty_content"

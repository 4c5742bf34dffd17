"""Tool-use trajectories exported for trainers: OpenAI fine-tuning with tools, TRL
conversational with tool messages, ShareGPT with function calls (LLaMA-Factory), checked on
write, read back to one canonical form, and loaded through TRL's own SFT data preparation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from synthpipe.train.export import (
    ExportMapping,
    export_file,
    export_records,
    read_export,
    rejected_path,
    to_openai,
    to_openai_tools,
    to_sharegpt_tools,
    to_trl_tools,
)
from synthpipe.train.formats.base import ExportReject

TOOL_FORMATS = ("openai-tools", "trl-tools", "sharegpt-tools")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cart_add",
            "parameters": {"type": "object", "properties": {"item": {"type": "string"}}},
        },
    },
]


def trajectory(**extra) -> dict:
    """Parallel calls, results answered out of order, then the final reply."""
    record = {
        "id": "t1",
        "task": "Add 2 and 3, and put milk in my cart.",
        "task_type": "parallel",
        "env": ["calculator", "cart"],
        "tools": copy.deepcopy(TOOLS),
        "messages": [
            {"role": "system", "content": "You can use tools."},
            {"role": "user", "content": "Add 2 and 3, and put milk in my cart."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    _call("c-add", "add", '{"a": 2, "b": 3}'),
                    _call("c-cart", "cart_add", '{"item":"milk"}'),
                ],
            },
            {"role": "tool", "tool_call_id": "c-cart", "content": '{"ok": true}'},
            {"role": "tool", "tool_call_id": "c-add", "content": "5"},
            {"role": "assistant", "content": "2 + 3 = 5, and milk is in your cart."},
        ],
        "ground_truth": {"calls": None, "final_state": {"cart": ["milk"]}, "answer": None},
    }
    record.update(extra)
    return record


def single(**extra) -> dict:
    """One call, one result, then the reply (the shape most trajectories have)."""
    record = {
        "id": "t2",
        "tools": copy.deepcopy(TOOLS),
        "messages": [
            {"role": "user", "content": "Put eggs in my cart."},
            {"role": "assistant", "content": None, "tool_calls": [_call("x", "cart_add", '{"item": "eggs"}')]},
            {"role": "tool", "tool_call_id": "x", "content": '{"ok": true}'},
            {"role": "assistant", "content": "Eggs are in your cart."},
        ],
    }  # fmt: skip
    record.update(extra)
    return record


def _call(cid: str, name: str, arguments: str) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


# The canonical trajectory: ids renumbered, results in call order, arguments re-serialised.
CANONICAL = {
    "messages": [
        {"role": "system", "content": "You can use tools."},
        {"role": "user", "content": "Add 2 and 3, and put milk in my cart."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _call("call_1", "add", '{"a": 2, "b": 3}'),
                _call("call_2", "cart_add", '{"item": "milk"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        {"role": "tool", "tool_call_id": "call_2", "content": '{"ok": true}'},
        {"role": "assistant", "content": "2 + 3 = 5, and milk is in your cart."},
    ],
    "tools": TOOLS,
}


# -- the three shapes -------------------------------------------------------------------
def test_openai_tools_row_is_the_fine_tuning_shape():
    row = to_openai_tools(trajectory())
    assert set(row) == {"messages", "tools", "parallel_tool_calls"}
    assert row["tools"] == TOOLS and row["parallel_tool_calls"] is True
    call_turn = row["messages"][2]
    assert "content" not in call_turn  # as in OpenAI's examples
    assert [c["function"]["arguments"] for c in call_turn["tool_calls"]] == [
        '{"a": 2, "b": 3}',
        '{"item": "milk"}',
    ]  # JSON text, as the API takes it
    assert row["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "5"}
    assert to_openai_tools(single())["parallel_tool_calls"] is False


def test_trl_tools_row_has_argument_objects_named_results_and_tools_as_json_text():
    row = to_trl_tools(trajectory())
    assert set(row) == {"messages", "tools"}
    assert json.loads(row["tools"]) == TOOLS  # SFTTrainer json.loads a string column
    call_turn = row["messages"][2]
    assert call_turn["content"] == ""
    assert call_turn["tool_calls"][0]["function"] == {"name": "add", "arguments": {"a": 2, "b": 3}}
    assert row["messages"][3] == {
        "role": "tool", "tool_call_id": "call_1", "name": "add", "content": "5"
    }  # fmt: skip


def test_sharegpt_tools_row_follows_llama_factory():
    row = to_sharegpt_tools(trajectory())
    turns = row["conversations"]
    assert [t["from"] for t in turns] == [
        "system", "human", "function_call", "observation", "gpt"
    ]  # fmt: skip
    assert json.loads(turns[2]["value"]) == [
        {"name": "add", "arguments": {"a": 2, "b": 3}},
        {"name": "cart_add", "arguments": {"item": "milk"}},
    ]
    assert turns[3]["value"] == '5\n</tool_response>\n<tool_response>\n{"ok": true}'
    assert json.loads(row["tools"]) == TOOLS
    one = to_sharegpt_tools(single())["conversations"]
    assert json.loads(one[1]["value"]) == {"name": "cart_add", "arguments": {"item": "eggs"}}
    # LLaMA-Factory's check: human/observation at odd positions, gpt/function_call at even ones
    for rows in (turns[1:], one):
        assert len(rows) % 2 == 0
        assert all(t["from"] in (("human", "observation"), ("gpt", "function_call"))[i % 2]
                   for i, t in enumerate(rows))  # fmt: skip


@pytest.mark.parametrize("fmt", TOOL_FORMATS)
def test_exports_read_back_as_the_canonical_trajectory(tmp_path, fmt):
    out = tmp_path / f"{fmt}.jsonl"
    summary = export_records([trajectory(), single()], out, fmt)
    assert summary.written == 2 and not summary.total_rejected
    assert summary.fields_used == {"messages": {"messages": 2}, "tools": {"tools": 2}}
    back = read_export(out, fmt)
    assert back[0] == CANONICAL
    assert back[1]["messages"][1]["tool_calls"] == [_call("call_1", "cart_add", '{"item": "eggs"}')]


def test_one_tool_format_converts_into_another_losslessly(tmp_path):
    first = tmp_path / "a.jsonl"
    export_records([trajectory(), single()], first, "openai-tools")
    canonical = read_export(first, "openai-tools")
    for fmt in ("sharegpt-tools", "trl-tools", "openai-tools"):
        again = tmp_path / f"b.{fmt}.jsonl"
        export_file(first, again, fmt)
        assert read_export(again, fmt) == canonical
        first = again
    assert (tmp_path / "a.jsonl").read_text() == first.read_text()  # openai -> ... -> openai


@pytest.mark.parametrize("shape", TOOL_FORMATS)
def test_hf_dataset_keeps_each_calls_own_arguments(tmp_path, shape):
    out = tmp_path / shape
    export_records([trajectory(), single()], out, "hf", ExportMapping(shape=shape))
    assert read_export(out, "hf")[0] == CANONICAL  # no `item: null` padded into `add`'s call


@pytest.mark.parametrize("fmt", TOOL_FORMATS)
def test_a_trajectory_without_calls_exports_too(tmp_path, fmt):
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    out = tmp_path / "o.jsonl"
    export_records([single(messages=chat), single(id="bare", messages=chat, tools=None)], out, fmt)
    with_tools, bare = read_export(out, fmt)
    assert with_tools == {"messages": chat, "tools": TOOLS}
    assert bare == {"messages": chat, "tools": []}
    row = json.loads(out.read_text().splitlines()[1])
    assert row.get("tools") in (None, "")  # never an empty list: the OpenAI API refuses one


def test_system_prompt_from_mapping_and_assistant_text_before_calls():
    record = single()
    record["messages"][1]["content"] = "Let me add that."
    row = to_openai_tools(record, ExportMapping(system="Use tools."))
    assert row["messages"][0] == {"role": "system", "content": "Use tools."}
    assert row["messages"][2]["content"] == "Let me add that."
    assert to_trl_tools(record)["messages"][1]["content"] == "Let me add that."
    with pytest.raises(ExportReject) as exc:  # ShareGPT has no turn holding both
        to_sharegpt_tools(record)
    assert exc.value.reason == "text_with_tool_calls"


def test_plain_chat_formats_still_reject_tool_turns():
    with pytest.raises(ExportReject) as exc:
        to_openai(trajectory())
    assert exc.value.reason == "bad_role" and "openai-tools" in exc.value.detail


# -- rejects ----------------------------------------------------------------------------
def _unanswered(r):
    del r["messages"][3]


def _bad_json(r):
    r["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"a": 2, "b": '


def _not_object(r):
    r["messages"][2]["tool_calls"][0]["function"]["arguments"] = "[2, 3]"


def _no_tools(r):
    r["tools"] = []


def _undeclared(r):
    r["tools"] = r["tools"][:1]


def _unknown_id(r):
    r["messages"][3]["tool_call_id"] = "nope"


def _ends_on_result(r):
    del r["messages"][-1]


def _duplicate_id(r):
    r["messages"][2]["tool_calls"][1]["id"] = "c-add"


def _no_name(r):
    del r["messages"][2]["tool_calls"][0]["function"]["name"]


def _bad_role(r):
    r["messages"][1]["role"] = "function"


def _two_replies(r):
    r["messages"].append({"role": "assistant", "content": "Anything else?"})


def _result_first(r):
    r["messages"].insert(1, {"role": "tool", "tool_call_id": "c-add", "content": "5"})


BROKEN = {
    "unanswered_tool_call": _unanswered,
    "bad_arguments": _bad_json,
    "bad_arguments/not-object": _not_object,
    "missing_tools": _no_tools,
    "undeclared_tool": _undeclared,
    "unknown_tool_call_id": _unknown_id,
    "last_not_assistant": _ends_on_result,
    "duplicate_tool_call_id": _duplicate_id,
    "bad_tool_call": _no_name,
    "bad_role": _bad_role,
    "roles_not_alternating": _two_replies,
    "unknown_tool_call_id/before-any-call": _result_first,
}


@pytest.mark.parametrize("fmt", TOOL_FORMATS)
def test_malformed_trajectories_are_rejected_with_reasons(tmp_path, fmt):
    records = [single(id="good")]
    for name, damage in BROKEN.items():
        record = trajectory(id=name)
        damage(record)
        records.append(record)
    out = tmp_path / "out.jsonl"
    summary = export_records(records, out, fmt)
    assert summary.written == 1
    rejected = [json.loads(line) for line in rejected_path(out).read_text().splitlines()]
    assert {r["id"]: r["reason"] for r in rejected} == {name: name.split("/")[0] for name in BROKEN}
    assert all(r["detail"] and r["record"]["id"] == r["id"] for r in rejected)
    assert read_export(out, fmt)[0]["messages"][-1]["content"] == "Eggs are in your cart."


def test_ids_may_repeat_across_turns_and_results_may_come_without_ids():
    record = single()
    record["messages"] += [
        {"role": "user", "content": "And milk."},
        {"role": "assistant", "content": None, "tool_calls": [_call("x", "cart_add", '{"item": "milk"}')]},
        {"role": "tool", "tool_call_id": "x", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Milk too."},
    ]  # fmt: skip
    row = to_openai_tools(record)
    assert [m.get("tool_call_id") for m in row["messages"] if m["role"] == "tool"] == [
        "call_1", "call_2"
    ]  # fmt: skip
    for m in record["messages"]:  # some models emit no ids: results match calls by position
        m.get("tool_calls", [{}])[0].pop("id", None)
        m.pop("tool_call_id", None)
    assert to_openai_tools(record) == row


def test_rejections_name_the_turn():
    record = trajectory()
    _unanswered(record)
    with pytest.raises(ExportReject) as exc:
        to_trl_tools(record)
    assert exc.value.detail == "turn 3: call 'c-cart' has no tool result before the next turn"


def test_dropped_trajectory_is_not_exported(tmp_path):
    dropped = single(_drop={"step": "verify_trajectories", "reason": "wrong_final_state"})
    summary = export_records([dropped, trajectory()], tmp_path / "o.jsonl", "trl-tools")
    assert summary.written == 1 and summary.rejected == {"dropped": 1}


def test_cli_exports_trajectories(tmp_path):
    from typer.testing import CliRunner

    from synthpipe.cli import app

    src = tmp_path / "trajectories.jsonl"
    broken = trajectory(id="broken")
    _unanswered(broken)
    src.write_text("".join(json.dumps(r) + "\n" for r in (trajectory(), broken)))
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(
        app, ["export", str(src), "--format", "sharegpt-tools", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 1 sharegpt-tools rows" in result.output
    assert "rejected 1 (unanswered_tool_call 1)" in result.output
    assert read_export(out, "sharegpt-tools") == [CANONICAL]


# -- TRL's SFT data path ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_tool_model(tmp_path_factory) -> tuple[Path, str]:
    """The tiny local model, and the Qwen2.5 chat template TRL ships (it renders tools)."""
    pytest.importorskip("torch")
    trl = pytest.importorskip("trl")
    from synthpipe.train.trainers.tiny_model import build_tiny_causal_lm

    template = Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja"
    if not template.is_file():
        pytest.skip("this TRL has no bundled qwen2_5 chat template")
    texts = [template.read_text(), json.dumps(trajectory()), json.dumps(single())]
    path = build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "m", vocab_from=texts)
    return path, template.read_text()


def test_trl_export_loads_in_trls_sft_data_path(tmp_path, tiny_tool_model):
    import datasets
    import trl
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import supports_tool_calling

    from synthpipe.train.trainers.hf_sft import quiet_hf

    path, template = tiny_tool_model
    out = tmp_path / "train.jsonl"
    export_records([trajectory(), single()], out, "trl-tools")
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer.chat_template = template
    assert supports_tool_calling(tokenizer)

    # the helper TRL documents for conversational rows
    tools = json.loads(ds[0]["tools"])
    text = trl.apply_chat_template({"messages": ds[0]["messages"]}, tokenizer, tools=tools)["text"]
    assert '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>' in text
    assert "<tool_response>\n5\n</tool_response>" in text
    assert '"name": "cart_add"' in text.split("# Tools")[1]  # the schemas reach the prompt

    # SFTTrainer's own preparation (chat template with the row's `tools`, tokenisation)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    with quiet_hf():
        args = trl.SFTConfig(
            output_dir=str(tmp_path / "run"), max_length=None, report_to="none", use_cpu=True,
            bf16=False, save_strategy="no", disable_tqdm=True,
        )  # fmt: skip
        trainer = trl.SFTTrainer(
            model=model, args=args, train_dataset=ds, processing_class=tokenizer
        )
    prepared = [tokenizer.decode(row["input_ids"]) for row in trainer.train_dataset]
    assert '{"name": "add", "arguments": {"a": 2, "b": 3}}' in prepared[0]
    assert '{"name": "cart_add", "arguments": {"item": "milk"}}' in prepared[0]
    assert "<tool_response>\n5\n</tool_response>" in prepared[0]
    assert '{"name": "cart_add", "arguments": {"item": "eggs"}}' in prepared[1]
    assert '"item": null' not in prepared[0]  # no argument keys borrowed from other calls
    assert prepared[1].rstrip().endswith("Eggs are in your cart.<|im_end|>")


def test_a_verified_trajectory_is_kept_exported_and_rendered_by_trl(tmp_path, tiny_tool_model):
    """The whole path: tasks with executed ground truth -> trajectories -> verify_trajectory
    keeps them -> trl-tools export -> TRL renders the calls and results through the chat template."""
    import datasets
    import trl
    from transformers import AutoTokenizer

    from synthpipe.pipeline.sources import FromRecords
    from synthpipe.procedural.tool_tasks import ToolTasks
    from synthpipe.run.api import Pipeline
    from synthpipe.tools.reference import reference_trajectory
    from synthpipe.verify.trajectory import VerifyTrajectory

    tasks = list(ToolTasks(n=4, task_types=["stateful"]).read(_context()))[0]
    trajectories = [reference_trajectory(t) for t in tasks]
    result = Pipeline("tools", {"src": FromRecords(records=trajectories), "verify": VerifyTrajectory()}).run(
        tmp_path / "run", progress=False
    )
    assert len(result.kept) == 4 and result.dropped == []
    out = tmp_path / "train.jsonl"
    summary = export_records(result.kept, out, "trl-tools")
    assert summary.total_rejected == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    tokenizer = AutoTokenizer.from_pretrained(tiny_tool_model[0], local_files_only=True)
    tokenizer.chat_template = tiny_tool_model[1]
    text = trl.apply_chat_template({"messages": ds[0]["messages"]}, tokenizer, tools=json.loads(ds[0]["tools"]))["text"]
    first_call = result.kept[0]["messages"][1]["tool_calls"][0]["function"]
    assert f'"name": "{first_call["name"]}"' in text and "<tool_response>" in text


def _context():
    from synthpipe.pipeline.step import StepContext

    return StepContext("tasks", seed=0, batch_size=10)

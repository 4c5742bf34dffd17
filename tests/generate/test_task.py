"""The LLM step base (synthpipe.generate.task): templates by role, calls, endpoints, drops."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import ClassVar

import pytest
from llm_server import ScriptedOpenAIServer, last_user_content
from pydantic import BaseModel

from synthpipe.data.records import DROP
from synthpipe.errors import UsageError
from synthpipe.generate.dialogue import SimulatedDialogue
from synthpipe.generate.task import (
    PROMPTS,
    LLMTask,
    MultiTemplateConfig,
    ParseError,
    drop_failed,
    failure,
    text_hash,
)
from synthpipe.llm.config import LLMConfig
from synthpipe.llm.pool import LLMPool
from synthpipe.llm.types import LLMError
from synthpipe.pipeline.step import StepContext


class Answer(BaseModel):
    answer: str


class TwoPrompts(LLMTask):
    """A step with a main template and a second role."""

    Config = MultiTemplateConfig
    main_role: ClassVar[str] = "ask"
    template_file: ClassVar[str] = "glan_question.jinja2"
    template_files: ClassVar[dict[str, str]] = {"answer": "glan_answer.jinja2"}
    output_schema = Answer


# -- templates ------------------------------------------------------------------------------------
def test_template_roles_files_and_hash(tmp_path: Path) -> None:
    step = TwoPrompts()
    assert step.input_files() == [PROMPTS / "glan_question.jinja2", PROMPTS / "glan_answer.jinja2"]
    assert step.template_text == (PROMPTS / "glan_question.jinja2").read_text(encoding="utf-8")
    messages = step.render_role("answer", question="Why?", discipline="D", subject="S", config=step.config)
    assert "Why?" in messages[-1]["content"]

    custom = tmp_path / "answer.jinja2"
    custom.write_text("Answer {{ question }}", encoding="utf-8")
    replaced = TwoPrompts(templates={"answer": str(custom)})
    assert replaced.input_files()[1] == custom
    assert replaced.render_role("answer", question="Why?") == [{"role": "user", "content": "Answer Why?"}]
    assert replaced.template_hash != step.template_hash  # every role's template counts
    main = TwoPrompts(template=str(custom))  # `template` replaces the main role's
    assert main.input_files() == [custom, PROMPTS / "glan_answer.jinja2"]
    assert main.render(question="Why?") == [{"role": "user", "content": "Answer Why?"}]
    with pytest.raises(UsageError, match=r"unknown template role\(s\) \['nope'\]; roles are \['answer', 'ask'\]"):
        TwoPrompts(templates={"nope": str(custom)})


def test_role_template_config_fields_and_single_template_hash(tmp_path: Path) -> None:
    custom = tmp_path / "user.jinja2"
    custom.write_text("{{ instruction }}", encoding="utf-8")
    step = SimulatedDialogue(user_template=str(custom))  # `<role>_template` replaces that role's file
    assert step.input_files() == [PROMPTS / "dialogue_assistant.jinja2", custom]
    from synthpipe.generate.humpback import SelfCurate

    single = SelfCurate()
    assert single.template_hash == text_hash((PROMPTS / "humpback_curate.jinja2").read_text(encoding="utf-8"))


# -- calls ------------------------------------------------------------------------------------------
def responder(body: dict) -> str:
    if body.get("response_format"):
        return json.dumps({"answer": f"{body['model']}: {last_user_content(body)}"})
    return f"plain from {body['model']}"


def test_ask_with_schemas_endpoints_and_sampling_overrides() -> None:
    step = TwoPrompts(temperature=0.3, max_tokens=100)
    messages = [{"role": "user", "content": "Q?"}]

    async def calls(ctx: StepContext) -> list:
        return [
            await step.ask(ctx, messages, 1),  # the step's output_schema
            await step.ask(ctx, messages, 1, schema=str),  # plain text
            await step.ask(ctx, messages, 1, llm="judge", temperature=0.0, max_tokens=7),
        ]

    with ScriptedOpenAIServer(responder=responder) as server:
        llms = {name: LLMConfig(backend="openai", base_url=server.base_url, model=f"m-{name}", max_retries=0)
                for name in ("default", "judge")}  # fmt: skip
        pool = LLMPool(llms, use_cache=False)
        try:
            structured, plain, judged = asyncio.run(calls(StepContext("s", resources=pool)))
        finally:
            pool.close()
        requests = list(server.requests)
    assert structured[0] == {"answer": "m-default: Q?"}
    assert plain == ("plain from m-default", "plain from m-default")
    assert judged[0] == {"answer": "m-judge: Q?"}
    assert requests[0]["response_format"]["json_schema"]["name"] == "TwoPrompts"
    assert "response_format" not in requests[1]
    assert (requests[1]["temperature"], requests[1]["max_tokens"]) == (0.3, 100)
    assert (requests[2]["model"], requests[2]["temperature"], requests[2]["max_tokens"]) == ("m-judge", 0.0, 7)


def test_ask_rejects_unknown_sampling_overrides() -> None:
    step = TwoPrompts()
    ctx = StepContext("s", resources=LLMPool({}, use_cache=False))
    with pytest.raises(ValueError, match="temprature"):
        asyncio.run(step.ask(ctx, [{"role": "user", "content": "Q?"}], 1, temprature=0.1))


# -- endpoints --------------------------------------------------------------------------------------
def test_fingerprint_records_every_endpoint_and_names_a_missing_one() -> None:
    llms = {n: LLMConfig(backend="openai", base_url="http://x/v1", model=f"m-{n}") for n in ("default", "sim")}
    step = SimulatedDialogue(user_llm="sim")
    assert step.llm_names() == ["default", "sim"]
    assert step.fingerprint_extra({"llms": llms}) == {
        "llms": {n: {"backend": "openai", "model": f"m-{n}"} for n in ("default", "sim")}
    }
    assert TwoPrompts().fingerprint_extra({}) == {"llms": {"default": "default"}}  # no env: the names
    with pytest.raises(UsageError, match="TwoPrompts: llm 'other' is not defined"):
        TwoPrompts(llm="other").fingerprint_extra({"llms": llms})


# -- drops ------------------------------------------------------------------------------------------
def test_failures_and_missing_inputs() -> None:
    assert failure(ParseError("refusal", "x" * 3000)) == ("refusal", "x" * 2000)
    assert failure(LLMError("gave up " + "y" * 2000))[0] == "llm_error"
    assert len(failure(LLMError("y" * 2000))[1]) == 1000
    record = drop_failed({"id": "a"}, "s", ParseError("parse_error", "bad"))
    assert record[DROP] == {"step": "s", "reason": "parse_error", "detail": "bad"}

    step = TwoPrompts()
    ctx = StepContext("s")
    assert not step.drop_if_missing({"x": " "}, ctx, ["x"])  # whitespace is a value...
    blank = {"x": " "}
    assert step.drop_if_missing(blank, ctx, ["x"], blank=True)  # ...unless `blank`
    assert blank[DROP] == {"step": "s", "reason": "missing_input", "detail": "empty or missing ['x']"}
    assert step.drop_if_missing({"x": None}, ctx, ["x"]) and not step.drop_if_missing({"x": 0}, ctx, ["x"])


def test_input_field_options_rename_inputs() -> None:
    from synthpipe.generate.llm_judge import PairwiseJudge
    from synthpipe.generate.wrap import WRAP

    step = PairwiseJudge(response_a_field="mine", response_b_field="theirs")
    assert step.inputs == ("instruction", "mine", "theirs") and PairwiseJudge.inputs[1] == "response_a"
    assert WRAP().inputs == ("text",)  # no `text_field` option: the input's own name

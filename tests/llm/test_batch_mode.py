"""Batch mode (`mode: batch`) against a local server implementing both providers' batch APIs."""

from __future__ import annotations

import json
import shutil

import pytest
from batch_server import BatchServer

from synthpipe import Pipeline
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import LLMConfig
from synthpipe.pipeline.sources import FromRecords

N = 40
FAST = {"batch_flush_s": 0.05, "batch_poll_s": 0.02, "batch_poll_max_s": 0.05, "max_retries": 2,
        "backoff_base_s": 0.01, "backoff_max_s": 0.02}  # fmt: skip


def records(n: int = N) -> list[dict]:
    return [{"id": f"q{i:03d}", "question": f"what is {i} plus {i}?"} for i in range(n)]


def llm(server: BatchServer, **kw) -> LLMConfig:
    return LLMConfig(**{"backend": "openai", "base_url": server.base_url, "model": "test-model", **FAST, **kw})


def pipeline(config: LLMConfig, tmp_path, n: int = N, cache: str = "cache.sqlite", **settings) -> Pipeline:
    return Pipeline(
        "batch",
        {
            "questions": FromRecords(records=records(n)),
            "answer": TextGeneration(prompt="Answer briefly: {{ question }}", output_field="answer"),
        },
        llms={"default": config},
        llm_cache=str(tmp_path / cache),
        **{"batch_size": 10, **settings},
    )


def answers(result) -> dict[str, str]:
    return {r["id"]: r["answer"] for r in result.kept}


def registry(run) -> list[dict]:
    return [json.loads(line) for line in (run / "llm_batches.jsonl").read_text().splitlines()]


def test_batch_mode_keeps_what_online_mode_keeps_and_pays_each_line_once(tmp_path):
    with BatchServer(delay_s=0.05) as server:
        online = pipeline(llm(server), tmp_path, cache="online.sqlite").run(tmp_path / "online")
        batch = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "batch")
        assert answers(batch) == answers(online) and len(answers(batch)) == N
        assert len(server.submitted) == N and max(server.submitted.values()) == 1
        # the 4 record batches in flight at once went out as one provider batch
        assert len(server.creates) == 1
        stats = batch.metrics["llm"]["endpoints"]["default"]
        assert stats["batch"]["batches_submitted"] == 1 and stats["batch"]["batch_lines_done"] == N
        assert stats["batch"]["batch_lines_processed"] == N  # as the provider reported while polled
        assert stats["requests"] == N
        events = [e["event"] for e in registry(tmp_path / "batch")]
        assert events == ["uploaded", "created", "ended", "read"]
        # the replies are in the response cache under their custom_ids: a rerun is free
        [ids] = server.creates.values()
        cache = ResponseCache(tmp_path / "cache.sqlite")
        assert len(cache.get_many(ids)) == N
        cache.close()
        again = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "batch2")
        assert answers(again) == answers(online) and len(server.creates) == 1


def test_custom_ids_fit_anthropic_and_openai_rules(tmp_path):
    with BatchServer() as server:
        pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        [ids] = server.creates.values()
        assert all(len(cid) == 64 and set(cid) <= set("0123456789abcdef") for cid in ids)


def test_ten_percent_of_lines_error_and_are_retried_in_a_new_batch(tmp_path):
    with BatchServer(line_errors=0.1, line_error_submissions=1) as server:
        result = pipeline(llm(server, mode="batch"), tmp_path, n=100).run(tmp_path / "run")
        assert len(result.kept) == 100 and not result.dropped
        failed_first = [cid for cid, n in server.submitted.items() if n == 2]
        assert 3 <= len(failed_first) <= 20  # about 10% came back in the error file
        assert max(server.submitted.values()) == 2  # each failed line was sent once more
        stats = result.metrics["llm"]["endpoints"]["default"]["batch"]
        assert stats["batch_lines_retried"] == len(failed_first)


def test_lines_failing_every_retry_drop_as_llm_error_with_the_providers_message(tmp_path):
    with BatchServer(line_errors=0.1, line_error_submissions=None) as server:
        result = pipeline(llm(server, mode="batch", batch_max_retries=1), tmp_path, n=100).run(tmp_path / "run")
        assert 3 <= len(result.dropped) <= 20 and len(result.kept) + len(result.dropped) == 100
        for record in result.dropped:
            assert record["_drop"]["reason"] == "llm_error"
            assert "2 submission(s)" in record["_drop"]["detail"]
            assert "error processing your request (injected)" in record["_drop"]["detail"]
        assert max(server.submitted.values()) == 2  # first try + batch_max_retries=1


def test_failed_lines_can_be_retried_online(tmp_path):
    with BatchServer(line_errors=0.2, line_error_submissions=None) as server:
        result = pipeline(llm(server, mode="batch", batch_retry="online"), tmp_path).run(tmp_path / "run")
        assert len(result.kept) == N
        assert 1 <= len(server.requests) <= N // 2  # the failed lines, asked online
        assert len(server.creates) == 1 and max(server.submitted.values()) == 1


def test_expired_lines_are_sent_again(tmp_path):
    with BatchServer(expire=0.3) as server:
        result = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert len(result.kept) == N
        statuses = [e["status"] for e in registry(tmp_path / "run") if e["event"] == "ended"]
        assert statuses == ["expired", "completed"]


def test_an_upload_failure_is_retried(tmp_path):
    with BatchServer(upload_failures=1) as server:
        result = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert len(result.kept) == N and server.uploads == 2 and len(server.creates) == 1


def test_anthropic_batches_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", "sk-ant-test-key-1234567890")
    with BatchServer(delay_s=0.05, api_key="sk-ant-test-key-1234567890", line_errors=0.1) as server:
        config = llm(server, backend="anthropic", api_key_env="ANTHROPIC_TEST_KEY", mode="batch")
        result = pipeline(config, tmp_path).run(tmp_path / "run")
        assert len(result.kept) == N
        assert all(r["answer"] == f"echo 0: Answer briefly: {r['question']}" for r in result.kept)
        assert server.online_messages == 0 and len(server.creates) == 2  # errored lines in a second batch
        # online mode answers the same from the Messages API (and from the shared cache)
        online = pipeline(config.model_copy(update={"mode": "online"}), tmp_path, cache="fresh.sqlite").run(tmp_path / "o")
        assert answers(online) == answers(result) and server.online_messages == N


def test_batch_rate_prices_the_budget_and_unset_batch_prices_fall_back_to_online():
    config = LLMConfig(model="m", base_url="http://127.0.0.1:1/v1", price_per_1k_input=1.0, price_per_1k_output=2.0)
    assert config.cost(1000, 1000, batch=True) == config.cost(1000, 1000) == 3.0
    halved = config.model_copy(update={"price_per_1k_input_batch": 0.5, "price_per_1k_output_batch": 1.0})
    assert halved.cost(1000, 1000, batch=True) == 1.5


def test_batch_mode_needs_an_http_backend():
    with pytest.raises(ValueError, match="mode 'batch' needs backend"):
        LLMConfig(backend="transformers", model="x", mode="batch")


def test_dry_run_prices_batch_requests_at_the_batch_rate(tmp_path):
    prices = {"price_per_1k_input": 0.15, "price_per_1k_output": 0.6,
              "price_per_1k_input_batch": 0.075, "price_per_1k_output_batch": 0.3}  # fmt: skip
    with BatchServer() as server:
        online = pipeline(llm(server, **prices), tmp_path).dry_run(tmp_path / "online")
        batch = pipeline(llm(server, mode="batch", **prices), tmp_path).dry_run(tmp_path / "batch")
        [row_online], [row_batch] = online["steps"], batch["steps"]
        assert row_batch["mode"] == "batch" and row_batch["requests"] == row_online["requests"] == N
        assert row_batch["cost_max"] == pytest.approx(row_online["cost_max"] / 2, abs=1e-4)
        assert not server.creates and not server.requests  # nothing was sent


def test_a_request_cap_bounds_what_batches_send_and_a_rerun_pays_nothing_twice(tmp_path):
    from synthpipe.llm.config import BudgetConfig
    from synthpipe.llm.types import BudgetExceeded

    with BatchServer() as server:
        capped = pipeline(llm(server, mode="batch"), tmp_path, budget=BudgetConfig(max_requests=25))
        with pytest.raises(BudgetExceeded, match="max_requests=25"):
            capped.run(tmp_path / "run")
        assert len(server.submitted) == 25  # never more lines sent than the cap allows
        result = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert len(result.kept) == N and len(server.submitted) == N and max(server.submitted.values()) == 1


def _lose_the_create(run, cache_path) -> None:
    """As if the run was killed after uploading its input file, before `created` was written."""
    path = run / "llm_batches.jsonl"
    uploaded = [line for line in path.read_text().splitlines() if json.loads(line)["event"] == "uploaded"]
    path.write_text("\n".join(uploaded) + "\n" + '{"event": "crea')  # and a torn last line
    _drop_cache(cache_path)


def _drop_cache(cache_path) -> None:
    for suffix in ("", "-wal", "-shm"):
        cache_path.with_name(cache_path.name + suffix).unlink(missing_ok=True)


def test_a_batch_created_but_not_recorded_is_found_by_its_input_file(tmp_path):
    with BatchServer() as server:
        first = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        _lose_the_create(tmp_path / "run", tmp_path / "cache.sqlite")
        shutil.rmtree(tmp_path / "run" / "steps")
        again = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert answers(again) == answers(first)
        assert len(server.creates) == 1 and server.uploads == 1  # found, not created again


def test_an_uploaded_file_whose_batch_was_never_created_is_not_uploaded_again(tmp_path):
    with BatchServer() as server:
        first = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        _lose_the_create(tmp_path / "run", tmp_path / "cache.sqlite")
        shutil.rmtree(tmp_path / "run" / "steps")
        server.batches.clear()  # the provider never created it
        again = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert answers(again) == answers(first)
        assert len(server.creates) == 2 and server.uploads == 1


def test_anthropic_messages_map_onto_chat_responses():
    from synthpipe.llm.anthropic_backend import message_params, parse_message
    from synthpipe.llm.types import ChatRequest, SamplingParams

    config = LLMConfig(backend="anthropic", base_url="http://127.0.0.1:1/v1", model="claude-x")
    request = ChatRequest([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                          SamplingParams(max_tokens=7, stop=("END",)))  # fmt: skip
    params = message_params(config, request)
    assert params["system"] == "Be brief." and params["messages"] == [{"role": "user", "content": "hi"}]
    assert params["max_tokens"] == 7 and params["stop_sequences"] == ["END"]
    reply = parse_message({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                           "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 7}})  # fmt: skip
    assert reply.texts == ["ab"] and reply.truncated and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 7)


def test_a_cancelled_batch_ends_with_its_lines_retryable():
    import asyncio

    from synthpipe.llm.batch.providers import LineError, make_provider
    from synthpipe.llm.client import make_backend
    from synthpipe.llm.types import ChatRequest

    async def go(server: BatchServer, backend: str) -> dict:
        client = make_backend(LLMConfig(backend=backend, base_url=server.base_url, model="m"))
        provider = make_provider(client)
        lines = [provider.line(f"id{i}", ChatRequest([{"role": "user", "content": f"q{i}"}])) for i in range(3)]
        batch = await provider.create(lines, await provider.upload(lines))
        assert not batch.ended
        await provider.cancel(batch.batch_id)
        state = await provider.poll(batch.batch_id)
        results = await provider.results(state)
        await client.aclose()
        return {"ended": state.ended, "status": state.status, "results": results}

    with BatchServer(delay_s=60) as server:
        for backend, status in (("openai", "cancelled"), ("anthropic", "ended")):
            out = asyncio.run(go(server, backend))
            assert out["ended"] and out["status"] == status and len(out["results"]) == 3
            assert all(isinstance(r, LineError) and r.retryable for r in out["results"].values())


def test_structured_output_falls_back_to_prompting_when_a_batch_rejects_response_format(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    with BatchServer(responder=lambda body: json.dumps({"answer": 42}), supports_response_format=False) as server:
        pipe = Pipeline(
            "structured",
            {
                "questions": FromRecords(records=records(6)),
                "answer": TextGeneration(prompt="{{ question }}", json_schema=schema, output_field="parsed"),
            },
            llms={"default": llm(server, mode="batch")},
            llm_cache=str(tmp_path / "cache.sqlite"),
        )
        result = pipe.run(tmp_path / "run")
        assert [r["parsed"] for r in result.kept] == [{"answer": 42}] * 6
        assert len(server.creates) == 2  # with response_format (rejected), then with the schema in the prompt


def test_a_recorded_batch_the_provider_no_longer_knows_is_written_off_and_its_lines_sent_again(tmp_path):
    with BatchServer() as server:
        first = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        path = tmp_path / "run" / "llm_batches.jsonl"  # as if killed before the batch was read...
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if '"read"' not in line))
        _drop_cache(tmp_path / "cache.sqlite")
        shutil.rmtree(tmp_path / "run" / "steps")
        server.batches.clear()  # ...and the provider has since forgotten it (404)
        again = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run")
        assert answers(again) == answers(first) and len(server.creates) == 2
        assert [e["event"] for e in registry(tmp_path / "run")][-5:] == ["abandoned", "uploaded", "created", "ended", "read"]
        third = pipeline(llm(server, mode="batch"), tmp_path).run(tmp_path / "run3")
        assert answers(third) == answers(first) and len(server.creates) == 2  # cached; the lost batch stays written off

"""LLM steps inside real runs, against a real HTTP server on 127.0.0.1 with injected faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from llm_server import FaultPlan, ScriptedOpenAIServer, last_user_content

from synthpipe import Pipeline
from synthpipe.errors import UsageError
from synthpipe.generate.text_generation import TextGeneration
from synthpipe.llm.cache import ResponseCache
from synthpipe.llm.config import BudgetConfig, LLMConfig
from synthpipe.llm.types import BudgetExceeded
from synthpipe.pipeline.sources import FromRecords

N = 60


def records(n: int = N) -> list[dict]:
    return [{"id": f"q{i:03d}", "question": f"what is {i} plus {i}?"} for i in range(n)]


def llm(server: ScriptedOpenAIServer, **kw) -> LLMConfig:
    defaults = {"max_retries": 4, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 0.5}
    return LLMConfig(backend="openai", base_url=server.base_url, model="test-model", **{**defaults, **kw})


def pipeline(server, tmp_path, n=N, budget=None, **llm_kw) -> Pipeline:
    return Pipeline(
        "llm",
        {
            "questions": FromRecords(records=records(n)),
            "answer": TextGeneration(prompt="Answer briefly: {{ question }}", output_field="answer"),
        },
        llms={"default": llm(server, **llm_kw)},
        llm_cache=str(tmp_path / "cache.sqlite"),
        budget=budget or BudgetConfig(),
        batch_size=10,
    )


def ledger_ids(result) -> tuple[set[str], set[str]]:
    return {r["id"] for r in result.kept}, {r["id"] for r in result.dropped}


FAULT_MIXES = {
    "rate_limits": FaultPlan(rate_limit=0.4, retry_after_s=0.01, max_failures_per_key=3),
    "server_errors": FaultPlan(server_error=0.3, unavailable=0.3, max_failures_per_key=3),
    "resets_and_malformed": FaultPlan(reset=0.3, malformed=0.3, max_failures_per_key=3),
    "timeouts": FaultPlan(timeout=0.2, hang_s=1.0, max_failures_per_key=2),
    "everything": FaultPlan(
        rate_limit=0.1, server_error=0.1, unavailable=0.1, reset=0.1, malformed=0.1, timeout=0.05,
        retry_after_s=0.01, hang_s=1.0, max_failures_per_key=3,
    ),
}


@pytest.mark.parametrize("mix", list(FAULT_MIXES), ids=list(FAULT_MIXES))
def test_no_record_lost_under_faults_and_retries_are_bounded(tmp_path, mix):
    with ScriptedOpenAIServer(faults=FAULT_MIXES[mix]) as server:
        result = pipeline(server, tmp_path).run(tmp_path / "run")
        kept, dropped = ledger_ids(result)
        assert kept | dropped == {r["id"] for r in records()} and not kept & dropped
        assert not dropped  # every request succeeds within max_retries when faults are capped
        assert all(r["answer"].startswith("echo 0: Answer briefly: what is") for r in result.kept)
        assert max(server.count_by_key.values()) <= 5  # 1 attempt + max_retries
        assert result.metrics["llm"]["endpoints"]["default"]["retries"] == sum(server.faults_injected.values())


def test_exhausted_retries_drop_the_record_and_a_rerun_retries_only_those(tmp_path):
    doomed = FaultPlan(server_error=1.0, fail_keys={"what is 7 plus", "what is 13 plus"}, always=True)
    with ScriptedOpenAIServer(faults=doomed) as server:
        first = pipeline(server, tmp_path, max_retries=2).run(tmp_path / "run")
        dropped = {r["id"]: r["_drop"] for r in first.dropped}
        assert set(dropped) == {"q007", "q013"}
        assert all(d["reason"] == "llm_error" and "gave up after 3 attempts" in d["detail"] for d in dropped.values())
        assert max(server.count_by_key.values()) == 3
        assert first.metrics["llm"]["endpoints"]["default"]["failures"] == 2
        server.faults = None  # the endpoint recovers
        server.reset_counters()
        second = pipeline(server, tmp_path, max_retries=2).run(tmp_path / "run")
        assert len(second.kept) == N and not second.dropped
        assert len(server.requests) == 2  # only the two failed records were asked again


def test_budget_cap_stops_cleanly_and_resumes_without_paying_twice(tmp_path):
    with ScriptedOpenAIServer() as server:
        with pytest.raises(BudgetExceeded, match="max_requests=25"):
            pipeline(server, tmp_path, budget=BudgetConfig(max_requests=25), max_concurrency=4).run(tmp_path / "run")
        paid_first = len(server.requests)
        assert 25 <= paid_first <= 25 + 4  # in-flight requests may finish: overshoot < concurrency
        state = json.loads((tmp_path / "run" / "run.json").read_text())
        assert state["status"] == "budget_reached"
        result = pipeline(server, tmp_path, budget=BudgetConfig(max_requests=100)).run(tmp_path / "run")
        assert len(result.kept) == N
        assert len(server.requests) == N  # nothing paid twice across the stop
        assert max(server.successes_by_key.values()) == 1


def test_structured_output_falls_back_to_prompting_and_feeds_errors_back(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}

    def responder(body):
        text = last_user_content(body)
        if "q-bad" in json.dumps(body["messages"]):
            return "I refuse to produce JSON."
        if "That reply was invalid" in text:  # the retry carries the error: now comply
            return json.dumps({"answer": 42})
        return "Sure! {not json"

    with ScriptedOpenAIServer(responder=responder, supports_response_format=False) as server:
        pipe = Pipeline(
            "structured",
            {
                "questions": FromRecords(records=[{"id": "q-ok", "question": "six times seven"}, {"id": "q-bad", "question": "q-bad"}]),
                "answer": TextGeneration(prompt="{{ id }}: {{ question }}", json_schema=schema, output_field="parsed"),
            },
            llms={"default": llm(server)},
            llm_cache=str(tmp_path / "cache.sqlite"),
        )
        result = pipe.run(tmp_path / "run")
        assert [r["parsed"] for r in result.kept] == [{"answer": 42}]
        [bad] = result.dropped
        assert bad["_drop"]["reason"] == "parse_error" and "I refuse to produce JSON." in bad["_drop"]["detail"]
        assert any("response_format" in r for r in server.requests)  # tried guided decoding first
        assert "json schema" in json.dumps(server.requests[-1]).lower()  # then the schema went into the prompt


def test_the_api_key_never_reaches_disk(tmp_path, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-31337"
    monkeypatch.setenv("SYNTHPIPE_TEST_KEY", secret)
    with ScriptedOpenAIServer(api_key=secret, faults=FaultPlan(server_error=0.3, max_failures_per_key=1)) as server:
        result = pipeline(server, tmp_path, api_key_env="SYNTHPIPE_TEST_KEY").run(tmp_path / "run")
        assert len(result.kept) == N
        monkeypatch.setenv("SYNTHPIPE_TEST_KEY", "wrong")
        wrong_key = pipeline(server, tmp_path / "other-cache", api_key_env="SYNTHPIPE_TEST_KEY")
        with pytest.raises(UsageError, match=r"401.*SYNTHPIPE_TEST_KEY"):  # a bad key stops the run
            wrong_key.run(tmp_path / "run2")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret found in {path}"


def test_dry_run_counts_requests_and_cache_hits_without_calling(tmp_path):
    with ScriptedOpenAIServer() as server:
        pipe = pipeline(server, tmp_path, price_per_1k_input=1.0, price_per_1k_output=2.0)
        estimate = pipe.dry_run(tmp_path / "run")
        assert server.requests == []
        [row] = estimate["steps"]
        assert row["requests"] == N and row["cached_first_requests"] == 0 and row["exact"]
        assert row["completion_tokens_max"] == N * 512 and estimate["totals"]["cost_max"] > 0
        pipe.run(tmp_path / "run")
        again = pipeline(server, tmp_path).dry_run(tmp_path / "run2")
        assert again["steps"][0]["cached_first_requests"] == N


RECIPE = """\
name: killed
batch_size: 5
max_inflight: 2
llms:
  default: {{backend: openai, base_url: "{url}", model: test-model, max_concurrency: 4,
            backoff_base_s: 0.01, timeout_s: 5}}
llm_cache: "{cache}"
steps:
  questions: {{step: read, path: "{data}", text_field: question}}
  answer: {{step: llm_generate, prompt: "Answer: {{{{ text }}}}", output_field: answer}}
"""


def test_resume_after_sigkill_mid_generation_pays_no_request_twice(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records(80)))
    with ScriptedOpenAIServer(latency_s=0.03) as server:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(RECIPE.format(url=server.base_url, cache=tmp_path / "cache.sqlite", data=data))
        cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(tmp_path / "run"), "-q"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while len(server.requests) < 30:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with ResponseCache(tmp_path / "cache.sqlite") as cache:
            cached_at_kill = cache.stats()["entries"]
        server.reset_counters()
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        kept = [json.loads(line) for line in (tmp_path / "run" / "kept.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in records(80))
        assert cached_at_kill >= 25
        # every response cached before the kill is reused: only the rest are requested, once each
        assert len(server.requests) == 80 - cached_at_kill
        assert max(server.successes_by_key.values()) == 1

"""The Ray executor gives the local executor's results: same kept and dropped records, same
reasons and details, same shards; no record lost when a worker or the driver dies.

Runs on a local Ray started here with 2 CPUs (shared by the module, shut down at its end).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

from synthpipe import Pipeline  # noqa: E402
from synthpipe.curate.decontam.step import Decontaminate  # noqa: E402
from synthpipe.curate.exact_dedup import ExactDedup  # noqa: E402
from synthpipe.curate.minhash import MinHashDedup  # noqa: E402
from synthpipe.curate.text_filters import TextFilter  # noqa: E402
from synthpipe.pipeline.sources import FromRecords  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
TOY = TESTS / "pipeline"  # toy_steps: a counting source and a slow tagger
sys.path.insert(0, str(TOY))
from dedup_corpus import dedup_corpus  # noqa: E402  (beside this file)
from toy_steps import CountingSource, SlowTagger  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from ray_cluster import cmdline, descendants  # noqa: E402  (the process-tree helpers of the cluster script)


def ledger(result) -> tuple[list[str], list[tuple]]:
    kept = sorted(r["id"] for r in result.kept)
    dropped = sorted(
        (r["id"], r["_drop"]["step"], r["_drop"]["reason"], r["_drop"]["detail"])
        for r in result.dropped
    )
    return kept, dropped


def shard_tables(run: Path) -> dict[str, object]:
    return {
        str(p.relative_to(run)): pq.read_table(p)
        for p in sorted((run / "steps").rglob("part-*.parquet"))
    }


def test_ray_is_not_imported_with_synthpipe():
    code = (
        "import synthpipe, synthpipe.run.api, synthpipe.executors, sys; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- (a) the quickstart --------------------------------------------------------------------------
QUICKSTART = ["steps.generate.n=400", "experiment=null", "steps.audit.embed=false"]


def test_quickstart_gives_the_same_records_and_shards_as_local(ray_cluster, tmp_path):
    recipe = ROOT / "recipes" / "quickstart.yaml"
    local = Pipeline.from_recipe(recipe, QUICKSTART).run(tmp_path / "local")
    on_ray = Pipeline.from_recipe(recipe, QUICKSTART).run(tmp_path / "ray", executor="ray")
    assert on_ray.metrics["run"]["executor"] == "ray"
    kept, dropped = ledger(on_ray)
    assert (kept, dropped) == ledger(local)
    assert len(kept) > 300 and {d[2] for d in dropped} >= {"duplicate", "contaminated"}
    ours, theirs = shard_tables(tmp_path / "ray"), shard_tables(tmp_path / "local")
    assert ours.keys() == theirs.keys() and all(ours[k].equals(theirs[k]) for k in ours)
    steps = {s["name"]: s for s in on_ray.metrics["steps"]}
    assert steps["filter"]["in"] == 400 and steps["audit"]["out"] == len(kept)
    assert list((tmp_path / "ray" / "steps").glob("*-audit/audit.json"))  # the audit's distributed form wrote it


# -- (b) exact + near-duplicate removal + decontamination ---------------------------------------
def dedup_pipeline() -> Pipeline:
    steps = {
        "source": FromRecords(records=dedup_corpus()),
        "exact": ExactDedup(),
        "near": MinHashDedup(bucket_cap=8),
        "decontam": Decontaminate(benchmarks=["gsm8k", "trec"]),
    }
    return Pipeline("dedup", steps, batch_size=100)


def test_dedup_and_decontamination_give_the_same_drops_as_local(ray_cluster, tmp_path, caplog):
    local = dedup_pipeline().run(tmp_path / "local")
    with caplog.at_level(logging.INFO, logger="synthpipe.ray"):
        on_ray = dedup_pipeline().run(tmp_path / "ray", executor="ray")
    assert "no distributed form" not in caplog.text  # all three ran as Ray tasks, not on the driver
    kept, dropped = ledger(on_ray)
    assert (kept, dropped) == ledger(local)  # ids, steps, reasons and details
    reasons = {(d[1], d[2]) for d in dropped}
    assert reasons == {
        ("exact", "duplicate"),
        ("near", "near_duplicate"),
        ("decontam", "contaminated"),
    }
    assert any("; via " in d[3] for d in dropped)  # a chain: kept through its middle member
    ours = json.loads((tmp_path / "ray" / "minhash_summary.json").read_text())
    theirs = json.loads((tmp_path / "local" / "minhash_summary.json").read_text())
    timing = {"seconds_to_decide", "workers_used", "executor", "task_seconds", "task_output"}
    assert {k: v for k, v in ours.items() if k not in timing} == {
        k: v for k, v in theirs.items() if k not in timing
    }
    assert ours["capped_buckets"] > 0 and ours["without_text"] == 2 and ours["without_words"] == 1
    assert ours["executor"] == "ray"  # the distributed form ran, not run() on the driver


def test_a_run_started_on_ray_resumes_on_local(ray_cluster, tmp_path):
    reference = dedup_pipeline().run(tmp_path / "ref")
    run = tmp_path / "run"
    dedup_pipeline().run(run, executor="ray")
    for step in ("02-near", "03-decontam"):  # as if interrupted after the exact dedup
        for path in (run / "steps" / step).iterdir():
            path.unlink()
    assert ledger(dedup_pipeline().run(run)) == ledger(reference)


# -- (c) a worker killed mid-step ----------------------------------------------------------------
def toy_pipeline(seconds: float = 0.05, n: int = 1200) -> Pipeline:
    steps = {
        "source": CountingSource(n=n),
        "tag": SlowTagger(seconds_per_batch=seconds),
        "filter": TextFilter(min_words=2),
        "dedup": ExactDedup(),
        "tag2": SlowTagger(seconds_per_batch=0.0, drop_multiple_of=3),
    }
    return Pipeline("toy", steps, batch_size=40)


@pytest.mark.slow
def test_a_killed_worker_loses_no_record(ray_cluster, tmp_path):
    reference = toy_pipeline(0.0).run(tmp_path / "ref")
    run = tmp_path / "run"
    killed: list[str] = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            if len(list((run / "steps" / "01-tag").glob("part-*.parquet"))) >= 3:
                for pid in descendants(os.getpid()):
                    title = cmdline(pid)
                    if title.startswith("ray::") and "MapBatches" in title:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(title)
                        return
            time.sleep(0.005)

    thread = threading.Thread(target=killer)
    thread.start()
    result = toy_pipeline(0.15).run(run, executor="ray")
    thread.join()
    assert killed, "no map worker was found to kill"
    kept, dropped = ledger(result)
    ref_kept, ref_dropped = ledger(reference)
    assert kept == ref_kept and dropped == ref_dropped
    assert len(kept) + len(dropped) == 1200


# -- (d) the driver killed, then a rerun ---------------------------------------------------------
RECIPE = """\
name: killme
batch_size: 40
steps:
  source: {step: "toy_steps:CountingSource", n: 1200}
  tag: {step: "toy_steps:SlowTagger", seconds_per_batch: 0.15}
  filter: {step: text_filter, min_words: 2}
  dedup: {step: exact_dedup}
  tag2: {step: "toy_steps:SlowTagger", seconds_per_batch: 0.0, drop_multiple_of: 3}
"""


@pytest.mark.slow
def test_rerun_after_the_driver_is_killed_finishes_without_redoing_shards(ray_cluster, tmp_path):
    reference = toy_pipeline(0.0).run(tmp_path / "ref")
    recipe, run = tmp_path / "killme.yaml", tmp_path / "run"
    recipe.write_text(RECIPE)
    cmd = [
        sys.executable,
        "-m",
        "synthpipe.cli",
        "run",
        str(recipe),
        "--out",
        str(run),
        "--quiet",
        "--executor",
        "ray",
        "--address",
        ray_cluster,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tag = run / "steps" / "01-tag"
    deadline = time.time() + 90
    while len(list(tag.glob("part-*.parquet"))) < 5:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "the run never reached the kill point"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    time.sleep(0.5)  # let Ray cancel the dead driver's tasks
    before = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (run / "steps").rglob("part-*.parquet")
    }
    assert not (tag / "DONE").exists() and len(before) < 30 * 2
    result = Pipeline.from_recipe(recipe).run(run, executor="ray")
    assert ledger(result) == ledger(reference)
    for path, stamp in before.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, f"{path} was rewritten"


# -- LLM steps: one pool actor shares the limiter, the cache and the budget ------------------------
def llm_pipeline(server, cache: Path, **settings) -> Pipeline:
    from synthpipe.generate.text_generation import TextGeneration
    from synthpipe.llm.config import LLMConfig

    config = LLMConfig(
        backend="openai",
        base_url=server.base_url,
        model="test-model",
        max_retries=4,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        timeout_s=0.5,
        max_concurrency=3,
    )
    steps = {
        "questions": FromRecords(
            records=[{"id": f"q{i:03d}", "question": f"what is {i} plus {i}?"} for i in range(60)]
        ),
        "answer": TextGeneration(prompt="Answer briefly: {{ question }}", output_field="answer"),
    }
    return Pipeline(
        "llm",
        steps,
        llms={"default": config},
        llm_cache=str(cache),
        batch_size=10,
        max_inflight=2,
        **settings,
    )


def test_llm_steps_share_one_limiter_cache_and_budget(ray_cluster, tmp_path):
    sys.path.insert(0, str(TESTS / "support"))
    from llm_server import FaultPlan, ScriptedOpenAIServer

    from synthpipe.llm.config import BudgetConfig
    from synthpipe.llm.types import BudgetExceeded

    faults = FaultPlan(rate_limit=0.3, retry_after_s=0.01, max_failures_per_key=2)
    with ScriptedOpenAIServer(faults=faults, latency_s=0.01) as server:
        local = llm_pipeline(server, tmp_path / "local.sqlite").run(tmp_path / "local")
        server.reset_counters()
        on_ray = llm_pipeline(server, tmp_path / "ray.sqlite").run(tmp_path / "ray", executor="ray")
        assert server.max_in_flight <= 3  # max_concurrency holds across both step actors
        assert sorted((r["id"], r["answer"]) for r in on_ray.kept) == sorted(
            (r["id"], r["answer"]) for r in local.kept
        )
        usage = on_ray.metrics["llm"]
        assert (
            usage["endpoints"]["default"]["requests"] == 60
            and usage["budget"]["spent_requests"] == 60
        )
        assert usage["endpoints"]["default"]["retries"] == sum(server.faults_injected.values()) > 0
        assert usage["cache"]["entries"] == 60
        again = llm_pipeline(server, tmp_path / "ray.sqlite").run(tmp_path / "ray2", executor="ray")
        assert (
            again.metrics["llm"]["endpoints"]["default"]["cached"] == 60
        )  # the actor's cache file
        with pytest.raises(BudgetExceeded, match="max_requests=15"):
            capped = llm_pipeline(
                server, tmp_path / "capped.sqlite", budget=BudgetConfig(max_requests=15)
            )
            capped.run(tmp_path / "capped", executor="ray")
        spent = json.loads((tmp_path / "capped" / "llm_budget.json").read_text())
        assert (
            15 <= spent["requests"] <= 15 + 3
        )  # one budget for all workers: overshoot < concurrency


def test_gpu_reservations_follow_local_model_endpoints_and_step_declarations() -> None:
    from synthpipe.executors.ray_llm import pool_gpus
    from synthpipe.llm.config import LLMConfig
    from synthpipe.pipeline.step import Step

    configs = {
        "http": LLMConfig(backend="openai", base_url="http://127.0.0.1:1/v1", model="m"),
        "gpu": LLMConfig(backend="transformers", model="/models/x", device="cuda:0"),
        "cpu": LLMConfig(backend="transformers", model="/models/y", device="cpu"),
    }
    assert pool_gpus(configs) == 1.0
    assert pool_gpus({"http": configs["http"]}) == 0.0
    assert Step.num_gpus == 0.0  # steps declare GPUs as a class attribute; none by default

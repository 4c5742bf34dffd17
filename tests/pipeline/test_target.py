"""Exactly N accepted: `target: {kept: N}` generates in rounds until N records survive."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from target_toys import RateFilter

from synthpipe import Pipeline
from synthpipe.curate.exact_dedup import ExactDedup
from synthpipe.errors import RecipeError, UsageError
from synthpipe.pipeline.sources import FromRecords
from synthpipe.procedural.slot_template import SlotTemplate
from synthpipe.run.recipe import parse_recipe
from synthpipe.run.target import Round, TargetConfig, next_round

HERE = Path(__file__).parent
SUPPORT = HERE.parent / "support"


def trec_pipeline(target: dict, rate: float = 0.4, **settings) -> Pipeline:
    """slot_template (duplicates on purpose) -> a ~`rate` filter -> exact dedup."""
    steps = {"generate": SlotTemplate(seeds="bundled:trec/seeds.jsonl"), "filter": RateFilter(rate=rate),
             "dedup": ExactDedup()}  # fmt: skip
    return Pipeline("target", steps, batch_size=64, target=target, **settings)


def ledger_ids(result) -> list[str]:
    return [r["id"] for r in result.kept] + [r["id"] for r in result.dropped]


def test_exactly_n_kept_surplus_in_the_ledger_and_nothing_lost(tmp_path):
    result = trec_pipeline({"kept": 310}).run(tmp_path / "run")
    block = result.metrics["target"]
    assert len(result.kept) == 310 == block["kept"] and block["reached"] and block["shortfall"] == 0
    assert block["rounds"] >= 2 and len(block["generated_per_round"]) == block["rounds"]
    assert all(0 < p < 1 for p in block["pass_rate_per_round"])
    # every generated record is in kept or the ledger, exactly once
    ids = ledger_ids(result)
    assert len(ids) == len(set(ids)) == block["generated"] == sum(block["generated_per_round"])
    surplus = [r for r in result.dropped if r["_drop"]["reason"] == "surplus"]
    assert len(surplus) == block["surplus"] > 0
    assert {r["_drop"]["step"] for r in surplus} == {"target"}
    # round 2's records are new records (own ids), and those repeating a round-1 text are dropped
    first = {r["text"] for r in result.kept + result.dropped if not re.search(r"-r\d+$", r["id"])}
    again = [r for r in result.dropped if r["id"].endswith("-r2") and r["text"] in first]
    assert again and Counter(r["_drop"]["reason"] for r in again).keys() <= {"duplicate", "unlucky"}
    assert any(r["_drop"]["reason"] == "duplicate" for r in again)
    assert len({r["text"] for r in result.kept}) == 310


def test_a_cap_states_the_shortfall(tmp_path):
    result = trec_pipeline({"kept": 300, "max_rounds": 1}).run(tmp_path / "run")
    block = result.metrics["target"]
    assert not block["reached"] and block["rounds"] == 1
    assert block["kept"] == len(result.kept) < 300 and block["shortfall"] == 300 - len(result.kept)
    assert "max_rounds (1) reached" in block["why"]
    assert not [r for r in result.dropped if r["_drop"]["reason"] == "surplus"]

    capped = trec_pipeline({"kept": 300, "max_generated": 500}).run(tmp_path / "capped")
    block = capped.metrics["target"]
    assert block["generated"] == 500 and not block["reached"] and "max_generated (500)" in block["why"]


def test_rerun_of_a_finished_target_run_changes_nothing(tmp_path):
    first = trec_pipeline({"kept": 150}).run(tmp_path / "run")
    again = trec_pipeline({"kept": 150}).run(tmp_path / "run")
    assert [r["id"] for r in again.kept] == [r["id"] for r in first.kept]
    assert again.metrics["target"]["generated_per_round"] == first.metrics["target"]["generated_per_round"]


def test_a_source_that_cannot_grow_is_a_recipe_error(tmp_path):
    text = "name: t\ntarget: {kept: 10}\nsteps:\n  read: {step: read, path: in.jsonl}\n  filter: {step: text_filter}\n"
    with pytest.raises(RecipeError, match=r"<recipe>:2: target: .*step 'read' \(read\) has no `n`"):
        parse_recipe(text)
    steps = {"records": FromRecords(records=[{"text": "a b c"}]), "dedup": ExactDedup()}
    with pytest.raises(UsageError, match="has no `n` to grow"):
        Pipeline("t", steps, target={"kept": 5}).run(tmp_path / "run")


def test_next_round_size_follows_the_last_round_yield():
    cfg = TargetConfig(kept=1000, margin=1.1, min_round=50)
    # round 1: 1100 generated, 330 survive (30%): 670 missing / 0.3 * 1.1
    assert next_round(cfg, [Round(1100, generated=1100, kept=330, added=330)]) == (2457, None)
    assert next_round(cfg, [Round(1100, generated=1100, kept=1000, added=1000)]) == (None, None)
    small = next_round(cfg, [Round(1100, generated=1100, kept=999, added=999)])
    assert small == (50, None)  # the minimum round
    size, why = next_round(cfg, [Round(1100, generated=1100, kept=0, added=0)])
    assert size is None and "added no record" in why
    capped = TargetConfig(kept=1000, max_generated=1500)
    assert next_round(capped, [Round(1100, generated=1100, kept=330, added=330)]) == (400, None)


# -- resume ---------------------------------------------------------------------------------------
RECIPE = """\
name: target-kill
batch_size: 50
max_inflight: 2
target: {{kept: 400}}
steps:
  generate: {{step: slot_template, seeds: "bundled:trec/seeds.jsonl"}}
  filter: {{step: "target_toys:RateFilter", rate: 0.4, seconds_per_batch: 0.05, log: "{log}"}}
  dedup: {{step: exact_dedup}}
"""


def start(recipe: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def rounds_started(out: Path) -> int:
    try:
        return len(json.loads((out / "target.json").read_text())["rounds"])
    except (OSError, ValueError, KeyError):
        return 0


def run_recipe(tmp_path: Path, name: str, kill_in_round: int | None = None) -> tuple[list[str], list[str], dict]:
    log, out, recipe = tmp_path / f"{name}.log", tmp_path / name, tmp_path / f"{name}.yaml"
    recipe.write_text(RECIPE.format(log=log))
    if kill_in_round is not None:
        proc = start(recipe, out)
        filtered = lambda: len(list((out / "steps").glob("*-filter/drops-*.json")))  # noqa: E731
        deadline = time.time() + 120
        while rounds_started(out) < kill_in_round or filtered() < 12:  # round 1 is 9 batches
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the run never reached round 2"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / "kept.jsonl").exists()
        assert json.loads((out / "target.json").read_text())["rounds"][-1]["end"] is None  # killed mid-round
    proc = start(recipe, out)
    assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()
    kept = [json.loads(line)["id"] for line in (out / "kept.jsonl").read_text().splitlines()]
    metrics = json.loads((out / "metrics.json").read_text())
    return kept, log.read_text().split(), metrics


@pytest.mark.slow
def test_resume_after_sigkill_in_round_2_gives_the_same_kept_ids(tmp_path):
    ref_kept, ref_batches, ref_metrics = run_recipe(tmp_path, "ref")
    kept, batches, metrics = run_recipe(tmp_path, "killed", kill_in_round=2)
    assert kept == ref_kept and len(kept) == 400
    assert len(ref_metrics["target"]["generated_per_round"]) >= 2
    assert metrics["target"]["generated_per_round"] == ref_metrics["target"]["generated_per_round"]
    # the filter saw round 1's batches once: the resumed run took them from its checkpoint
    round1 = [b for b in batches if not re.search(r"-r\d+$", b)]
    assert len(round1) == len(set(round1)) == 9  # 440 records / 50 per batch
    assert set(batches) == set(ref_batches)
    assert len(ref_batches) == len(set(ref_batches))  # rounds reuse the earlier batches' checkpoints


# -- an LLM source: no request twice -----------------------------------------------------------------
def llm_pipeline(server, **settings) -> Pipeline:
    from synthpipe.generate.zerogen import ZeroGen
    from synthpipe.llm.config import LLMConfig

    llm = LLMConfig(backend="openai", base_url=server.base_url, model="test-model", max_retries=0)
    steps = {"generate": ZeroGen(per_request=5), "filter": RateFilter(rate=0.5), "dedup": ExactDedup()}
    return Pipeline("llm-target", steps, llms={"default": llm}, batch_size=20,
                    target={"kept": 120, "min_round": 20}, **settings)  # fmt: skip


def llm_server():
    sys.path.insert(0, str(SUPPORT))
    from llm_server import ScriptedOpenAIServer, last_user_content

    def responder(body: dict) -> str:
        content = last_user_content(body)
        k = int(re.search(r"numbered list from 1 to (\d+)", content).group(1))
        return "\n".join(f"{i + 1}. Question {(body['seed'] + i) % 997} here ?" for i in range(k))

    return ScriptedOpenAIServer(responder=responder)


def test_llm_source_rounds_never_send_a_request_twice(tmp_path):
    with llm_server() as server:
        pipe = llm_pipeline(server, use_cache=False)
        result = pipe.run(tmp_path / "run")
        block = result.metrics["target"]
        assert len(result.kept) == 120 and block["rounds"] >= 2
        assert max(server.count_by_key.values()) == 1  # no request sent twice, with no cache
        assert sum(block["paid_requests_per_round"]) == len(server.requests)
        assert block["paid_requests_per_round"][1] > 0
        again = pipe.run(tmp_path / "run")  # a rerun: everything is checkpointed
        assert max(server.count_by_key.values()) == 1
    assert [r["id"] for r in again.kept] == [r["id"] for r in result.kept]


def test_the_budget_stops_the_rounds_with_whole_outputs(tmp_path):
    with llm_server() as server:
        pipe = llm_pipeline(server, llm_cache=str(tmp_path / "cache.sqlite"), budget={"max_requests": 30})
        result = pipe.run(tmp_path / "run")
    block = result.metrics["target"]
    assert not block["reached"] and "budget ran out in round 2" in block["why"]
    assert block["rounds"] == 1 and len(result.kept) == block["kept"] < 120
    ids = ledger_ids(result)
    assert len(ids) == len(set(ids)) == block["generated"] == 132  # round 1, whole: 26 requests

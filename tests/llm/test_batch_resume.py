"""A run killed (SIGKILL) while its provider batch is in flight re-attaches to it on rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from batch_server import BatchServer

RECIPE = """\
name: batch-killed
batch_size: 10
max_inflight: 4
llms:
  default: {{backend: openai, base_url: "{url}", model: test-model, mode: batch, batch_flush_s: 0.05,
            batch_poll_s: 0.05, batch_poll_max_s: 0.1, batch_max_retries: 1, backoff_base_s: 0.01}}
llm_cache: "{cache}"
steps:
  questions: {{step: read, path: "{data}", text_field: question}}
  answer: {{step: llm_generate, prompt: "Answer: {{{{ text }}}}", output_field: answer}}
  check: {{step: llm_generate, prompt: "Check: {{{{ answer }}}}", output_field: verdict}}
"""


def write_inputs(root: Path, url: str) -> list[str]:
    data = root / "q.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i:03d}", "question": f"what is {i} plus {i}?"}) + "\n" for i in range(40)))
    recipe = root / "r.yaml"
    recipe.write_text(RECIPE.format(url=url, cache=root / "cache.sqlite", data=data))
    return [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(root / "run"), "-q"]


def ledger(run: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    kept = sorted(json.loads(line)["id"] for line in (run / "kept.jsonl").read_text().splitlines())
    dropped = []
    for line in (run / "dropped.jsonl").read_text().splitlines():
        record = json.loads(line)
        dropped.append((record["id"], record["_drop"]["step"], record["_drop"]["reason"]))
    return kept, sorted(dropped)


def events(run: Path) -> list[dict]:
    path = run / "llm_batches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sigkill_mid_batch_reattaches_and_pays_no_line_twice(tmp_path):
    faults = {"line_errors": 0.1, "line_error_submissions": None}  # some lines fail every time: dropped
    ref_root, root = tmp_path / "reference", tmp_path / "killed"
    ref_root.mkdir(), root.mkdir()
    with BatchServer(**faults) as server:
        done = subprocess.run(write_inputs(ref_root, server.base_url), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    reference = ledger(ref_root / "run")
    assert reference[1] and all(reason == "llm_error" for _, _, reason in reference[1])

    with BatchServer(delay_s=3.0, **faults) as server:
        cmd = write_inputs(root, server.base_url)
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not any(e["event"] == "created" for e in events(root / "run")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "no batch was created"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        [first_batch] = server.creates
        assert not server.batches[first_batch].results  # killed while the batch was in progress
        server.delay_s = 0.5  # later batches (retries, the second step) end sooner
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

        assert ledger(root / "run") == reference
        assert max(server.submitted.values()) == 1 + 1  # errored lines: first try + one retry, never more
        assert all(n == 1 for cid, n in server.submitted.items() if cid not in _errored(server))
        created = [e for e in events(root / "run") if e["event"] == "created"]
        assert [e["batch_id"] for e in created] == list(server.creates)  # every batch recorded, none twice
        assert sum(e["batch_id"] == first_batch for e in created) == 1  # the in-flight one was not recreated
        metrics = json.loads((root / "run" / "metrics.json").read_text())
        assert metrics["llm"]["endpoints"]["default"]["batch"]["batches_reattached"] == 1


def _errored(server: BatchServer) -> set[str]:
    return {cid for batch in server.batches.values() for cid, r in (batch.results or {}).items() if r["kind"] == "errored"}

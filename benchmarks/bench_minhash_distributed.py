"""The distributed form of ``minhash_dedup`` on a local Ray: per-stage task seconds, CPU
seconds, objects, rows and bytes (``job.task_seconds()`` / ``job.task_output()``, as in
``minhash_summary.json``).

The corpus is ``bench_minhash.py``'s (``--docs`` documents of 150-250 words, 5% planted
near-duplicates), written as a checkpoint of ``--shard-size`` records per shard; the step runs
alone (``RayJob`` over that checkpoint), so the numbers are the global step's, without the
source or the writers of a pipeline run. ``--form file.py:function`` runs another form (say,
an earlier version, to compare with); ``--max-objects`` sets the shuffle cap.

    .venv/bin/python benchmarks/bench_minhash_distributed.py --docs 50000 --cpus 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

STAGES = {  # task kind -> stage (rows of the table, in pipeline order)
    "mh_sketch": "signatures",
    "combine": "signatures (combine)",
    "mh_buckets": "buckets",
    "mh_serve_capped": "over-cap buckets: join",
    "mh_capped": "over-cap buckets: check",
    "mh_pairs": "verification: pairs",
    "mh_serve_pairs": "verification: join",
    "mh_verify": "verification: Jaccard",
    "cc_init": "components",
    "cc_step": "components",
    "mh_label_a": "components: labels",
    "mh_label_b": "components: labels",
    "mh_plan": "decisions: plan",
    "mh_serve_decide": "decisions: join",
    "mh_decide": "decisions",
    "apply_unit": "write",
}


def checkpoint(docs: int, shard_size: int, work: Path):
    """The corpus as a step checkpoint of `shard_size` records per shard."""
    from bench_minhash import SHARED, make_corpus

    from synthpipe.pipeline.checkpoints import StepCheckpoint

    make_corpus(docs, 0.05, 0, work / "corpus", SHARED)
    lines = (work / "corpus" / "corpus.jsonl").read_text().splitlines()
    source = StepCheckpoint(work / "steps" / "00-read", "read")
    source.prepare()
    for k, start in enumerate(range(0, len(lines), shard_size)):
        source.write(k, [json.loads(line) for line in lines[start : start + shard_size]])
    return source


def load_form(spec: str | None):
    from synthpipe.curate.minhash.distributed import minhash_dedup

    if spec is None:
        return minhash_dedup
    path, name = spec.rsplit(":", 1)
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module.__name__] = module
    module_spec.loader.exec_module(module)
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)  # workers cannot import it by name
    return getattr(module, name)


def run(source, work: Path, form, max_objects: int | None) -> tuple[float, dict]:
    from synthpipe.curate.minhash import MinHashDedup
    from synthpipe.executors.ray_jobs import RayJob
    from synthpipe.pipeline.checkpoints import StepCheckpoint
    from synthpipe.pipeline.step import StepContext

    shutil.rmtree(work, ignore_errors=True)
    out = StepCheckpoint(work / "steps" / "01-minhash", "minhash")
    out.prepare()
    step = MinHashDedup()
    ctx = StepContext(name="minhash", run_dir=work, step_dir=out.dir)
    extra = {} if max_objects is None else {"max_objects": max_objects}
    started = time.perf_counter()
    job = RayJob(step, source, out, ctx, None, **extra)
    job.run(form)
    seconds = time.perf_counter() - started
    # from the job, so that a form which does not write them (an older one) is measured too
    return seconds, {**step.last_summary, "task_seconds": job.task_seconds(), "task_output": job.task_output()}


def stage_table(summary: dict) -> str:
    seconds, output = summary["task_seconds"], summary.get("task_output", {})
    lines = [
        "| task | stage | tasks | objects | task s | CPU s | rows out | MB out |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, secs in seconds.items():
        o = output.get(kind, {})
        mb = f"{o['bytes'] / 1e6:.1f}" if o else "-"
        lines.append(
            f"| {kind} | {STAGES.get(kind, '-')} | {o.get('tasks', '-')} | {o.get('objects', '-')} | {secs:.2f} "
            f"| {o.get('cpu_s', '-')} "
            f"| {o.get('rows', '-')} | {mb} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--shard-size", type=int, default=1024)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--form", help="file.py:function, another distributed form to run")
    parser.add_argument("--max-objects", type=int)
    parser.add_argument("--runs", type=int, default=2, help="the first warms the workers up")
    parser.add_argument("--json", type=Path, help="write the summaries here")
    args = parser.parse_args()
    import ray

    work = Path(tempfile.mkdtemp(prefix="bench-minhash-distributed-"))
    try:
        source = checkpoint(args.docs, args.shard_size, work / "input")
        shards = len(source.indexes())
        form = load_form(args.form)
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING)
        try:
            results = [run(source, work / f"run{i}", form, args.max_objects) for i in range(args.runs)]
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds, summary = results[-1]
    print(f"{args.docs} docs, {shards} shards, {args.cpus} CPUs: step {seconds:.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s, _ in results)}), removed {summary['removed']}, "
          f"candidate pairs {summary['candidate_pairs']}")  # fmt: skip
    print(stage_table(summary))
    if args.json:
        args.json.write_text(json.dumps([{"seconds": s, "summary": m} for s, m in results], indent=1))


if __name__ == "__main__":
    main()

"""The ``audit`` step on N records: its own ``run()`` in one process (local) against its
distributed form (``synthpipe.audit.distributed``) run by ``RayJob`` on a local Ray, with
embeddings off and on.

The input is ``--records`` records cut into batches of ``--batch``, written once as a step
checkpoint: the bundled TREC questions, lowercased, each made distinct by "(variant i)",
labels kept. Every row runs in a fresh process (no model, import or vector from another row)
and embeds into a fresh, empty vector store, so the sample's texts are all computed (the
exported ONNX graph stays cached). Seconds are the step's alone: ``ray.init`` is not timed,
starting the actors and loading their models is. "Bytes gathered to driver" is the pickled
size of what the driver gets back: the tasks' results (``RayJob.get``) and the sample's
embedding vectors (``RayActors.map``); a local row gathers nothing. "audit.json equal" compares
the Ray row's ``audit.json`` with the local one of the same embed setting (timing fields left
out, if any; ``audit.json`` writes none today).

    .venv/bin/python benchmarks/bench_audit_distributed.py --records 100000
    .venv/bin/python benchmarks/bench_audit_distributed.py --records 20000 --no-embed --modes ray
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("local", "ray")
TIMING_KEYS = frozenset({"seconds", "elapsed_s", "time_s", "wall_s", "wall_time_s", "timings"})


def write_input(records: int, batch: int, work: Path) -> None:
    """`records` distinct labelled questions as a checkpoint of `batch` records per shard."""
    from synthpipe.data.paths import resolve_data_path
    from synthpipe.pipeline.checkpoints import StepCheckpoint

    trec = resolve_data_path("bundled:trec/train.jsonl").read_text(encoding="utf-8").splitlines()
    base = [json.loads(line) for line in trec]
    source = StepCheckpoint(work / "input", "input")
    source.prepare()
    for k, start in enumerate(range(0, records, batch)):
        rows = []
        for i in range(start, min(start + batch, records)):
            question = base[i % len(base)]
            rows.append(
                {
                    "id": f"r{i}",
                    "text": f"{question['text'].lower()} (variant {i})",
                    "label": question["label"],
                }
            )
        source.write(k, rows)


def measure(mode: str, embed: bool, work: Path, sample: int, cpus: int) -> dict:
    """Run the step once (`mode` local or ray) over the checkpoint in `work`: its seconds, the
    bytes gathered to the driver and where its ``audit.json`` is."""
    from synthpipe.embeddings import store

    vectors = work / f"vectors-{mode}-{embed}"
    store.cache_dir = lambda: vectors  # an empty vector store: nothing embedded by earlier runs

    from synthpipe.audit.step import AUDIT_FILE, Audit
    from synthpipe.pipeline.checkpoints import StepCheckpoint
    from synthpipe.pipeline.step import StepContext

    source = StepCheckpoint(work / "input", "input")
    if not source.prepare():
        raise SystemExit(f"no input checkpoint in {work / 'input'}")
    run = work / f"run-{mode}-{embed}"
    out = StepCheckpoint(run / "steps" / "01-audit", "audit", storage="drops", upstream=source)
    out.prepare()
    ctx = StepContext(name="audit", run_dir=run, step_dir=out.dir)
    step = Audit(embed=embed, sample=sample)
    gathered = {"tasks": 0, "vectors": 0}
    if mode == "local":
        started = time.perf_counter()
        for k, batch in enumerate(step.run(lambda: source.iter_batches(kept_only=True), ctx)):
            out.write(k, batch)
        seconds = time.perf_counter() - started
    else:
        import ray

        from synthpipe.executors import ray_jobs

        get, actors_map = ray_jobs.RayJob.get, ray_jobs.RayActors.map

        def counting_get(self, handles):
            values = get(self, handles)
            gathered["tasks"] += sum(len(pickle.dumps(v)) for v in values)
            return values

        def counting_map(self, method, items):
            values = actors_map(self, method, items)
            gathered["vectors"] += sum(len(pickle.dumps(v)) for v in values)
            return values

        ray_jobs.RayJob.get, ray_jobs.RayActors.map = counting_get, counting_map
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        try:
            started = time.perf_counter()
            ray_jobs.RayJob(step, source, out, ctx, None).run(step.distributed_form())
            seconds = time.perf_counter() - started
        finally:
            ray.shutdown()
    return {"seconds": seconds, "gathered": gathered, "audit": str(out.dir / AUDIT_FILE)}


def without_timing(value):
    """`value` (parsed JSON) without the keys holding durations."""
    if isinstance(value, dict):
        return {
            k: without_timing(v)
            for k, v in value.items()
            if k not in TIMING_KEYS and not k.endswith("_seconds")
        }
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def same_audit(a: dict, b: dict) -> str:
    """``yes`` when two ``audit.json`` agree, timing fields left out, else ``no``."""
    return "yes" if without_timing(a) == without_timing(b) else "no"


def run_row(mode: str, embed: bool, work: Path, args: argparse.Namespace) -> dict:
    """:func:`measure` in a fresh process; its result, with the audit read back."""
    result = work / f"result-{mode}-{embed}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--row", mode, "on" if embed else "off",
               "--work", str(work), "--sample", str(args.sample), "--cpus", str(args.cpus)]  # fmt: skip
    subprocess.run(command, check=True)
    row = json.loads(result.read_text())
    row["audit"] = json.loads(Path(row["audit"]).read_text(encoding="utf-8"))
    return row


def table(rows: dict[tuple[str, bool], dict]) -> str:
    lines = [
        "| mode | embed | seconds | bytes gathered to driver | audit.json equal |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for (mode, embed), row in rows.items():
        used = row["audit"]["embeddings"]["used"]
        shown = ("on" if embed else "off") + ("" if used == embed else " (not used)")
        if mode == "local":
            gathered, equal = "-", "(reference)"
        else:
            tasks, vectors = row["gathered"]["tasks"], row["gathered"]["vectors"]
            gathered = f"{tasks + vectors:,} (tasks {tasks:,} + vectors {vectors:,})"
            local = rows.get(("local", embed))
            equal = "-" if local is None else same_audit(local["audit"], row["audit"])
        lines.append(f"| {mode} | {shown} | {row['seconds']:.2f} | {gathered} | {equal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per input shard")
    parser.add_argument("--sample", type=int, default=2000, help="the step's sample size")
    parser.add_argument("--embed", action=argparse.BooleanOptionalAction, default=None,
                        help="embeddings on only / off only [default: both]")  # fmt: skip
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--row", nargs=2, metavar=("MODE", "EMBED"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:  # one measurement, in the process run_row started
        mode, embed = args.row[0], args.row[1] == "on"
        row = measure(mode, embed, args.work, args.sample, args.cpus)
        (args.work / f"result-{mode}-{embed}.json").write_text(json.dumps(row))
        return

    embeds = [False, True] if args.embed is None else [args.embed]
    modes = [m for m in MODES if m in args.modes]  # local first: the Ray rows compare with it
    with tempfile.TemporaryDirectory(prefix="bench-audit-distributed-") as tmp:
        work = Path(tmp)
        write_input(args.records, args.batch, work)
        rows = {}
        for embed in embeds:
            for mode in modes:
                rows[(mode, embed)] = run_row(mode, embed, work, args)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{args.records:,} records in batches of {args.batch:,}, sample {args.sample:,}, "
          f"Ray on {args.cpus} CPUs; load average {load}\n")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main()

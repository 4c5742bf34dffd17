"""A run directory on a local disk against one on S3 (moto's server on 127.0.0.1).

The workload: ``read`` (JSONL, `--records` records, a short text every 7th, 500 distinct
texts) -> ``text_filter`` (min_words 2) -> ``exact_dedup``, batch size `--batch-size`. Each
time is the whole ``synthpipe run`` process (start-up, imports, the run, the uploads), as a
user waits for it: ``fresh`` with ``--fresh`` (every batch computed and written), ``rerun``
the same command again (nothing changed: checkpoints and state are read back). Median of
`--repeats` runs. The S3 server runs in this process; the requests each run makes are counted
from its log.

    .venv/bin/python benchmarks/bench_storage.py --records 2000 --batch-size 100
    .venv/bin/python benchmarks/bench_storage.py --records 20000 --batch-size 500
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from s3_server import s3_server  # noqa: E402  (moto on 127.0.0.1, bucket "runs")


class _Requests(logging.Handler):
    """Counts the S3 server's requests (one log line each)."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP/1.1" in record.getMessage():
            self.count += 1


def _workload(directory: Path, records: int, batch_size: int) -> Path:
    data = directory / "input.jsonl"
    with data.open("w") as out:
        for i in range(records):
            text = "short" if i % 7 == 0 else f"record number {i % 500} says hello world"
            out.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")
    recipe = directory / "recipe.yaml"
    recipe.write_text(
        f"name: storage\nbatch_size: {batch_size}\nsteps:\n  source: {{step: read, path: '{data}'}}\n"
        "  filter: {step: text_filter, min_words: 2}\n  dedup: {step: exact_dedup}\n"
    )
    return recipe


def _run(recipe: Path, out: str, *extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", out, "--quiet", *extra],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    requests = _Requests()
    server_log = logging.getLogger("werkzeug")
    server_log.addHandler(requests)
    server_log.setLevel(logging.INFO)
    server_log.propagate = False
    with tempfile.TemporaryDirectory() as scratch, s3_server():
        recipe = _workload(Path(scratch), args.records, args.batch_size)
        print(f"{args.records} records, batch size {args.batch_size}, median of {args.repeats}")
        print("| run directory | fresh | rerun (nothing changed) | S3 requests fresh / rerun |")
        print("| --- | --- | --- | --- |")
        for label, out in (("local disk", str(Path(scratch) / "run")), ("S3 (moto, 127.0.0.1)", "s3://runs/bench")):
            times, counts = {}, {}
            for kind, extra in (("fresh", ("--fresh",)), ("rerun", ())):
                runs = []
                for _ in range(args.repeats):
                    before = requests.count
                    runs.append(_run(recipe, out, *extra))
                    counts[kind] = requests.count - before
                times[kind] = statistics.median(runs)
            calls = f"{counts['fresh']} / {counts['rerun']}" if out.startswith("s3://") else "-"
            print(f"| {label} | {times['fresh']:.2f} s | {times['rerun']:.2f} s | {calls} |", flush=True)


if __name__ == "__main__":
    main()

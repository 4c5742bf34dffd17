"""One-shot commands (`synthpipe dedup|filter|decontaminate|pii`) as a user runs them, across
source trees: whole processes, interleaved, medians, and the parts the commands share.

Each tree is a ``src`` directory put first on ``PYTHONPATH`` (``--tree before=/path/src``;
this checkout's ``src`` is ``this``), run by this python. Measured per tree, round-robin
with the order rotated each round, medians over ``--rounds``:

- ``commands``: ``python -m synthpipe.cli CMD corpus.jsonl --out DIR -q`` under
  ``/usr/bin/time -v`` (wall clock, user + sys CPU, peak RSS). The outputs are compared: a
  digest of every kept and dropped record (parsed, so JSON layout does not count) must be
  the same in every tree and round;
- ``imports``: ``python -X importtime -m synthpipe.cli dedup --help``: the process's wall
  clock and its summed import time; the same sum for a real ``dedup`` run;
- ``io``: ``read_all`` and ``write_records`` (JSONL) of the whole corpus in one process, as
  records per second (the write includes its fsync);
- ``report``: ``report.html.build_stats`` on an evenly spaced 20,000 of the records (the
  sample a run hands its report).

The corpus is ``oneshot_corpus.py``'s (real sentences from ../shared/data with planted
duplicates), built once per size and seed into ``--corpus-dir``.

    .venv/bin/python benchmarks/bench_oneshot.py --tree before=/tmp/before/src \\
        --docs 100000 --rounds 3 --corpus-dir /tmp/bench_oneshot

Standard library only at module level; the trees are imported in subprocesses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
THIS_SRC = HERE.parent / "src"
COMMANDS = {
    "dedup": ["dedup", "--method", "minhash"],
    "filter": ["filter"],
    "decontaminate": ["decontaminate"],
    "pii": ["pii"],
}
PARTS = ("io", "report")

_IO = """
import sys, time
from synthpipe.data.readers import read_all
from synthpipe.data.writers import write_records
t0 = time.perf_counter(); records = read_all(sys.argv[1]); t1 = time.perf_counter()
write_records(records, sys.argv[2]); t2 = time.perf_counter()
print(len(records) / (t1 - t0), len(records) / (t2 - t1))
"""
_REPORT = """
import json, sys, time
from synthpipe.data.sampling import evenly_spaced
from synthpipe.report.html import build_stats
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
records = [json.loads(lines[i]) for i in evenly_spaced(len(lines), 20000)]
t0 = time.perf_counter(); stats = build_stats(records); t1 = time.perf_counter()
print(t1 - t0, stats["distinct_1"], stats["distinct_2"], stats.get("distinct_records", len(records)))
"""


def corpus(directory: Path, docs: int, seed: int) -> Path:
    path = directory / f"oneshot-{docs}-{seed}.jsonl"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(HERE / "oneshot_corpus.py"), str(path), "--docs", str(docs),
                        "--seed", str(seed)], check=True)  # fmt: skip
    return path


def _env(src: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src, "PYTHONHASHSEED": "0"}


def timed(argv: list[str], src: str, cwd: Path) -> dict:
    """Run `argv` under /usr/bin/time -v: wall s, user + sys s, peak RSS MB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as log:
        done = subprocess.run(["/usr/bin/time", "-v", "-o", log.name, *argv], env=_env(src), cwd=cwd,
                              capture_output=True, text=True)  # fmt: skip
        report = log.read()
    if done.returncode not in (0, 4):
        raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    field = lambda name: re.search(rf"{name}: (.*)", report).group(1)  # noqa: E731
    h, m, s = (["0", *field(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)").split(":")])[-3:]
    return {
        "wall": int(h) * 3600 + int(m) * 60 + float(s),
        "cpu": float(field("User time \\(seconds\\)")) + float(field("System time \\(seconds\\)")),
        "rss": int(field(r"Maximum resident set size \(kbytes\)")) / 1024,
        "stdout": done.stdout,
    }


def digest(run_dir: Path) -> str:
    """Every kept and dropped record, parsed (JSON layout does not count, nor a `_drop` of
    null, which a kept record may or may not carry), in file order."""
    h = hashlib.sha256()
    for name in ("kept.jsonl", "dropped.jsonl"):
        h.update(name.encode())
        with open(run_dir / name, encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                if record.get("_drop", 0) is None:
                    del record["_drop"]
                h.update(json.dumps(record, sort_keys=True).encode())
    return h.hexdigest()[:16]


def import_ms(argv: list[str], src: str, cwd: Path) -> tuple[float, float]:
    """(wall s of the process, summed import time ms) of `python -X importtime ARGV`."""
    import time

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=_env(src), cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - started
    total = sum(int(line.split("|")[0].split(":")[1]) for line in done.stderr.splitlines()
                if line.startswith("import time:") and "self [us]" not in line)  # fmt: skip
    return wall, total / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="LABEL=SRC_DIR (repeatable)")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", default=",".join(COMMANDS), help="comma list, or 'none'")
    parser.add_argument("--parts", default="imports,io,report", help="comma list, or 'none'")
    parser.add_argument("--corpus-dir", type=Path, default=Path(tempfile.gettempdir()) / "bench_oneshot")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree) | {"this": str(THIS_SRC)}
    data = corpus(args.corpus_dir, args.docs, args.seed)
    commands = [c for c in args.commands.split(",") if c in COMMANDS]
    parts = [p for p in args.parts.split(",") if p in ("imports", *PARTS)]
    results: dict[str, dict[str, list]] = {}
    digests: dict[str, set] = {}
    work = Path(tempfile.mkdtemp(prefix="oneshot-", dir=args.corpus_dir))
    labels = list(trees)
    for round_ in range(args.rounds):
        order = labels[round_ % len(labels):] + labels[: round_ % len(labels)]
        for command in commands:
            for label in order:
                out = work / f"{command}-{label}"
                subprocess.run(["rm", "-rf", str(out)], check=True)
                argv = [sys.executable, "-m", "synthpipe.cli", *COMMANDS[command], str(data), "--out", str(out), "-q"]
                row = timed(argv, trees[label], work)
                digests.setdefault(command, set()).add(digest(out))
                for key in ("wall", "cpu", "rss"):
                    results.setdefault(f"{command} {key}", {}).setdefault(label, []).append(row[key])
                print(f"round {round_ + 1} {command:14s} {label:8s} {row['wall']:6.2f} s  cpu {row['cpu']:6.2f} s  "
                      f"rss {row['rss']:5.0f} MB", flush=True)  # fmt: skip
        for label in order:
            src = trees[label]
            if "imports" in parts:
                wall, ms = import_ms(["-m", "synthpipe.cli", "dedup", "--help"], src, work)
                results.setdefault("dedup --help wall s", {}).setdefault(label, []).append(wall)
                results.setdefault("dedup --help imports ms", {}).setdefault(label, []).append(ms)
                out = work / f"imports-{label}"
                subprocess.run(["rm", "-rf", str(out)], check=True)
                _, ms = import_ms(["-m", "synthpipe.cli", "dedup", str(data), "--out", str(out), "-q"], src, work)
                results.setdefault("dedup run imports ms", {}).setdefault(label, []).append(ms)
            if "io" in parts:
                done = subprocess.run([sys.executable, "-c", _IO, str(data), str(work / f"io-{label}.jsonl")],
                                      env=_env(src), capture_output=True, text=True, check=True)  # fmt: skip
                read, write = map(float, done.stdout.split())
                results.setdefault("read records/s", {}).setdefault(label, []).append(read)
                results.setdefault("write records/s", {}).setdefault(label, []).append(write)
            if "report" in parts:
                done = subprocess.run([sys.executable, "-c", _REPORT, str(data)], env=_env(src),
                                      capture_output=True, text=True, check=True)  # fmt: skip
                seconds, d1, d2, covered = done.stdout.split()
                results.setdefault("report build_stats s", {}).setdefault(label, []).append(float(seconds))
                print(f"round {round_ + 1} report stats {label}: distinct-1 {float(d1):.4f} distinct-2 {float(d2):.4f} "
                      f"over {covered} records", flush=True)  # fmt: skip
    _table(results, labels)
    for command, seen in digests.items():
        print(f"{command}: outputs {'identical' if len(seen) == 1 else 'DIFFER'} in every tree and round {sorted(seen)}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "digests": {k: sorted(v) for k, v in digests.items()}}, indent=1))


def _table(results: dict[str, dict[str, list]], labels: list[str]) -> None:
    base = labels[0]
    head = "| measure | " + " | ".join(labels) + " | " + " | ".join(f"{lab} / {base}" for lab in labels[1:]) + " |"
    print("\n" + head + "\n|---|" + "---:|" * (2 * len(labels) - 1))
    for measure, by_label in results.items():
        medians = {lab: statistics.median(by_label[lab]) for lab in labels if lab in by_label}
        cells = [f"{medians[lab]:,.2f}" if lab in medians else "-" for lab in labels]
        ratios = [f"{medians[lab] / medians[base]:.2f}x" if lab in medians and medians.get(base) else "-"
                  for lab in labels[1:]]  # fmt: skip
        print(f"| {measure} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()

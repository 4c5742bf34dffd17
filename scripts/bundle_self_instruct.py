"""Bundle the Self-Instruct seed tasks synthpipe ships (dev-time only; the product never reads ../shared).

Copies ``../shared/data/self_instruct/seed_tasks.jsonl`` (175 human-written seed tasks from
github.com/yizhongw/self-instruct, Apache-2.0) byte for byte, with its ``LICENSE``, into
``src/synthpipe/resources/data/self_instruct/`` and writes ``SOURCE.md`` (origin, license,
counts, sha256). Used by the `self_instruct` generator (``bundled:self_instruct/seed_tasks.jsonl``).

Usage: ``.venv/bin/python scripts/bundle_self_instruct.py [--src ../shared/data/self_instruct]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "self_instruct"
OUT = REPO / "src" / "synthpipe" / "resources" / "data" / "self_instruct"
FILES = ("seed_tasks.jsonl", "LICENSE")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def origin_line(src_source: str) -> str:
    for line in src_source.splitlines():
        if line.startswith("- Origin: "):
            return line[len("- Origin: ") :]
    return "github.com/yizhongw/self-instruct"


def source_md(src_source: str) -> str:
    seeds = [
        json.loads(line)
        for line in (OUT / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    classification = sum(1 for s in seeds if s.get("is_classification"))
    lines = [
        "# Self-Instruct seed tasks (Wang et al. 2023): bundled copy",
        "",
        "- Origin: " + origin_line(src_source),
        "  File `data/seed_tasks.jsonl`, copied byte for byte by `scripts/bundle_self_instruct.py`.",
        '- License: Apache License 2.0 (`LICENSE`, first line "Apache License, Version 2.0"),',
        "  copyright the Self-Instruct authors.",
        '- Cite: Yizhong Wang et al. 2023. "Self-Instruct: Aligning Language Models with',
        '  Self-Generated Instructions". ACL 2023. arXiv:2212.10560.',
        "- Fields: `id` (`seed_task_<n>`), `name`, `instruction`, `instances` (list of",
        "  `{input, output}`; one per task here), `is_classification` (bool).",
        f"- Records: {len(seeds)} human-written tasks, {classification} of them classification tasks.",
        "- Used by: the `self_instruct` generator (`bundled:self_instruct/seed_tasks.jsonl`).",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
    ]
    for name in FILES:
        path = OUT / name
        lines.append(f"| {name} | {path.stat().st_size} | {sha256(path)} |")
    lines += [
        "",
        "Regenerate: `.venv/bin/python scripts/bundle_self_instruct.py` (deterministic).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(args.src / name, OUT / name)
    src_source = (args.src / "SOURCE.md").read_text(encoding="utf-8")
    (OUT / "SOURCE.md").write_text(source_md(src_source), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

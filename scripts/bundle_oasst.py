"""Bundle OpenAssistant (OASST) pieces for the LLM recipes (dev-time only; the product never
reads ../shared).

Reads ``../shared/data/oasst_samples/en_100_tree.jsonl`` (100 English OASST message trees,
Apache-2.0) and writes ``src/synthpipe/resources/data/oasst/``:

- ``documents.jsonl``: every human-written (``synthetic`` false, not ``deleted``) assistant
  reply longer than 60 whitespace-separated words, in tree order (depth-first, replies in
  file order). Fields: ``id`` (``oasst-<message_id>``), ``text`` (the reply, exactly as
  written), ``source_prompt`` (the prompter message it answers). Used as unlabelled
  documents by the grounded_qa, humpback and wrap recipes.
- ``prompts.jsonl``: the 100 opening prompter messages, one per tree, in file order. Fields:
  ``id`` (``oasst-<message_id>``), ``text``. Used as opening user messages by the dialogue
  recipe.
- ``SOURCE.md`` (origin, license, what was extracted, counts, sha256) and ``LICENSE``.

Re-running gives identical bytes.

Usage: ``.venv/bin/python scripts/bundle_oasst.py [--src ../shared/data/oasst_samples]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO.parent / "shared" / "data" / "oasst_samples"
OUT = REPO / "src" / "synthpipe" / "resources" / "data" / "oasst"
TREES = "en_100_tree.jsonl"
MIN_WORDS = 60  # a document must have more words than this


def read_trees(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def walk(message: dict[str, Any], parent: dict[str, Any] | None = None) -> Iterator[tuple[dict, dict | None]]:
    """(message, parent) pairs, depth-first, replies in file order."""
    yield message, parent
    for reply in message.get("replies") or []:
        yield from walk(reply, message)


def is_human_reply(message: dict[str, Any], parent: dict[str, Any] | None) -> bool:
    return (
        message.get("role") == "assistant"
        and message.get("synthetic") is False
        and not message.get("deleted")
        and parent is not None
        and parent.get("role") == "prompter"
    )


def extract_documents(trees: list[dict[str, Any]]) -> list[dict[str, str]]:
    docs = []
    for tree in trees:
        for message, parent in walk(tree["prompt"]):
            if is_human_reply(message, parent) and len(message["text"].split()) > MIN_WORDS:
                docs.append(
                    {
                        "id": f"oasst-{message['message_id']}",
                        "text": message["text"],
                        "source_prompt": parent["text"],  # type: ignore[index]
                    }
                )
    return docs


def extract_prompts(trees: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"id": f"oasst-{t['prompt']['message_id']}", "text": t["prompt"]["text"]} for t in trees]


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_md(src: Path, trees: list[dict], docs: list[dict], prompts: list[dict]) -> str:
    src_source = (src / "SOURCE.md").read_text(encoding="utf-8")
    origin = next(
        (line.strip()[len("- Origin: ") :] for line in src_source.splitlines() if line.startswith("- Origin: ")),
        "github.com/LAION-AI/Open-Assistant, path `model/model_eval/manual/data/`",
    )
    synthetic_prompts = sum(bool(t["prompt"].get("synthetic")) for t in trees)
    words = sorted(len(d["text"].split()) for d in docs)
    lines = [
        "# OpenAssistant (OASST) English samples: bundled pieces",
        "",
        "- Origin: " + origin,
        f"  File `{TREES}` (sha256 {sha256(src / TREES)}), copied byte for byte into the project's",
        "  shared data area, then extracted here by `scripts/bundle_oasst.py`.",
        "- License: Apache License, Version 2.0 (the Open-Assistant repository `LICENSE`, copied",
        "  here as `LICENSE`; OASST data releases are Apache-2.0 as well).",
        "- Cite: Andreas Köpf et al. 2023. \"OpenAssistant Conversations - Democratizing Large",
        "  Language Model Alignment\". arXiv:2304.07327.",
        "",
        "## What was extracted",
        "",
        "- `documents.jsonl`: every human-written assistant reply (`synthetic` false, not",
        f"  `deleted`) with more than {MIN_WORDS} words, in tree order (depth-first, replies in",
        "  file order); replies at any depth of a conversation. Fields: `id` (`oasst-<message_id>`),",
        "  `text` (the reply exactly as written), `source_prompt` (the prompter message it answers).",
        f"  {len(docs)} documents, {words[0]}-{words[-1]} words (median {words[len(words) // 2]}).",
        "  Used by the `grounded_qa`, `humpback` and `wrap` recipes.",
        "- `prompts.jsonl`: the opening prompter message of each of the 100 trees, in file order.",
        "  Fields: `id` (`oasst-<message_id>`), `text`. Used by the `dialogue` recipe.",
        f"  Note: {synthetic_prompts} of the 100 opening prompts are flagged `synthetic` (model-written)",
        "  in the source; they are kept so that the file holds all 100 openers.",
        "",
        "| file | records | bytes | sha256 |",
        "|---|---|---|---|",
    ]
    for name, records in (("documents.jsonl", docs), ("prompts.jsonl", prompts), ("LICENSE", None)):
        path = OUT / name
        n = "" if records is None else str(len(records))
        lines.append(f"| {name} | {n} | {path.stat().st_size} | {sha256(path)} |")
    lines += ["", "Regenerate: `.venv/bin/python scripts/bundle_oasst.py` (deterministic).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    args = parser.parse_args()
    trees = read_trees(args.src / TREES)
    docs = extract_documents(trees)
    prompts = extract_prompts(trees)
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "documents.jsonl", docs)
    write_jsonl(OUT / "prompts.jsonl", prompts)
    shutil.copyfile(args.src / "LICENSE", OUT / "LICENSE")
    (OUT / "SOURCE.md").write_text(source_md(args.src, trees, docs, prompts), encoding="utf-8")
    print(f"wrote {OUT}: documents {len(docs)}, prompts {len(prompts)}")


if __name__ == "__main__":
    main()

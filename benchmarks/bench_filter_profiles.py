"""Data profiles and instruction-data detectors on real data: keep rates, precision and recall.

Part 1, keep rates: every profile of ``synthpipe filter`` (``quality_filter``) on every clean,
human-written set in ../shared/data: GSM8K train (math), MBPP (code), OpenAssistant (chat: every
root-to-leaf conversation of the 100 English trees, synthetic messages left out), Self-Instruct's
175 seed tasks and 252 user-oriented tasks (instruction), TREC and SST-2 train (text). Each set
is split in two halves by a hash of each record (an OASST conversation, a Self-Instruct
instance, a GSM8K or MBPP row, a TREC or SST-2 text); the profiles' settings were chosen looking
at the ``tune`` half only, and the table reports the ``heldout`` half. OASST conversations of
one tree share their first turns, so its two halves are less independent than the others'. A set is given to a profile in
that profile's shape: pair profiles (instruction, math, code) read (instruction, response) pairs
(OASST: prompt and reply; TREC/SST-2: text and label); chat reads conversations (a pair becomes
a user and an assistant turn); text and web read the response or the text.

Part 2, detectors: precision and recall per detector category on two labelled samples written
by hand from the issue categories the AlpacaDataCleaned README documents (each row's ``source``
says which; benchmarks/README.md has the figures): ``instruction_detectors_dev.jsonl``, measured once and then used to
fix the detectors, and ``instruction_detectors_test.jsonl``, written after those fixes and never
tuned on (the figure to quote). Both are scored together with the same clean negatives: up to 100 pairs each from the held-out halves of Self-Instruct (seeds and
user-oriented), OASST, GSM8K and MBPP. A category's detector is the ``instruction_filter``
check of the same name, ``llm_output_filter``'s ``empty_output`` for ``empty_output``, and its
``impossible_instruction`` with an image, audio, video or 3D category for ``media_request``. All
detectors run on every record, so a record can count for several categories.

    .venv/bin/python benchmarks/bench_filter_profiles.py [--shared ../shared/data] [--part heldout|tune]
        [--verbose] [--no-detectors]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from synthpipe.curate.filters.instruction import Pair, findings
from synthpipe.curate.filters.llm_output import (
    impossible_category,
    is_empty_answer,
    load_word_lists,
)
from synthpipe.curate.filters.quality import QualityFilter
from synthpipe.curate.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {  # the detectors were fixed on `dev`; `test` was written afterwards and never tuned on
    "test": ROOT / "benchmarks" / "data" / "instruction_detectors_test.jsonl",
    "dev": ROOT / "benchmarks" / "data" / "instruction_detectors_dev.jsonl",
}
NATIVE = {"gsm8k": "math", "mbpp": "code", "oasst": "chat", "self_instruct_seeds": "instruction",
          "self_instruct_user": "instruction", "trec": "text", "sst2": "text"}  # fmt: skip
MEDIA = {"image_generation", "image_input", "audio", "video", "3d"}
PAIR_FIELDS = {"instruction_field": "instruction", "input_field": "input", "response_field": "response"}


# -- loading: each set as (group key, record in its native shape) ------------------------------
def half(key: str) -> str:
    return "tune" if int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 2 == 0 else "heldout"


def key_of(row: dict) -> str:
    """The split key: the record as JSON (the halves the profiles were tuned on)."""
    return json.dumps(row, sort_keys=True)


def load_sets(shared: Path) -> dict[str, list[tuple[str, dict]]]:
    sets: dict[str, list[tuple[str, dict]]] = {}
    with (shared / "gsm8k" / "train.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    sets["gsm8k"] = [(key_of(r), {"instruction": r["question"], "response": r["answer"]}) for r in rows]
    with (shared / "mbpp" / "mbpp.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    sets["mbpp"] = [(key_of(r), {"instruction": r["text"], "response": r["code"]}) for r in rows]
    sets["oasst"] = [(key_of(c), c) for c in oasst_conversations(shared / "oasst_samples" / "en_100_tree.jsonl")]
    for name, file in (("self_instruct_seeds", "seed_tasks.jsonl"), ("self_instruct_user", "human_eval_user_oriented_instructions.jsonl")):
        with (shared / "self_instruct" / file).open(encoding="utf-8") as fh:
            tasks = [json.loads(line) for line in fh]
        rows = [{"instruction": t["instruction"], "input": i["input"], "output": i["output"]} for t in tasks for i in t["instances"]]
        sets[name] = [(key_of(r), {"instruction": r["instruction"], "input": r["input"], "response": r["output"]}) for r in rows]
    for name, file, text, label in (("trec", "trec/train.csv", "text", "label_coarse"), ("sst2", "sst2/train.csv", "sentence", "label")):
        with (shared / file).open(encoding="utf-8") as fh:
            rows = [{"text": r[text], "label": r[label]} for r in csv.DictReader(fh)]
        sets[name] = [(key_of(r), r) for r in rows]
    return sets


def oasst_conversations(path: Path) -> list[dict]:
    """Every root-to-leaf path of each tree, synthetic messages and trailing user turns left out."""
    out: list[dict] = []

    def walk(message: dict, path: list[dict]) -> None:
        role = "user" if message["role"] == "prompter" else "assistant"
        path = [*path, {"role": role, "content": message["text"]}]
        replies = [r for r in message.get("replies") or [] if not r.get("synthetic")]
        if not replies:
            while path and path[-1]["role"] == "user":
                path = path[:-1]
            if path:
                out.append({"messages": path})
        for reply in replies:
            walk(reply, path)

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            tree = json.loads(line)
            if not tree["prompt"].get("synthetic"):
                walk(tree["prompt"], [])
    return out


# -- shapes ------------------------------------------------------------------------------------
def as_pairs(name: str, record: dict) -> list[dict]:
    if "messages" in record:  # a conversation: its (user, assistant) pairs
        pairs, asked = [], ""
        for m in record["messages"]:
            if m["role"] == "user":
                asked = m["content"]
            else:
                pairs.append({"instruction": asked, "response": m["content"]})
        return pairs
    if "text" in record:
        return [{"instruction": record["text"], "response": record["label"]}]
    return [record]


def shaped(profile: str, name: str, record: dict) -> list[dict]:
    """`record` as the records `profile` reads (a conversation gives one record per pair to
    the pair profiles and one per reply to text/web)."""
    if profile == "chat":
        if "messages" in record:
            return [record]
        return [{"messages": [{"role": "user", "content": p["instruction"] + (f"\n\n{p['input']}" if p.get("input") else "")},
                              {"role": "assistant", "content": p["response"]}]} for p in as_pairs(name, record)]  # fmt: skip
    if profile in ("text", "web"):
        if "text" in record:
            return [{"text": record["text"]}]
        return [{"text": p["response"]} for p in as_pairs(name, record)]
    return as_pairs(name, record)


def make_filter(profile: str) -> QualityFilter:
    if profile == "chat":
        return QualityFilter(profile="chat", messages_field="messages")
    if profile in ("text", "web"):
        return QualityFilter(profile=profile, text_field="text")
    return QualityFilter(profile=profile, **PAIR_FIELDS)


def keep_rate(profile: str, name: str, records: list[dict]) -> tuple[float, int, Counter]:
    """Share of `records` kept (a conversation split into pairs counts as kept if all are)."""
    step, reasons, kept = make_filter(profile), Counter(), 0
    for record in records:
        verdicts = [step.keep(r) for r in shaped(profile, name, record)]
        drops = [v for v in verdicts if v is not True]
        kept += not drops
        if drops:
            reasons[drops[0][1]] += 1
    return (kept / len(records) if records else float("nan")), len(records), reasons


def profile_table(sets: dict[str, list[tuple[str, dict]]], part: str) -> None:
    profiles = list(PROFILES)
    print(f"\n## keep rate (%) per profile on each clean set, {part} half\n")
    print("| set (native profile) | n | " + " | ".join(profiles) + " |")
    print("|---|---:|" + "---:|" * len(profiles))
    native_reasons = {}
    for name, rows in sets.items():
        records = [r for key, r in rows if half(key) == part]
        cells = []
        for profile in profiles:
            rate, _, reasons = keep_rate(profile, name, records)
            cell = f"{100 * rate:.1f}"
            if profile == NATIVE[name]:
                cell, native_reasons[name] = f"**{cell}**", reasons
            cells.append(cell)
        print(f"| {name} ({NATIVE[name]}) | {len(records)} | " + " | ".join(cells) + " |")
    print(f"\nnative profile, records dropped by reason ({part} half):")
    for name, reasons in native_reasons.items():
        print(f"  {name:<20} {dict(reasons.most_common()) or '-'}")


# -- detectors ---------------------------------------------------------------------------------
def detected(record: dict[str, Any]) -> set[str]:
    """Every category whose detector fires on `record`."""
    lists = load_word_lists()
    pair = Pair(record["instruction"], record.get("input"), record["output"])
    fired = {reason for reason, _ in findings(pair)}
    if is_empty_answer(record["output"], lists):
        fired.add("empty_output")
    if impossible_category(record["instruction"], lists) in MEDIA:
        fired.add("media_request")
    return fired


def clean_negatives(sets: dict[str, list[tuple[str, dict]]], per_source: int = 100, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for source, names in (("self_instruct", ("self_instruct_seeds", "self_instruct_user")), ("oasst", ("oasst",)),
                          ("gsm8k", ("gsm8k",)), ("mbpp", ("mbpp",))):  # fmt: skip
        pairs = [p for n in names for key, r in sets[n] if half(key) == "heldout" for p in as_pairs(n, r)]
        pairs = list({json.dumps(p, sort_keys=True): p for p in pairs}.values())  # OASST paths share turns
        for p in rng.sample(pairs, min(per_source, len(pairs))):
            record = {"instruction": p["instruction"], "output": p["response"], "labels": [], "source": f"clean {source}"}
            if "input" in p:
                record["input"] = p["input"]
            out.append(record)
    return out


def detector_table(cases: list[dict], verbose: bool) -> None:
    categories = sorted({label for c in cases for label in c["labels"]})
    stats = {c: Counter() for c in categories}
    misses: dict[str, list[str]] = {c: [] for c in categories}
    for case in cases:
        fired = detected(case)
        for category in categories:
            truth, hit = category in case["labels"], category in fired
            stats[category]["tp" if truth and hit else "fn" if truth else "fp" if hit else "tn"] += 1
            if truth != hit:
                misses[category].append(f"{'FN' if truth else 'FP'} [{case.get('source', '')[:14]}] {case['instruction'][:70]!r}")
    clean = sum(c["source"].startswith("clean") for c in cases)
    print(f"\n## detectors: {len(cases) - clean} labelled cases ({sum(not c['labels'] for c in cases) - clean} hard negatives) "
          f"+ {clean} clean held-out pairs\n")  # fmt: skip
    print("| category | positives | TP | FN | FP | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for category, s in stats.items():
        positives = s["tp"] + s["fn"]
        precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else float("nan")
        print(f"| {category} | {positives} | {s['tp']} | {s['fn']} | {s['fp']} | {precision:.2f} | {s['tp'] / positives:.2f} |")
    flagged = Counter(c["source"] for c in cases if c["source"].startswith("clean") and detected(c))
    print(f"\nclean held-out pairs with any detector firing: {dict(flagged) or 'none'}")
    if verbose:
        for category, lines in misses.items():
            for line in lines:
                print(f"  {category}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--part", choices=("heldout", "tune"), default="heldout")
    parser.add_argument("--verbose", action="store_true", help="list every detector miss and false alarm")
    parser.add_argument("--no-detectors", action="store_true", help="part 1 only")
    args = parser.parse_args()
    sets = load_sets(args.shared)
    profile_table(sets, args.part)
    if args.no_detectors:
        return
    negatives = clean_negatives(sets)
    for name, path in SAMPLES.items():
        with path.open(encoding="utf-8") as fh:
            cases = [json.loads(line) for line in fh]
        print(f"\n### sample {name}: {path.relative_to(ROOT)}")
        detector_table(cases + negatives, args.verbose)


if __name__ == "__main__":
    main()

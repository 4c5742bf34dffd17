"""Trajectories verified per second, and whether each corrupted one is caught for its reason.

1. 2,000 procedural tasks (`tool_tasks`, all five types) become correct trajectories by
   replaying their ground-truth calls (`reference_trajectory`); 20% are then corrupted, one
   kind each in turn: wrong final state (a stateful call left out), unknown tool, bad
   arguments, invented tool output, wrong answer, looping past the turn limit, a crashing tool.
2. ``check_trajectory`` verifies them one by one in this process (calls replayed in the shared
   tool worker): trajectories per second, and a confusion check that every correct one passes
   and every corrupted one is dropped with the expected reason.
3. The same file through a recipe (`read` -> `verify_trajectory`), whole run timed, to show the
   step's throughput and ``trajectory_summary.json`` in the run's metrics.

    .venv/bin/python benchmarks/bench_trajectories.py [--n 2000] [--out /tmp/bench_traj]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import time
from collections import Counter
from pathlib import Path

import yaml

from synthpipe.pipeline.step import StepContext
from synthpipe.procedural.tool_tasks import ToolTasks
from synthpipe.tools.reference import reference_trajectory
from synthpipe.verify.trajectory_checks import check_trajectory

EXPECTED = {
    "skip_call": "wrong_final_state", "unknown_tool": "unknown_tool",
    "bad_arguments": "bad_arguments", "invented_output": "invented_tool_output",
    "wrong_answer": "wrong_answer", "loop": "turn_limit", "crash": "tool_error",
}  # fmt: skip


def _calls(record: dict) -> list[tuple[int, int]]:
    """(message index, call index) of every tool call."""
    return [(i, j) for i, m in enumerate(record["messages"])
            for j, _ in enumerate(m.get("tool_calls") or [])]  # fmt: skip


def corrupt(record: dict, kind: str) -> dict | None:
    """`record` broken in the way `kind` names, or None if that does not apply to it."""
    bad, truth = copy.deepcopy(record), record["ground_truth"]
    messages, calls = bad["messages"], _calls(bad)
    if kind == "skip_call":  # drop the last call and its output: the state is not reached
        last = calls[-1][0] if calls else 0
        if truth["final_state"] is None or truth["answer"] is not None or len(calls) < 2:
            return None
        del messages[last : last + 1 + len(messages[last]["tool_calls"])]
        return bad
    if not calls and kind != "wrong_answer":
        return None
    i, j = calls[0] if calls else (0, 0)
    if kind == "unknown_tool":
        messages[i]["tool_calls"][j]["function"]["name"] += "_v2"
    elif kind == "bad_arguments":
        messages[i]["tool_calls"][j]["function"]["arguments"] = json.dumps({"unexpected": 1})
    elif kind == "invented_output":
        call_id = messages[i]["tool_calls"][j]["id"]
        reply = next(m for m in messages if m.get("tool_call_id") == call_id)
        reply["content"] = json.dumps({"result": "made up"})
    elif kind == "wrong_answer":
        if truth["answer"] is None or truth["final_state"] is not None:
            return None
        messages[-1]["content"] = "I am not sure, maybe 12345.6789 or Blursday."
    elif kind == "loop":  # the same call again and again before answering
        repeat = messages[i : i + 1 + len(messages[i]["tool_calls"])]
        messages[i + len(repeat) : i + len(repeat)] = [
            copy.deepcopy(m) for _ in range(11) for m in repeat
        ]
        pending: list[str] = []
        fresh = itertools.count()
        for message in messages:  # fresh call ids for the copies, answered in order
            for call in message.get("tool_calls") or []:
                call["id"] = f"loop_{next(fresh)}"
                pending.append(call["id"])
            if message["role"] == "tool":
                message["tool_call_id"] = pending.pop(0)
    elif kind == "crash":
        name = messages[i]["tool_calls"][j]["function"]["name"]
        crashing = {  # valid against the schema, refused by the tool
            "calculate": {"expression": "1 / 0"}, "day_of_week": {"date": "2024-02-30"},
            "convert_units": {"value": 1, "from_unit": "parsec", "to_unit": "meter"},
            "days_between": {"start_date": "2024-13-01", "end_date": "2024-01-01"},
            "add_to_date": {"date": "2024-02-30", "amount": 1, "unit": "days"},
            "add_item": {"product": "laptop"}, "delete_note": {"title": "no such note"},
            "append_note": {"title": "no such note", "text": "x"}, "kv_get": {"key": "nope"},
            "kv_delete": {"key": "nope"}, "cancel_event": {"event_id": "evt-99"},
            "list_events": {"date": "2024-02-30"},
        }  # fmt: skip
        if name not in crashing:
            return None
        messages[i]["tool_calls"][j]["function"]["arguments"] = json.dumps(crashing[name])
    return bad


def build(n: int, seed: int) -> list[tuple[dict, str | None]]:
    tasks = ToolTasks(n=n)
    records = [r for batch in tasks.read(StepContext(name="tasks", seed=seed, batch_size=200))
               for r in batch]  # fmt: skip
    trajectories = [reference_trajectory(r) for r in records]
    rng, kinds = random.Random(seed), list(EXPECTED)
    out: list[tuple[dict, str | None]] = []
    wanted, made = int(0.2 * n), 0
    for record in trajectories:
        if made < wanted and rng.random() < 0.35:
            for attempt in range(len(kinds)):
                kind = kinds[(made + attempt) % len(kinds)]
                if (bad := corrupt(record, kind)) is not None:
                    bad["id"] = f"{record['id']}-{kind}"
                    out.append((bad, kind))
                    made += 1
                    break
            else:
                out.append((record, None))
        else:
            out.append((record, None))
    return out


def verify_in_process(items: list[tuple[dict, str | None]]) -> dict:
    start = time.perf_counter()
    verdicts = [check_trajectory(record) for record, _ in items]
    seconds = time.perf_counter() - start
    confusion: Counter[tuple[str, str]] = Counter()
    for (_, kind), verdict in zip(items, verdicts, strict=True):
        expected = EXPECTED[kind] if kind else "kept"
        confusion[(expected, verdict.reason or "kept")] += 1
    calls = sum(verdict.calls for verdict in verdicts if verdict.checks["execution"] != "skipped")
    return {"seconds": seconds, "per_second": len(items) / seconds, "confusion": confusion,
            "calls": calls}  # fmt: skip


def verify_in_recipe(items: list[tuple[dict, str | None]], out: Path) -> dict:
    from synthpipe.run.api import Pipeline

    out.mkdir(parents=True, exist_ok=True)
    data = out / "trajectories.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r, _ in items))
    recipe = {
        "name": "bench_trajectories", "seed": 0, "batch_size": 250,
        "output": {"format": "jsonl", "text_field": "task"},
        "steps": {
            "read": {"step": "read", "path": str(data), "text_field": "task",
                     "keep_field_names": True},
            "verify": {"step": "verify_trajectory", "max_turns": 10},
        },
    }  # fmt: skip
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    start = time.perf_counter()
    metrics = Pipeline.from_recipe(out / "recipe.yaml").run(out / "run", fresh=True).metrics
    return {"seconds": time.perf_counter() - start, "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_trajectories"))
    args = parser.parse_args()
    wall = time.perf_counter()
    start = time.perf_counter()
    items = build(args.n, args.seed)
    built = time.perf_counter() - start
    kinds = Counter(kind or "correct" for _, kind in items)
    print(f"built {len(items)} trajectories in {built:.1f} s: {dict(kinds)}")
    direct = verify_in_process(items)
    print(f"check_trajectory: {direct['seconds']:.2f} s, {direct['per_second']:.0f} trajectories/s, "
          f"{direct['calls']} calls replayed ({direct['calls'] / direct['seconds']:.0f}/s)")  # fmt: skip
    wrong = {k: v for k, v in direct["confusion"].items() if k[0] != k[1]}
    print("expected -> got:", dict(sorted(direct["confusion"].items())))
    print("misclassified:", wrong or "none")
    run = verify_in_recipe(items, args.out)
    summary = run["metrics"].get("trajectories", {})
    print(f"recipe read -> verify_trajectory: {run['seconds']:.2f} s "
          f"({len(items) / run['seconds']:.0f} trajectories/s), kept {run['metrics']['kept']}, "
          f"dropped {run['metrics']['dropped']}")  # fmt: skip
    print("pass rate by task type:",
          {k: v["pass_rate"] for k, v in summary.get("by_task_type", {}).items()})  # fmt: skip
    print(
        "pass rate by check:", {k: v["pass_rate"] for k, v in summary.get("by_check", {}).items()}
    )
    print(f"whole process: {time.perf_counter() - wall:.1f} s")


if __name__ == "__main__":
    main()

"""The reference trajectory of a task: its ground-truth calls, executed, as chat messages.

``reference_trajectory(task)`` runs ``task["ground_truth"]["calls"]`` in a fresh ToolSession
and writes the conversation a perfect assistant would have: the user's request, the calls in
OpenAI ``tool_calls`` form (all in one message for a ``parallel`` task, else one message per
call), the tools' real outputs, and a final answer stating ``ground_truth.answer``. Useful as
a gold example, to test verifiers and exports, and to benchmark verification.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from synthpipe.errors import UsageError
from synthpipe.tools.session import ToolSession


def reference_trajectory(task: Mapping[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """`task` with ``messages`` added (the input is not changed)."""
    truth = task.get("ground_truth") or {}
    calls = list(truth.get("calls") or [])
    messages: list[dict[str, Any]] = [{"role": "user", "content": task["task"]}]
    groups = [calls] if task.get("task_type") == "parallel" and calls else [[c] for c in calls]
    with ToolSession(
        task["env"], timeout_s=timeout_s, initial_state=task.get("initial_state")
    ) as session:
        number = 0
        for group in groups:
            ids = [f"call_{number + i + 1}" for i in range(len(group))]
            number += len(group)
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {
                    "name": call["name"], "arguments": json.dumps(call["arguments"])}}
                for call_id, call in zip(ids, group, strict=True)
            ]})  # fmt: skip
            for call_id, call in zip(ids, group, strict=True):
                result = session.call(call["name"], call["arguments"])
                if not result.ok:
                    raise UsageError(f"ground-truth call {call} fails: {result.error}")
                messages.append(result.message(call_id))
    messages.append({"role": "assistant", "content": answer_text(truth.get("answer"))})
    return {**task, "messages": messages}


def answer_text(answer: Any) -> str:
    """A final answer stating `answer` (or saying the task is done when there is none)."""
    if answer is None:
        return "Done: everything you asked for is taken care of."
    if isinstance(answer, list):
        return "Here are the results: " + "; ".join(str(item) for item in answer) + "."
    return f"The answer is {answer}."

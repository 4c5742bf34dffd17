"""Tool-call verification in three stages, after APIGen (Liu et al. 2024, "APIGen: Automated
Pipeline for Generating Verifiable and Diverse Function-Calling Datasets").

1. Format: the model output parses to calls, each naming a registered tool, with JSON arguments
   valid against that tool's JSON schema. Accepted shapes: an OpenAI ``tool_calls`` list
   (``arguments`` a JSON string or object), ``{"name", "arguments"}`` objects or lists of them
   (``parameters`` is taken for ``arguments``), ``<tool_call>{...}</tool_call>`` tags
   (Hermes/Qwen), fenced ```` ```json ```` blocks, or JSON after some prose.
2. Execution: each call runs against the real function with a timeout and must return a
   JSON-serialisable result without raising.
3. Semantic: the results answer the query. APIGen asks an LLM; here the check is pluggable: the
   record's expected value is compared with the result (numbers with a tolerance, strings
   case- and space-normalised, dicts on the expected keys only), and/or a callable
   ``semantic_check(query, calls, results) -> (bool, reason)`` decides. With neither, or when
   calls are not executed, the stage is recorded as ``skipped``.

Failure reasons: ``no_calls``, ``invalid_json``, ``malformed_call`` (not a name/arguments
object), ``unknown_tool``, ``missing_required``, ``schema_violation``, ``execution_error``,
``timeout``, ``non_serialisable_result``, ``semantic_mismatch``.

Timeouts: ``isolation="thread"`` (default) runs a call in a daemon thread and stops waiting
after the timeout, but Python cannot kill a thread, so a runaway pure-Python function keeps a
core busy until the process exits. For untrusted or possibly non-terminating implementations use
``isolation="process"``: calls run in a ``multiprocessing`` pool (forkserver start method) that
is terminated and replaced on timeout; implementations must then be importable module-level
functions. Neither mode is a security sandbox.
"""

from __future__ import annotations

import importlib.util
import json
import math
import multiprocessing
import pickle
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from synthpipe.data.records import Batch, drop, is_dropped
from synthpipe.errors import StepError, UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.tools.calls import ToolCallError, check_arguments, parse_tool_calls
from synthpipe.tools.registry import (
    Tool,
    ToolRegistry,
    load_implementations,
    read_library,
    resolve_tools_path,
)

REASONS = (
    "no_calls",
    "invalid_json",
    "malformed_call",
    "unknown_tool",
    "missing_required",
    "schema_violation",
    "execution_error",
    "timeout",
    "non_serialisable_result",
    "semantic_mismatch",
)
STAGES = ("format", "execution", "semantic")
_START_TIMEOUT_S = 30.0  # for a worker process to start and import the tool modules
SemanticCheck = Callable[[Any, list[dict[str, Any]], list[Any]], "bool | tuple[bool, str]"]


@dataclass
class ToolCall:
    """One parsed call; `result` or `error` is filled in as it goes through the checks."""

    name: str
    arguments: Any
    result: Any = None
    error: ToolCallError | None = None
    executed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.error is not None:
            out["error"] = self.error.to_dict()
        elif self.executed:
            out["result"] = self.result
        return out


@dataclass
class Verification:
    """The verdict on one output: `stage` is where it failed, or "ok"."""

    passed: bool
    stage: str
    calls: list[ToolCall] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # stage -> passed | failed | skipped
    reason: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "stage": self.stage,
            "reason": self.reason,
            "message": self.message,
            "checks": dict(self.checks),
            "calls": [call.to_dict() for call in self.calls],
        }


# -- stage 1: format ------------------------------------------------------------------------------
def parse_calls(output: Any) -> list[ToolCall]:
    """The calls in a model output as :class:`ToolCall`; ToolCallError if none parse."""
    return [ToolCall(call["name"], call["arguments"]) for call in parse_tool_calls(output)]


def check_call(registry: ToolRegistry, call: ToolCall, index: int = 1) -> Tool:
    """The call's tool, if the call names one and its arguments fit the schema."""
    return check_arguments(registry, call.name, call.arguments, index)


# -- stage 2: execution ---------------------------------------------------------------------------
def _invoke(func: Callable[..., Any], arguments: dict[str, Any]) -> tuple[str, str]:
    """("ok", result as JSON) or (reason, message). Module-level: process workers run it."""
    try:
        result = func(**arguments)
    except (Exception, SystemExit) as exc:  # SystemExit too: it would end a pool worker
        # KeyError's str() is the repr of its key; its message reads better without quotes
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        return "execution_error", f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    try:
        return "ok", json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return (
            "non_serialisable_result",
            f"result of type {type(result).__name__} is not JSON: {exc}",
        )


def _warm_up(functions: tuple[Callable[..., Any], ...]) -> int:
    return len(functions)  # unpickling the functions imported their modules


class ToolExecutor:
    """Runs tool functions with a per-call timeout, in a thread or in a worker process."""

    def __init__(
        self,
        timeout_s: float = 5.0,
        isolation: Literal["thread", "process"] = "thread",
        preload: tuple[Callable[..., Any], ...] = (),
    ):
        if isolation not in ("thread", "process"):
            raise UsageError(f"isolation must be 'thread' or 'process', not {isolation!r}")
        self.timeout_s = timeout_s
        self.isolation = isolation
        self.preload = preload  # functions a new worker imports before its timed calls
        self._pool: Any = None
        self._lock = threading.Lock()

    def run(self, tool: Tool, arguments: dict[str, Any], index: int = 1) -> Any:
        """The call's JSON-normalised result; ToolCallError on error, timeout or odd results."""
        if tool.function is None:
            raise UsageError(
                f"tool {tool.name!r} has no implementation to execute; "
                "register a function or turn execution off"
            )
        run = self._in_process if self.isolation == "process" else self._in_thread
        outcome = run(tool.function, arguments)
        if outcome is None:
            raise ToolCallError(
                "timeout", f"call {index} ({tool.name}): no result within {self.timeout_s:g} s"
            )
        status, payload = outcome
        if status != "ok":
            raise ToolCallError(status, f"call {index} ({tool.name}): {payload}")
        return json.loads(payload)

    def _in_thread(
        self, func: Callable[..., Any], arguments: dict[str, Any]
    ) -> tuple[str, str] | None:
        box: list[tuple[str, str]] = []
        worker = threading.Thread(target=lambda: box.append(_invoke(func, arguments)), daemon=True)
        worker.start()
        worker.join(self.timeout_s)  # a runaway thread is abandoned, not killed (see module doc)
        return box[0] if box else None

    def _in_process(
        self, func: Callable[..., Any], arguments: dict[str, Any]
    ) -> tuple[str, str] | None:
        with self._lock:
            if self._pool is None:
                self._pool = self._start_pool()
            pool = self._pool
        pending = pool.apply_async(_invoke, (func, arguments))
        try:
            return pending.get(self.timeout_s)
        except multiprocessing.TimeoutError:
            with self._lock:  # the worker may spin for ever: kill it with its pool
                if self._pool is pool:
                    self._pool = None
            pool.terminate()
            return None

    def _start_pool(self) -> Any:
        """A one-worker pool, warmed up so start-up and imports are not timed as a call."""
        methods = multiprocessing.get_all_start_methods()
        pool = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        ).Pool(1)
        try:
            pool.apply_async(_warm_up, (self.preload,)).get(max(_START_TIMEOUT_S, self.timeout_s))
        except multiprocessing.TimeoutError:
            pool.terminate()
            raise StepError(
                f"the tool worker process did not start within {_START_TIMEOUT_S:g} s; "
                "its log shows why (often a main module it cannot import)"
            ) from None
        return pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    def __getstate__(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "isolation": self.isolation, "preload": self.preload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)


# -- stage 3: semantics ---------------------------------------------------------------------------
def compare_expected(
    expected: Any, results: list[Any], rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> tuple[bool, str]:
    """Whether the results match `expected` (one call: its result; several: the list).

    Numbers (or numeric strings) match within the tolerances, strings after Unicode (NFKC),
    case and whitespace normalisation and without surrounding punctuation, dicts on the
    expected keys (extra result keys are fine), lists item by item.
    """
    actual = results[0] if len(results) == 1 else results
    mismatch = _mismatch(expected, actual, "result", rel_tol, abs_tol)
    return (True, "matches the expected result") if mismatch is None else (False, mismatch)


def _mismatch(expected: Any, actual: Any, path: str, rel_tol: float, abs_tol: float) -> str | None:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{path}: expected an object, got {_show(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing (expected {_show(value)})"
            if found := _mismatch(value, actual[key], f"{path}.{key}", rel_tol, abs_tol):
                return found
        return None
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return f"{path}: expected {len(expected)} items {_show(expected)}, got {_show(actual)}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if found := _mismatch(want, got, f"{path}[{i}]", rel_tol, abs_tol):
                return found
        return None
    want, got = _as_number(expected), _as_number(actual)
    if want is not None and got is not None and (_is_number(expected) or _is_number(actual)):
        same = math.isclose(want, got, rel_tol=rel_tol, abs_tol=abs_tol)
    elif isinstance(expected, str) and isinstance(actual, str):
        same = _normalise_text(expected) == _normalise_text(actual)
    else:
        same = expected == actual and type(expected) is type(actual)
    return None if same else f"{path}: expected {_show(expected)}, got {_show(actual)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(" .,;:!?\"'")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


# -- the three stages together ----------------------------------------------------------------
class ToolCallVerifier:
    """Format -> execution -> semantic checks of model outputs against a tool registry."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        execute: bool = True,
        timeout_s: float = 5.0,
        isolation: Literal["thread", "process"] = "thread",
        semantic_check: SemanticCheck | None = None,
        rel_tol: float = 1e-6,
        abs_tol: float = 1e-9,
    ):
        self.registry = registry
        self.execute = execute
        self.semantic_check = semantic_check
        self.rel_tol, self.abs_tol = rel_tol, abs_tol
        if execute:
            _check_executable(registry, isolation)
        functions = tuple(tool.function for tool in registry if tool.function is not None)
        self.executor = ToolExecutor(timeout_s, isolation, preload=functions if execute else ())

    def verify(self, output: Any, *, query: Any = None, expected: Any = None) -> Verification:
        """Check one output; `expected` None means there is no expected result to compare."""
        checks = dict.fromkeys(STAGES, "skipped")
        try:
            calls = parse_calls(output)
        except ToolCallError as exc:
            return self._fail("format", exc, [], checks)
        for index, call in enumerate(calls, 1):
            try:
                check_call(self.registry, call, index)
            except ToolCallError as exc:
                call.error = exc
        if failed := _first_error(calls):
            return self._fail("format", failed, calls, checks)
        checks["format"] = "passed"
        if not self.execute:
            return Verification(True, "ok", calls, checks)
        for index, call in enumerate(calls, 1):
            try:
                call.result = self.executor.run(self.registry[call.name], call.arguments, index)
                call.executed = True
            except ToolCallError as exc:
                call.error = exc
        if failed := _first_error(calls):
            return self._fail("execution", failed, calls, checks)
        checks["execution"] = "passed"
        verdict = self._semantic(query, calls, expected)
        if verdict is None:
            return Verification(True, "ok", calls, checks)
        if not verdict[0]:
            return self._fail(
                "semantic", ToolCallError("semantic_mismatch", verdict[1]), calls, checks
            )
        checks["semantic"] = "passed"
        return Verification(True, "ok", calls, checks, message=verdict[1])

    def _semantic(
        self, query: Any, calls: list[ToolCall], expected: Any
    ) -> tuple[bool, str] | None:
        """(ok, reason) from the expected value and/or the user's check; None if neither."""
        results = [call.result for call in calls]
        verdicts = []
        if expected is not None:
            verdicts.append(compare_expected(expected, results, self.rel_tol, self.abs_tol))
        if self.semantic_check is not None:
            plain = [{"name": c.name, "arguments": c.arguments} for c in calls]
            answer = self.semantic_check(query, plain, results)
            if not isinstance(answer, tuple):
                answer = (bool(answer), f"semantic_check returned {bool(answer)}")
            verdicts.append(answer)
        if not verdicts:
            return None
        if failed := [reason for ok, reason in verdicts if not ok]:
            return False, str(failed[0])
        return True, "; ".join(str(reason) for _, reason in verdicts)

    @staticmethod
    def _fail(
        stage: str, error: ToolCallError, calls: list[ToolCall], checks: dict[str, str]
    ) -> Verification:
        checks[stage] = "failed"
        return Verification(False, stage, calls, checks, error.reason, error.message)

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> ToolCallVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_error(calls: list[ToolCall]) -> ToolCallError | None:
    return next((call.error for call in calls if call.error is not None), None)


def _check_executable(registry: ToolRegistry, isolation: str) -> None:
    """Execution needs every tool implemented; worker processes need them picklable."""
    if missing := [tool.name for tool in registry if tool.function is None]:
        raise UsageError(
            f"execution is on but tool(s) {', '.join(missing)} have no implementation; "
            "give implementations or turn execution off"
        )
    if isolation != "process":
        return
    for tool in registry:
        try:
            pickle.dumps(tool.function)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise UsageError(
                f"isolation='process' needs importable module-level functions; tool "
                f"{tool.name!r} cannot be sent to a worker: {exc}"
            ) from None


# -- the step -------------------------------------------------------------------------------------
class VerifyToolCallsConfig(StepConfig):
    tools: str = Field(
        description='tool registry file (JSON/YAML schemas); "bundled:example_tools.json" '
        "for the bundled example library"
    )
    implementations: str | None = Field(
        None,
        description='module ("pkg.mod" or "pkg.mod:attr") implementing the tools; default: the '
        "file's own `implementations` key",
    )
    calls_field: str = Field(
        "tool_calls", description="field with the model output (text) or parsed calls"
    )
    query_field: str = Field(
        "query", description="field with the user query (passed to semantic_check)"
    )
    expected_field: str | None = Field(
        "expected_result", description="field with the expected result; missing/null: no comparison"
    )
    execute: bool = Field(
        True, description="run the calls (stage 2) and the semantic check (stage 3)"
    )
    timeout_s: float = Field(
        5.0, gt=0, description="seconds a call may run before it fails with `timeout`"
    )
    isolation: Literal["thread", "process"] = Field(
        "thread", description='"process" kills runaway calls (for untrusted tools); "thread" cannot'
    )
    semantic_check: str | None = Field(
        None, description='"pkg.mod:func" called as func(query, calls, results) -> (bool, reason)'
    )
    rel_tol: float = Field(
        1e-6, ge=0, description="relative tolerance for numeric expected results"
    )
    abs_tol: float = Field(
        1e-9, ge=0, description="absolute tolerance for numeric expected results"
    )
    result_field: str = Field("verification", description="field that receives the verdict")


@register_step("verify_tool_calls")
class VerifyToolCalls(MapStep):
    """Verifies generated tool calls against a tool registry (APIGen's three checks).

    Format (calls parse and match the tools' JSON schemas), execution (each call runs with a
    timeout) and a pluggable semantic check; see the module docstring for the accepted call
    shapes and the isolation modes.

    Input columns: `calls_field` (default ``tool_calls``: model output text or a parsed call
    list); `query_field` and `expected_field` are read when present.
    Output columns: `result_field` (default ``verification``) = ``{"passed", "stage",
    "reason", "message", "checks", "calls": [{"name", "arguments", "result" | "error"}]}``.
    Drop reasons: ``no_calls``, ``invalid_json``, ``malformed_call``, ``unknown_tool``,
    ``missing_required``, ``schema_violation``, ``execution_error``, ``timeout``,
    ``non_serialisable_result``, ``semantic_mismatch`` (detail: the verifier's message).
    References: Liu et al. (2024), "APIGen: Automated Pipeline for Generating Verifiable and
    Diverse Function-Calling Datasets", arXiv:2406.18518.
    """

    Config = VerifyToolCallsConfig
    verifies = True  # drops are verification failures: the audit reports its pass rate
    drop_reasons = (
        "no_calls", "invalid_json", "malformed_call", "unknown_tool", "missing_required",
        "schema_violation", "execution_error", "timeout", "non_serialisable_result",
        "semantic_mismatch",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        return {self.config.calls_field}

    def output_columns(self) -> set[str]:
        return {self.config.result_field}

    def __init__(self, config: Any = None, /, **kwargs: Any):
        super().__init__(config, **kwargs)
        self._verifier: ToolCallVerifier | None = None
        self._lock = threading.Lock()

    def registry_path(self) -> Path:
        return resolve_tools_path(self.config.tools)

    def input_files(self) -> list[Path]:
        """The registry file and the implementations module's source: both decide results."""
        files = [self.registry_path()]
        module = self.config.implementations or _file_module(files[0])
        for spec in (module, self.config.semantic_check):
            if spec and (source := _module_file(spec.partition(":")[0])) is not None:
                files.append(source)
        return files

    def verifier(self) -> ToolCallVerifier:
        """The step's verifier, built on first use (loads the registry and implementations)."""
        with self._lock:
            if self._verifier is None:
                cfg = self.config
                registry = ToolRegistry.from_file(self.registry_path(), cfg.implementations)
                check = _load_callable(cfg.semantic_check) if cfg.semantic_check else None
                self._verifier = ToolCallVerifier(
                    registry,
                    execute=cfg.execute,
                    timeout_s=cfg.timeout_s,
                    isolation=cfg.isolation,
                    semantic_check=check,
                    rel_tol=cfg.rel_tol,
                    abs_tol=cfg.abs_tol,
                )
            return self._verifier

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg, verifier = self.config, self.verifier()
        for record in batch:
            if is_dropped(record):
                continue
            expected = record.get(cfg.expected_field) if cfg.expected_field else None
            verdict = verifier.verify(
                record.get(cfg.calls_field), query=record.get(cfg.query_field), expected=expected
            )
            record[cfg.result_field] = verdict.to_dict()
            if not verdict.passed:
                drop(record, ctx.name, verdict.reason or "failed", verdict.message)
        return batch

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}  # the verifier holds threads and pools: rebuilt lazily

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])


def _file_module(path: Path) -> str | None:
    """The `implementations` key of a registry file, if it has one and parses."""
    try:
        return read_library(path)[1]
    except UsageError:
        return None  # the file's own error surfaces when the step loads it


def _module_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.has_location else None


def _load_callable(spec: str) -> SemanticCheck:
    if ":" not in spec:
        raise UsageError(f"semantic_check must be 'module:function', got {spec!r}")
    func = load_implementations(spec)
    if not callable(func):
        raise UsageError(f"semantic_check {spec!r} is not callable")
    return func

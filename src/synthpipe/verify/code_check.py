"""Check generated code against its tests in the sandbox, per test, and drop what fails.

Layouts (``layout="auto"`` picks the first that fits the record):

- ``humaneval`` (Chen et al. 2021): ``prompt`` + solution + ``test`` + ``entry_point``; the
  solution is ``code_field``, by default ``completion`` if present else ``canonical_solution``.
  Program: prompt + solution, then the test code and ``check(entry_point)`` as one test.
- ``mbpp`` (Austin et al. 2021): ``code`` + ``test_list`` (list of assert statements), with
  optional ``test_imports`` (list) run before the code and ``test_setup_code`` after it.
- ``plain``: ``code`` + ``tests``, either one string (one test) or a list of assert strings.

All tests of a record run in ONE sandboxed process (one start-up instead of one per assert):
a small harness executes the solution, then each test in its own ``try``, and writes one JSON
line per test to a private dup of stdout, tagged with a per-run random marker. A test that is
running when the process dies (timeout, memory, segfault, ``os._exit``) gets the sandbox's
verdict; tests after it are ``not_run``. The solution can still forge or hide its results on
purpose (it shares the process with the harness): this catches wrong and broken code, not an
adversary aiming at the verifier. The sandbox keeps such code from harming the host. The code
runs with ``__name__ == "__solution__"``, so ``if __name__ == "__main__":`` demo blocks (which
often read stdin) are skipped.

Drop reasons, from the first test that did not pass (or the solution itself):

- ``syntax_error``: the solution or a test does not compile (checked before running);
- ``failed_test``: an ``AssertionError``;
- ``timeout``: the wall-clock limit ``timeout_s`` for the whole program;
- ``resource_limit``: memory (``MemoryError``/address-space limit), CPU time, file size, process
  or open-file limits, or the output cap;
- ``blocked_syscall``: an operation the sandbox forbids: ``PermissionError``, or an ``OSError``
  with EPERM/EACCES/EROFS, or a network error (unreachable, refused, name resolution). Code
  that needs the network or writes outside its directory is treated as unverifiable;
- ``crash``: any other exception, a signal (e.g. SIGSEGV) or an early exit;
- ``no_tests``: the record has an empty test list.
"""

from __future__ import annotations

import json
import secrets
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from synthpipe.data.records import Batch, Record, drop, is_dropped
from synthpipe.errors import UsageError
from synthpipe.pipeline.registry import register_step
from synthpipe.pipeline.step import MapStep, StepConfig, StepContext
from synthpipe.verify.sandbox import SandboxResult, classify_exception_line, run_python

Layout = Literal["auto", "humaneval", "mbpp", "plain"]
DETAIL_CHARS = 300

HARNESS = r"""
import json as _sp_json, os as _sp_os, sys as _sp_sys, traceback as _sp_tb
_sp_fd = _sp_os.dup(1)
def _sp_report(**fields):
    line = "\n" + {marker!r} + _sp_json.dumps(fields) + "\n"
    _sp_os.write(_sp_fd, line.encode())
def _sp_run(label, source, ns):
    try:
        exec(compile(source, label, "exec"), ns)
        return "pass", ""
    except AssertionError as exc:
        return "fail", ("AssertionError: " + str(exc)).strip().rstrip(":")
    except BaseException as exc:
        return "error", _sp_tb.format_exception_only(type(exc), exc)[-1].strip()
_sp_ns = {{"__name__": "__solution__", "__builtins__": __builtins__}}
_sp_status, _sp_error = _sp_run("<solution>", {solution!r}, _sp_ns)
_sp_report(test="solution", status=_sp_status, error=_sp_error[:{limit}])
if _sp_status == "pass":
    for _sp_i, _sp_source in enumerate({tests!r}):
        _sp_report(test=_sp_i, status="started")
        _sp_sys.stdout.flush()
        _sp_status, _sp_error = _sp_run(f"<test {{_sp_i}}>", _sp_source, _sp_ns)
        _sp_report(test=_sp_i, status=_sp_status, error=_sp_error[:{limit}])
_sp_sys.stdout.flush()
_sp_report(test="done", status="done")
"""


@dataclass
class TestProgram:
    """A record's solution and tests, ready to run."""

    layout: str
    solution: str
    tests: list[str]
    names: list[str]
    marker: str = field(default_factory=lambda: f"@@synthpipe-{secrets.token_hex(8)}@@")

    def source(self) -> str:
        return HARNESS.format(
            marker=self.marker, solution=self.solution, tests=self.tests, limit=DETAIL_CHARS
        )


@dataclass
class CodeCheck:
    """Outcome of one record: `status` is "pass" or a drop reason."""

    passed: bool
    status: str
    detail: str
    tests: list[dict[str, str]]
    isolation: str
    sandbox: SandboxResult | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "tests": self.tests,
            "isolation": self.isolation,
        }


# -- building programs ------------------------------------------------------------------------
def detect_layout(record: Record, entry_point_field: str = "entry_point") -> str:
    if entry_point_field in record:
        return "humaneval"
    if "test_list" in record:
        return "mbpp"
    if "tests" in record:
        return "plain"
    raise UsageError(
        f"record {record.get('id')!r}: cannot tell its code layout: expected "
        f"{entry_point_field!r} + 'test' (HumanEval), 'test_list' (MBPP) or 'tests' (plain); "
        "set `layout` and the field names"
    )


def build_test_program(
    record: Record,
    *,
    layout: Layout = "auto",
    code_field: str | None = None,
    prompt_field: str = "prompt",
    tests_field: str | None = None,
    entry_point_field: str = "entry_point",
) -> TestProgram:
    """Turn `record` into a solution plus a list of tests (see the module docstring)."""
    kind = detect_layout(record, entry_point_field) if layout == "auto" else layout
    if kind == "humaneval":
        if code_field is None:
            code_field = "completion" if "completion" in record else "canonical_solution"
        prompt = _field(record, prompt_field, kind, "prompt_field")
        solution = prompt + _field(record, code_field, kind, "code_field")
        entry = _field(record, entry_point_field, kind, "entry_point_field")
        test = _field(record, tests_field or "test", kind, "tests_field")
        return TestProgram(kind, solution, [f"{test}\ncheck({entry})\n"], [f"check({entry})"])
    if kind == "mbpp":
        code = _field(record, code_field or "code", kind, "code_field")
        tests = _as_list(_field(record, tests_field or "test_list", kind, "tests_field"))
        imports = "\n".join(_as_list(record.get("test_imports") or []))
        setup = record.get("test_setup_code") or ""
        return TestProgram(kind, f"{imports}\n{code}\n{setup}\n", tests, [_name(t) for t in tests])
    if kind == "plain":
        code = _field(record, code_field or "code", kind, "code_field")
        tests = _as_list(_field(record, tests_field or "tests", kind, "tests_field"))
        return TestProgram(kind, code, tests, [_name(t) for t in tests])
    raise UsageError(f"unknown layout {layout!r}; use auto, humaneval, mbpp or plain")


def _field(record: Record, name: str, layout: str, option: str) -> Any:
    if name not in record or record[name] is None:
        raise UsageError(
            f"record {record.get('id')!r} has no field {name!r}, needed by the {layout} layout; "
            f"set `{option}` to the field that holds it"
        )
    value = record[name]
    if isinstance(value, str | list):
        return value
    raise UsageError(
        f"record {record.get('id')!r}: field {name!r} must be text, not {type(value).__name__}"
    )


def _as_list(value: str | list) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _name(test: str) -> str:
    first = test.strip().splitlines()[0] if test.strip() else ""
    return first if len(first) <= 120 else first[:117] + "..."


# -- running ---------------------------------------------------------------------------------
def check_program(program: TestProgram, **sandbox: Any) -> CodeCheck:
    """Compile-check, run in the sandbox and turn the harness's report into a verdict."""
    tests = [{"name": n, "status": "not_run"} for n in program.names]
    if not program.tests:
        return CodeCheck(False, "no_tests", "the record has no tests", tests, "none")
    error = _syntax_error(program)
    if error:
        return CodeCheck(False, "syntax_error", error, tests, "none")
    result = run_python(program.source(), **sandbox)
    reports = _reports(result.stdout, program.marker)
    solution = reports.get("solution")
    if solution is None:  # died while defining the solution (endless loop, os._exit, ...)
        detail = f"solution: {result.detail or 'exited before the tests ran'}"
        return CodeCheck(
            False, _reason_for_sandbox(result), detail, tests, result.isolation, result
        )
    if solution["status"] != "pass":
        reason = _reason_for_error(solution["error"])
        return CodeCheck(
            False, reason, f"solution: {solution['error']}", tests, result.isolation, result
        )
    died = None
    for i, test in enumerate(tests):
        got = reports.get(i)
        if got is None:
            break
        if got["status"] == "started":  # the process ended during this test
            died = i
            test["status"] = "timeout" if result.limit == "wall" else "error"
            test["error"] = result.detail or f"exit code {result.returncode}"
            break
        test["status"] = got["status"]
        if got["error"]:
            test["error"] = got["error"]
    return _verdict(tests, result, died, done="done" in reports)


def _verdict(
    tests: list[dict[str, str]], result: SandboxResult, died: int | None, done: bool
) -> CodeCheck:
    """The first test that did not pass decides the drop reason."""
    for i, test in enumerate(tests):
        if test["status"] == "pass":
            continue
        detail = f"{test['name']}: {test.get('error') or test['status']}"[:DETAIL_CHARS]
        if i == died or test["status"] == "not_run":
            reason = _reason_for_sandbox(result)
        elif test["status"] == "fail":
            reason = "failed_test"
        else:
            reason = _reason_for_error(test.get("error", ""))
        return CodeCheck(False, reason, detail, tests, result.isolation, result)
    if not done or result.status != "ok":
        reason = _reason_for_sandbox(result)
        return CodeCheck(False, reason, result.detail, tests, result.isolation, result)
    return CodeCheck(True, "pass", "", tests, result.isolation, result)


def _reason_for_error(line: str) -> str:
    status, limit = classify_exception_line(line)
    if status == "memory" or limit:
        return "resource_limit"
    if status == "blocked":
        return "blocked_syscall"
    return "crash"


def _reason_for_sandbox(result: SandboxResult) -> str:
    if result.status == "timeout" and result.limit == "wall":
        return "timeout"
    if result.limit or result.status in ("memory", "output_limit", "timeout"):
        return "resource_limit"
    if result.status == "blocked":
        return "blocked_syscall"
    return "crash"


def _reports(stdout: str, marker: str) -> dict[Any, dict[str, str]]:
    """Last report per test from the harness's tagged lines (key: index, "solution", "done")."""
    out: dict[Any, dict[str, str]] = {}
    for line in stdout.splitlines():
        if line.startswith(marker):
            try:
                item = json.loads(line[len(marker) :])
            except json.JSONDecodeError:
                continue  # truncated by the output cap
            out[item["test"]] = {"status": item["status"], "error": item.get("error", "")}
    return out


def _syntax_error(program: TestProgram) -> str:
    for label, source in [
        ("solution", program.solution),
        *zip(program.names, program.tests, strict=True),
    ]:
        try:
            with warnings.catch_warnings():  # e.g. invalid escapes: the sandbox will say
                warnings.simplefilter("ignore")
                compile(source, f"<{label}>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:  # ValueError: null bytes in the source
            where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
            return f"{label}: {type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}"[
                :DETAIL_CHARS
            ]
    return ""


_LAYOUT_OPTIONS = ("layout", "code_field", "prompt_field", "tests_field", "entry_point_field")


def check_code(record: Record, **options: Any) -> CodeCheck:
    """Build `record`'s test program and check it: the layout options of
    :func:`build_test_program` pick the fields, the rest go to :func:`run_python`."""
    layout = {k: options.pop(k) for k in _LAYOUT_OPTIONS if k in options}
    return check_program(build_test_program(record, **layout), **options)


# -- the step ---------------------------------------------------------------------------------
class VerifyCodeConfig(StepConfig):
    layout: Layout = Field("auto", description="auto | humaneval | mbpp | plain (see module doc)")
    code_field: str | None = Field(
        None,
        description="field with the code; default: HumanEval completion, else "
        "canonical_solution; MBPP and plain: code",
    )
    prompt_field: str = Field("prompt", description="HumanEval: field with the function header")
    tests_field: str | None = Field(
        None,
        description="field with the tests; default: test (HumanEval), test_list (MBPP), "
        "tests (plain)",
    )
    entry_point_field: str = Field("entry_point", description="HumanEval: the function to check")
    timeout_s: float = Field(10.0, gt=0, description="wall-clock limit for all tests of a record")
    memory_mb: int = Field(512, ge=64, description="address-space limit of the program")
    isolation: Literal["auto", "bwrap", "unshare", "none"] = Field(
        "auto", description="sandbox isolation; auto = strongest that works here"
    )
    workers: int = Field(2, ge=1, description="records checked at once (one process each)")
    result_field: str = Field(
        "verification", description="field that receives {passed, status, tests, isolation}"
    )


@register_step("verify_code")
class VerifyCode(MapStep):
    """Runs each record's code against its tests in the sandbox; drops the ones that fail.

    All tests of a record run in one sandboxed process; the first test that did not pass
    decides the reason (see the module docstring for the layouts and the harness).

    Input columns: the code and tests of the `layout` (mbpp: ``code``, ``test_list``;
    humaneval: ``prompt``, ``entry_point``, ``test`` and the solution; plain: ``code``,
    ``tests``; each renamed by its ``*_field`` option); not checked with ``layout: auto``.
    Output columns: `result_field` (default ``verification``) = ``{passed, status, tests,
    isolation}``.
    Drop reasons: ``failed_test``, ``timeout``, ``crash``, ``blocked_syscall``,
    ``resource_limit``, ``syntax_error``, ``no_tests`` (detail: the first failing test or
    error line).
    References: Chen et al. (2021), "Evaluating Large Language Models Trained on Code",
    arXiv:2107.03374 (HumanEval); Austin et al. (2021), "Program Synthesis with Large Language
    Models", arXiv:2108.07732 (MBPP).
    """

    Config = VerifyCodeConfig
    verifies = True  # drops are verification failures: the audit reports its pass rate
    drop_reasons = (
        "failed_test", "timeout", "crash", "blocked_syscall", "resource_limit", "syntax_error", "no_tests",
    )  # fmt: skip

    def input_columns(self) -> set[str]:
        """The fields the configured layout reads (build_test_program fails without them)."""
        cfg = self.config
        if cfg.layout == "humaneval":
            solution = {cfg.code_field} if cfg.code_field else set()
            return {cfg.prompt_field, cfg.entry_point_field, cfg.tests_field or "test", *solution}
        if cfg.layout in ("mbpp", "plain"):
            tests = cfg.tests_field or ("test_list" if cfg.layout == "mbpp" else "tests")
            return {cfg.code_field or "code", tests}
        return set()  # auto: the layout is decided per record

    def output_columns(self) -> set[str]:
        return {self.config.result_field}

    def process(self, batch: Batch, ctx: StepContext) -> Batch:
        cfg = self.config
        todo = [r for r in batch if not is_dropped(r)]
        programs = [
            build_test_program(
                r,
                layout=cfg.layout,
                code_field=cfg.code_field,
                prompt_field=cfg.prompt_field,
                tests_field=cfg.tests_field,
                entry_point_field=cfg.entry_point_field,
            )
            for r in todo
        ]
        settings = {
            "timeout_s": cfg.timeout_s,
            "memory_mb": cfg.memory_mb,
            "isolation": cfg.isolation,
        }
        with ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="verify_code") as pool:
            outcomes = list(pool.map(lambda p: check_program(p, **settings), programs))
        for record, outcome in zip(todo, outcomes, strict=True):
            record[cfg.result_field] = outcome.as_dict()
            if not outcome.passed:
                drop(record, ctx.name, outcome.status, outcome.detail)
        return batch

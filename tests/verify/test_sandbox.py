"""The sandbox's ordinary behaviour: results, classification, environment, concurrency."""

from __future__ import annotations

import os
import sys
import time

import pytest

from synthpipe.errors import UsageError
from synthpipe.verify.isolation import MODES
from synthpipe.verify.sandbox import (
    Sandbox,
    available_modes,
    last_exception_line,
    resolve_mode,
    run_python,
)

AVAILABLE = available_modes()
mode_param = pytest.mark.parametrize(
    "mode",
    [
        pytest.param(
            m, marks=[] if m in AVAILABLE else [pytest.mark.skip(reason=f"{m} unavailable")]
        )
        for m in MODES
    ],
)


@mode_param
def test_ok_program_output_and_metadata(mode):
    r = run_python("print('héllo')\nimport sys\nprint('warn', file=sys.stderr)\n", isolation=mode)
    assert (r.status, r.returncode, r.stdout, r.stderr) == ("ok", 0, "héllo\n", "warn\n")
    assert r.isolation == mode and r.ok and 0 < r.duration_s < 5 and r.limit is None


@mode_param
def test_exception_is_error_with_last_line_as_detail(mode):
    r = run_python("def f():\n    raise ValueError('bad input')\nf()\n", isolation=mode)
    assert (r.status, r.returncode, r.detail) == ("error", 1, "ValueError: bad input")


def test_syntax_error_is_an_error():
    r = run_python("def f(:\n", isolation="none")
    assert r.status == "error" and r.detail.startswith("SyntaxError")


@mode_param
def test_environment_is_scrubbed_and_cwd_is_a_private_workdir(mode, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    src = (
        "import os\n"
        "print(sorted(os.environ))\n"
        "print(os.environ['HOME'] == os.getcwd() == os.environ['TMPDIR'])\n"
        "open('scratch.txt', 'w').write('x')\n"
        "print(os.listdir('.'))\n"
    )
    r = run_python(src, isolation=mode)
    lines = r.stdout.splitlines()
    assert lines[0] == str(sorted(["HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]))
    assert lines[1] == "True" and "scratch.txt" in lines[2]
    assert not os.path.exists(r.workdir)


@mode_param
def test_stdin_is_delivered(mode):
    r = run_python("import sys\nprint(sys.stdin.read().upper())\n", stdin="abc", isolation=mode)
    assert r.stdout == "ABC\n"


def test_permission_error_is_blocked():
    r = run_python("raise PermissionError(13, 'Permission denied')\n", isolation="none")
    assert r.status == "blocked" and r.limit is None


def test_memory_error_is_memory():
    r = run_python("raise MemoryError\n", isolation="none")
    assert (r.status, r.limit) == ("memory", "memory")


def test_auto_picks_the_strongest_working_mode():
    assert resolve_mode("auto", sys.executable) == AVAILABLE[0]
    assert run_python("pass").isolation == AVAILABLE[0]


def test_unknown_isolation_is_rejected():
    with pytest.raises(ValueError, match="unknown isolation"):
        run_python("pass", isolation="docker")
    with pytest.raises(ValueError, match="unknown isolation"):
        Sandbox(isolation="docker")


def test_run_many_keeps_order_and_runs_in_parallel():
    box = Sandbox(isolation="none", timeout_s=5, workers=2)
    programs = [f"import time\ntime.sleep(0.5)\nprint({i})\n" for i in range(4)]
    start = time.monotonic()
    results = box.run_many(programs)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]
    assert elapsed < 1.8  # 4 x 0.5 s sequentially would be >= 2 s


def test_last_exception_line():
    tb = "Traceback (most recent call last):\n  File \"x\", line 1\nKeyError: 'a'\n"
    assert last_exception_line(tb) == "KeyError: 'a'"
    assert last_exception_line("socket.gaierror: [Errno -3] Temporary failure") == (
        "socket.gaierror: [Errno -3] Temporary failure"
    )
    assert last_exception_line("AssertionError\n") == "AssertionError"
    assert last_exception_line("just some text\n") == ""


@mode_param
def test_closing_its_output_does_not_end_the_run_early(mode):
    src = "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(0.3)\nos._exit(4)\n"
    r = run_python(src, isolation=mode, timeout_s=5)
    assert (r.status, r.returncode) == ("error", 4) and r.duration_s >= 0.3
    r = run_python(
        "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n", isolation=mode, timeout_s=1
    )
    assert (r.status, r.limit) == ("timeout", "wall") and r.duration_s < 3


def test_explicit_mode_that_cannot_start_is_a_usage_error():
    mode = next((m for m in AVAILABLE if m != "none"), None)
    if mode is None:
        pytest.skip("no namespace mode works here")
    with pytest.raises(UsageError, match=rf"isolation='{mode}' does not work on this machine"):
        run_python("pass", isolation=mode, python="/nonexistent/python3")

"""A run of more than MAX_RECORDS_UNCONFIRMED records needs confirmation (`--yes`, `yes=True`):
a count three zeros too long is refused before anything is made (issue 13, item 6)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from toy_steps import CountingSource

from synthpipe import Pipeline
from synthpipe.curate.text_filters import TextFilter
from synthpipe.errors import UsageError


def huge_pipeline() -> Pipeline:
    from synthpipe.run.limits import MAX_RECORDS_UNCONFIRMED

    return Pipeline("huge", {"gen": CountingSource(n=MAX_RECORDS_UNCONFIRMED + 1), "filter": TextFilter()})


def test_the_python_api_refuses_a_huge_run_unless_confirmed(tmp_path):
    pipeline = huge_pipeline()
    with pytest.raises(UsageError, match=r"step 'gen' would make 1,000,001 records.*yes=True"):
        pipeline.run(tmp_path / "run")
    with pytest.raises(UsageError, match="--yes"):
        pipeline.dry_run(tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run directory is made
    assert pipeline.dry_run(tmp_path / "run", yes=True)["steps"] == []  # no LLM step: nothing to estimate


def test_a_count_at_the_cap_needs_no_confirmation():
    from synthpipe.run.limits import MAX_RECORDS_UNCONFIRMED, check_run_size

    check_run_size({"gen": CountingSource(n=MAX_RECORDS_UNCONFIRMED)}, yes=False)
    check_run_size({"gen": CountingSource(n=MAX_RECORDS_UNCONFIRMED * 10)}, yes=True)


def synthpipe(*args: str, cwd) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "synthpipe.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_cli_asks_for_yes(tmp_path):
    result = synthpipe("run", "quickstart", "-s", "steps.generate.n=1000000000", "--out", "q", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "1,000,000,000 records" in result.stderr and "--yes" in result.stderr
    assert not (tmp_path / "q").exists()
    confirmed = synthpipe("run", "quickstart", "-s", "steps.generate.n=1000000000", "--out", "q",
                          "--dry-run", "--yes", cwd=tmp_path)  # fmt: skip
    assert confirmed.returncode == 0, confirmed.stderr

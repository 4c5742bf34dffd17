"""A full disk (ENOSPC) while writing --out: a clear error naming the file, and a rerun resumes.

No real full disk: a wrapper makes the JSONL writer fail with ENOSPC while a flag file exists,
the way a write fails mid-file (some bytes written, then the error, no file name in it)."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

WRAPPER = """\
import errno, os, sys
import synthpipe.data.writers as writers
import synthpipe.run.api as api

flag, where, *args = sys.argv[1:]
dump_lines, merge_quarantines = writers._dump_lines, api._merge_quarantines

def full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

def failing_dump(records, fh):
    if os.path.exists(flag) and where == "writer" and ".kept.jsonl" in getattr(fh, "name", ""):
        fh.write(b"{half a reco" if "b" in fh.mode else "{half a reco")  # JSONL is written as bytes
        raise full()
    return dump_lines(records, fh)

def failing_merge(*a):
    if os.path.exists(flag) and where == "elsewhere":
        raise full()
    return merge_quarantines(*a)

writers._dump_lines, api._merge_quarantines = failing_dump, failing_merge
from synthpipe.cli import main
sys.argv = ["synthpipe", *args]
main()
"""


def run(tmp_path: Path, where: str, *args: str) -> subprocess.CompletedProcess:
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    cmd = [sys.executable, str(wrapper), str(tmp_path / "disk-is-full"), where, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_disk_full_on_out_names_the_file_and_a_rerun_resumes(tmp_path, text_recipe):
    recipe = text_recipe(30)
    out = tmp_path / "run"
    (tmp_path / "disk-is-full").touch()
    result = run(tmp_path, "writer", "run", str(recipe), "--out", str(out), "-q")
    assert result.returncode == 1, result.stderr
    assert f"no space left on device while writing {out / 'kept.jsonl'}" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (out / "kept.jsonl").exists() and not list(out.glob(".*tmp*"))  # no half-written file

    (tmp_path / "disk-is-full").unlink()  # space freed
    result = run(tmp_path, "writer", "run", str(recipe), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kept"] == 30 and all(step["reused"] for step in summary["steps"])  # resumed, not redone
    assert len((out / "kept.jsonl").read_text().splitlines()) == 30


def test_disk_full_outside_the_atomic_writers_is_still_a_clear_error(tmp_path, text_recipe):
    recipe = text_recipe(30)
    (tmp_path / "disk-is-full").touch()
    result = run(tmp_path, "elsewhere", "run", str(recipe), "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 1
    assert "error: no space left on device" in result.stderr and "rerun" in result.stderr
    assert "internal error" not in result.stderr


def test_atomic_path_turns_enospc_into_a_disk_full_error(tmp_path):
    from synthpipe.data.writers import atomic_path
    from synthpipe.errors import DiskFullError, SynthpipeError

    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(DiskFullError) as caught, atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    error = caught.value
    assert isinstance(error, SynthpipeError) and isinstance(error, OSError) and error.exit_code == 1
    assert str(target) in str(error) and error.errno == errno.ENOSPC
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]

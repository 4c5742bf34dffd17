"""The run directory's lock: a second process never runs in, or empties, a live run's directory."""

from __future__ import annotations

import subprocess
import sys

HOLDER = """\
import select, sys
from synthpipe.pipeline.rundir import RunDir
run_dir = RunDir(sys.argv[1])
run_dir.open()
print("locked", flush=True)
select.select([sys.stdin], [], [], 60)  # hold the lock until told (or 60 s at most)
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True, timeout=120)


def test_fresh_refuses_a_directory_another_process_holds(tmp_path, text_recipe):
    recipe = text_recipe(20)
    out = tmp_path / "run"
    assert cli("run", str(recipe), "--out", str(out), "-q").returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        for extra in (["--fresh"], []):
            result = cli("run", str(recipe), "--out", str(out), "-q", *extra)
            assert result.returncode == 2, (extra, result.stdout, result.stderr)
            assert str(out) in result.stderr and f"another synthpipe process (pid {holder.pid})" in result.stderr
        # the live run's directory is untouched
        assert len((out / "kept.jsonl").read_text().splitlines()) == 20 and (out / "steps").is_dir()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0, holder.stderr.read()
    # once the holder is gone, --fresh empties and reruns
    (out / "stale.txt").write_text("from the old run")
    assert cli("run", str(recipe), "--out", str(out), "-q", "--fresh").returncode == 0
    assert not (out / "stale.txt").exists() and len((out / "kept.jsonl").read_text().splitlines()) == 20


def test_fresh_still_refuses_a_directory_that_is_not_a_run(tmp_path, text_recipe):
    recipe = text_recipe(20)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = cli("run", str(recipe), "--out", str(out), "--fresh", "-q")
    assert result.returncode == 2 and "does not look like a synthpipe run" in result.stderr
    assert (out / "thesis.tex").exists() and not (out / ".lock").exists()

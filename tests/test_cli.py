"""The CLI: exit codes (0 ok, 1 failure, 2 usage error), listing commands, inspect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY = Path(__file__).parent / "pipeline"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TOY), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "synthpipe.cli", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    rows = [{"q": f"question number {i} about things", "y": "A" if i % 2 else "B"} for i in range(12)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


def reader_recipe(tmp_path: Path, seeds: Path) -> Path:
    recipe = tmp_path / "read.yaml"
    recipe.write_text(
        f"name: readit\nsteps:\n  read: {{step: read, path: '{seeds}', text_field: q, label_field: y}}\n"
        "  filter: {step: text_filter}\n  dedup: {step: exact_dedup}\n"
    )
    return recipe


def test_version_and_help():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("synthpipe ")
    assert cli("--help").returncode == 0


def test_run_ok_quarantines_bad_records_and_reports_json(tmp_path, seeds):
    result = cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(tmp_path / "run"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kept"] == 12 and summary["quarantined"] == 1
    [bad] = [json.loads(line) for line in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert bad["file"].endswith("seeds.jsonl") and bad["line"] == 4 and "JSON" in bad["reason"]


def test_strict_mode_fails_with_file_and_line(tmp_path, seeds):
    result = cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(tmp_path / "run"), "--strict", "-q")
    assert result.returncode == 1
    assert "seeds.jsonl:4" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_traceback(tmp_path, seeds):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  read: {step: raed, path: x}\n")
    result = cli("run", str(bad))
    assert result.returncode == 2
    assert "bad.yaml:3" in result.stderr and "did you mean 'read'" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("run", str(tmp_path / "missing.yaml")).returncode == 2
    assert cli("run", "--no-such-flag", "x").returncode == 2
    assert cli("frobnicate").returncode == 2
    recipe = reader_recipe(tmp_path, seeds)
    assert cli("run", str(recipe), "-s", "steps.filter.min_wrds=2").returncode == 2
    assert cli("inspect", str(tmp_path / "nope")).returncode == 2


def test_steps_recipes_and_inspect(tmp_path, seeds):
    listing = cli("steps")
    assert listing.returncode == 0
    for name in ("read", "slot_template", "text_filter", "exact_dedup"):
        assert name in listing.stdout
    assert "min_words" in cli("steps", "text_filter").stdout
    assert "quickstart" in cli("recipes").stdout
    out = tmp_path / "run"
    assert cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(out), "-q").returncode == 0
    shown = cli("inspect", str(out))
    assert shown.returncode == 0
    assert "filter" in shown.stdout and "dedup" in shown.stdout and "question number" in shown.stdout
    funnel = json.loads(cli("inspect", str(out), "--json").stdout)
    assert [s["name"] for s in funnel["steps"]] == ["read", "filter", "dedup"]


def test_convert_maps_fields_and_quarantines(tmp_path, seeds):
    target = tmp_path / "out.parquet"
    result = cli("convert", str(seeds), str(target), "--text-field", "q", "--label-field", "y")
    assert result.returncode == 0, result.stderr
    assert "wrote 12 records" in result.stdout and "quarantined 1" in result.stdout
    from synthpipe.data.readers import read_all

    rows = read_all(target)
    assert len(rows) == 12 and rows[0]["text"].startswith("question number") and rows[0]["label"] in "AB"
    assert cli("convert", str(seeds), str(tmp_path / "x.csv"), "--text-field", "q", "--strict").returncode == 1


def test_run_that_keeps_nothing_exits_4_unless_allow_empty(tmp_path, seeds):
    recipe = tmp_path / "strict.yaml"
    recipe.write_text(
        f"name: none\nsteps:\n  read: {{step: read, path: '{seeds}', text_field: q}}\n"
        "  filter: {step: text_filter, min_words: 100}\n"
    )
    out = tmp_path / "run"
    result = cli("run", str(recipe), "--out", str(out), "--json")
    assert result.returncode == 4, result.stderr
    assert json.loads(result.stdout)["kept"] == 0  # the summary is still printed
    assert "kept 0 of 13 records" in result.stderr and "filter: too_short (12)" in result.stderr
    assert "--allow-empty" in result.stderr and "Traceback" not in result.stderr
    assert len((out / "dropped.jsonl").read_text().splitlines()) == 12  # nothing lost: the ledger is written
    assert (out / "report.html").exists()
    assert cli("run", str(recipe), "--out", str(out), "--allow-empty", "-q").returncode == 0


def test_quiet_still_prints_one_line_with_the_report_path(tmp_path, seeds):
    out = tmp_path / "run"
    result = cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    assert "kept 12" in line and str((out / "report.html").resolve()) in line
    assert result.stderr == ""  # no progress bars


def test_every_output_file_has_the_same_umask_mode(tmp_path, seeds):
    out = tmp_path / "run"
    assert cli("run", str(reader_recipe(tmp_path, seeds)), "--out", str(out), "-q").returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir() if p.is_file()}
    assert modes["report.html"] == modes["kept.jsonl"] == 0o666 & ~umask, modes
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_help_shows_every_default_written_in_a_help_string(monkeypatch):
    """Rich reads "[default: x]" as markup and drops it unless the bracket is escaped."""
    import re

    import typer.rich_utils
    from typer.main import get_command
    from typer.testing import CliRunner

    from synthpipe.cli import app

    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 1000)  # no wrapping inside the bracket
    commands, checked = [((), get_command(app))], 0
    while commands:
        path, command = commands.pop()
        for name, sub in getattr(command, "commands", {}).items():
            commands.append(((*path, name), sub))
        wanted = [m for p in command.params for m in re.findall(r"\\?\[(default: [^\]]*)\]", p.help or "")]
        if not wanted:
            continue
        shown = " ".join(CliRunner().invoke(app, [*path, "--help"]).output.split())
        for text in wanted:
            assert f"[{' '.join(text.split())}]" in shown, (path, text)
            checked += 1
    assert checked >= 10


def test_silent_prints_nothing_and_errors_still_reach_stderr(tmp_path, seeds):
    recipe = reader_recipe(tmp_path, seeds)
    result = cli("run", str(recipe), "--out", str(tmp_path / "run"), "--silent")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    failed = cli("run", str(recipe), "--out", str(tmp_path / "run2"), "--silent", "--strict")
    assert failed.returncode == 1 and "seeds.jsonl:4" in failed.stderr


def test_curation_commands_quiet_and_silent(tmp_path, seeds):
    args = ("dedup", str(seeds), "--method", "exact", "--text-field", "q")
    quiet = cli(*args, "--out", str(tmp_path / "q"), "-q")
    assert quiet.returncode == 0, quiet.stderr
    [line] = quiet.stdout.strip().splitlines()
    assert "kept 12" in line and str((tmp_path / "q" / "report.html").resolve()) in line
    silent = cli(*args, "--out", str(tmp_path / "s"), "--silent")
    assert silent.returncode == 0, silent.stderr
    assert silent.stdout == "" and silent.stderr == ""
    assert (tmp_path / "s" / "report.html").exists()


def test_help_shows_a_default_for_every_option(monkeypatch):
    """Flags that are off and options left unset say so too, not only those with a value."""
    import re

    import typer.rich_utils
    from typer.main import get_command
    from typer.testing import CliRunner

    from synthpipe.cli import app

    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 1000)  # one line per option
    commands, checked = [((), get_command(app))], 0
    while commands:
        path, command = commands.pop()
        for name, sub in getattr(command, "commands", {}).items():
            commands.append(((*path, name), sub))
        options = [p for p in command.params if hasattr(p, "is_flag") and p.name != "version"]
        if not path or not options:
            continue
        lines = CliRunner().invoke(app, [*path, "--help"]).output.splitlines()
        for option in options:
            flag = next(o for o in option.opts if o.startswith("--"))
            [line] = [x for x in lines if re.match(rf"│\s+(\*\s+)?{flag}\s", x)]
            assert "[default:" in line or "[required]" in line, (path, flag, line)
            checked += 1
    assert checked >= 100


def test_dir_lists_the_public_api():
    import synthpipe

    names = dir(synthpipe)
    assert "Pipeline" in names and set(synthpipe._EXPORTS) <= set(names)
    assert "__version__" in names

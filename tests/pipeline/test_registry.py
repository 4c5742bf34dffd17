"""Steps register through the `synthpipe.steps` entry points, ours and third parties' alike."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synthpipe.errors import UsageError
from synthpipe.pipeline import registry

THIRD_PARTY_STEP = """
from synthpipe.pipeline.step import FilterStep, StepConfig


class ShoutConfig(StepConfig):
    field: str = "text"


class DropShouting(FilterStep):
    \"\"\"Drops records written in capitals.\"\"\"

    Config = ShoutConfig

    def keep(self, record):
        text = str(record.get(self.config.field, ""))
        return (False, "shouting") if text.isupper() else True
"""


def _third_party(root: Path) -> Path:
    """A package installed the way pip installs one: a module plus a dist-info whose
    entry_points.txt names the step class."""
    (root / "shoutfilter.py").write_text(THIRD_PARTY_STEP)
    info = root / "shoutfilter-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shoutfilter\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[synthpipe.steps]\ndrop_shouting = shoutfilter:DropShouting\n"
    )
    return root


def test_builtin_steps_come_from_the_entry_points_of_their_packages():
    steps = registry.registered_steps()
    modules = {cls.__module__.split(".")[1] for cls in steps.values()}
    assert {"pipeline", "generate", "procedural", "verify", "curate", "audit"} <= modules
    for name in ("read", "text_filter", "minhash_dedup", "self_instruct", "slot_template", "audit"):
        assert name in steps, name


def test_a_technique_file_needs_no_list_to_register(tmp_path, monkeypatch):
    """The scan imports every module of a step package: a new file there registers itself."""
    package = tmp_path / "mysteps"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "shout.py").write_text(
        THIRD_PARTY_STEP
        + "\nfrom synthpipe.pipeline.registry import register_step\n"
        + "register_step('drop_shouting_scanned')(DropShouting)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import mysteps

    registry._import_package(mysteps)
    assert registry.get_step_class("drop_shouting_scanned").__name__ == "DropShouting"


def test_a_third_party_step_registers_and_the_cli_lists_it(tmp_path):
    root = _third_party(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run(
        [sys.executable, "-m", "synthpipe.cli", "steps"], capture_output=True, text=True, env=env, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    assert "drop_shouting" in listing.stdout and "text_filter" in listing.stdout
    recipe = tmp_path / "r.yaml"
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "fine words here"}\n{"text": "LOUD WORDS HERE"}\n')
    recipe.write_text(
        textwrap.dedent(
            f"""\
            name: shout
            steps:
              read: {{step: read, path: {data}}}
              quiet: {{step: drop_shouting}}
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "synthpipe.cli", "run", str(recipe), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    dropped = (tmp_path / "out" / "dropped.jsonl").read_text()
    assert "shouting" in dropped and "LOUD WORDS HERE" in dropped


def test_a_bad_entry_point_names_itself():
    with pytest.raises(UsageError, match="nosuchpackage"):
        registry.get_step_class("nosuchpackage.module:Step")
    with pytest.raises(UsageError, match="not a synthpipe Step"):
        registry.get_step_class("synthpipe.errors:UsageError")

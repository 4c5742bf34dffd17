"""synthpipe: generate, curate, audit and prove synthetic data for language models."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("synthpipe")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

# Public API, imported on first use so `import synthpipe` (and the CLI) stays fast.
_EXPORTS = {
    "Pipeline": "synthpipe.run.api",
    "RunResult": "synthpipe.run.api",
    "load_recipe": "synthpipe.run.recipe",
    "Step": "synthpipe.pipeline.step",
    "StepConfig": "synthpipe.pipeline.step",
    "SourceStep": "synthpipe.pipeline.step",
    "MapStep": "synthpipe.pipeline.step",
    "FilterStep": "synthpipe.pipeline.step",
    "GlobalStep": "synthpipe.pipeline.step",
    "register_step": "synthpipe.pipeline.registry",
    "read_records": "synthpipe.data.readers",
    "write_records": "synthpipe.data.writers",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'synthpipe' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazy names are attributes too: `dir(synthpipe)` and tab completion list them.
    return sorted({*globals(), *_EXPORTS})

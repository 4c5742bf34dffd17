"""Storage formats: names, detection from a path, and file suffixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthpipe.errors import UsageError
from synthpipe.importing import require

FORMATS = ("jsonl", "jsonl.gz", "parquet", "csv", "hf")

# Longest suffixes first, so ".jsonl.gz" wins over a bare ".gz" check.
_SUFFIXES = {
    ".jsonl.gz": "jsonl.gz",
    ".ndjson.gz": "jsonl.gz",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
}
_OUTPUT_SUFFIX = {
    "jsonl": ".jsonl",
    "jsonl.gz": ".jsonl.gz",
    "parquet": ".parquet",
    "csv": ".csv",
    "hf": "",
}
# Files `Dataset.save_to_disk` / `DatasetDict.save_to_disk` leave in the directory.
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def _hint() -> str:
    return f"pass format= (--format on the command line), one of: {', '.join(FORMATS)}"


def check_format(fmt: str) -> str:
    """Validate an explicit format name."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return fmt


def detect_format(path: str | Path) -> str:
    """The format of `path`, from its suffix (or, for a directory, its HF dataset files)."""
    p = Path(path)
    if p.is_dir():
        if any((p / marker).is_file() for marker in HF_MARKERS):
            return "hf"
        raise UsageError(
            f"{p} is a directory but not a saved Hugging Face dataset "
            f"(no {' or '.join(HF_MARKERS[:2])}); {_hint()}"
        )
    name = p.name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    extra = (
        " (a .json file holding one object per line is format='jsonl')"
        if name.endswith(".json")
        else ""
    )
    raise UsageError(
        f"cannot tell the format of {p} from its name{extra}; known suffixes: "
        f"{', '.join(_SUFFIXES)}; {_hint()}"
    )


def output_suffix(fmt: str) -> str:
    """Suffix to give a file written in `fmt` ("" for HF dataset directories)."""
    return _OUTPUT_SUFFIX[check_format(fmt)]


def strip_suffix(name: str) -> str:
    """File name without its format suffix: "seeds.jsonl.gz" -> "seeds"."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


# HF datasets drop Arrow schema metadata, so a saved dataset lists its JSON-encoded columns
# (see `synthpipe.data.arrow`) in this extra file next to `dataset_info.json`.
HF_JSON_COLUMNS_FILE = "synthpipe_json_columns.json"


def import_datasets() -> Any:
    """The optional HF `datasets` package, or a UsageError saying how to install it."""
    require("datasets", why="reading or writing Hugging Face datasets")
    import datasets

    return datasets

"""Datasets made by distilabel: where their rows are stored, and their columns as ours.

Layouts (from distilabel's ``distiset.py`` and ``constants.py``):

- ``Distiset.save_to_disk(dir)``: one ``datasets`` ``save_to_disk`` folder per subset
  (``dir/<config>/``, a DatasetDict with a ``train`` split, or a Dataset), beside
  ``dir/distiset_configs/`` (card, ``pipeline.yaml``) and ``dir/artifacts/``. A pipeline with
  one leaf step names its subset ``default``.
- ``Distiset.push_to_hub`` then a download (``snapshot_download``): Parquet shards per subset,
  ``dir/<config>/train-00000-of-00001.parquet`` (``dir/data/...`` for ``default``), or
  ``dir/<config>/train/*.parquet``.
- A single Parquet or JSONL file, or one ``save_to_disk`` folder, of a subset's rows.

Columns (distilabel's tasks and formatting steps) and what they become:

- ``generation`` (one reply) -> ``response``; ``system_prompt`` -> ``system``;
- ``generations`` (or a grouped ``generation`` list) with UltraFeedback's ``ratings`` and
  ``rationales`` and the models (``generation_models``/``model_names``) -> ``candidates``, a
  list of ``{"text", "model", "score", "rationale"}`` as synthpipe's ``ultrafeedback`` writes;
- ``chosen_rating``/``rejected_rating`` -> ``chosen_score``/``rejected_score`` (``chosen`` and
  ``rejected`` chat lists stay: the dpo export reads them);
- ``model_name`` -> ``_lineage.model`` (a list -> ``_lineage.models``), ``distilabel_metadata``
  (``raw_output_<step>``, ``raw_input_<step>``, ``statistics_<step>``) -> ``_lineage`` as is;
- ``instruction``, ``prompt``, ``messages`` and every other column stay as they are; ``text``,
  when absent, is the prompt (``instruction``, else ``prompt``, else the last user turn), so
  filters and the audit read it.

A renamed column never overwrites one of the target name. Ids are ``<subset>-<row>``: the same
files give the same ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthpipe.errors import UsageError

CONFIG_FOLDER = "distiset_configs"  # distilabel's DISTISET_CONFIG_FOLDER
ARTIFACTS_FOLDER = "artifacts"
METADATA = "distilabel_metadata"
_HF_MARKERS = ("dataset_info.json", "state.json")
_SPLIT = "train"  # the split distilabel writes every subset to
_RENAMES = {
    "generation": "response",
    "system_prompt": "system",
    "chosen_rating": "chosen_score",
    "rejected_rating": "rejected_score",
}
_MODEL_LISTS = ("generation_models", "model_names")


@dataclass(frozen=True)
class Storage:
    """Where a distilabel subset's rows are: files of one storage format."""

    format: str  # "parquet", "jsonl", "jsonl.gz" or "hf"
    paths: tuple[Path, ...]
    config: str  # the subset name, the stem of ids


def is_distiset(path: Path) -> bool:
    """A folder `Distiset.save_to_disk` wrote."""
    return path.is_dir() and (path / CONFIG_FOLDER).is_dir()


def locate(path: Path, config: str | None = None) -> Storage:
    """The storage of the subset `config` (default: ``default``, or the only one) at `path`."""
    if path.is_file():
        return Storage(_file_format(path), (path,), config or _stem(path))
    if _is_saved_dataset(path):
        return Storage("hf", (_split_dir(path),), config or path.name)
    configs = _configs(path)
    if not configs:
        raise UsageError(
            f"{path} holds no distilabel dataset: expected a Distiset folder (subsets beside "
            f"{CONFIG_FOLDER}/), Parquet shards under <subset>/, or a saved dataset"
        )
    name = _pick_config(path, configs, config)
    folder = configs[name]
    if _is_saved_dataset(folder):
        return Storage("hf", (_split_dir(folder),), name)
    return Storage("parquet", _shards(folder), name)


def _file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in ((".parquet", "parquet"), (".jsonl.gz", "jsonl.gz"), (".jsonl", "jsonl")):
        if name.endswith(suffix):
            return fmt
    raise UsageError(f"{path}: a distilabel file is .parquet, .jsonl or .jsonl.gz")


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or any(
        (folder / m).is_file() for m in _HF_MARKERS
    )


def _split_dir(folder: Path) -> Path:
    """A DatasetDict folder's ``train`` split (or its only one); a Dataset folder itself."""
    listing = folder / "dataset_dict.json"
    if not listing.is_file():
        return folder
    splits = json.loads(listing.read_text(encoding="utf-8")).get("splits", [])
    if _SPLIT in splits or len(splits) != 1:
        return folder / _SPLIT
    return folder / splits[0]


def _configs(path: Path) -> dict[str, Path]:
    """Subset name -> folder: saved datasets, or folders of Parquet shards."""
    out = {}
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if child.name in (CONFIG_FOLDER, ARTIFACTS_FOLDER) or child.name.startswith("."):
            continue
        if _is_saved_dataset(child) or _parquet_files(child):
            out["default" if child.name == "data" else child.name] = child
    return out


def _pick_config(path: Path, configs: dict[str, Path], config: str | None) -> str:
    if config is not None:
        if config not in configs:
            raise UsageError(
                f"{path} has no distilabel subset {config!r}; subsets: {', '.join(configs)}"
            )
        return config
    if "default" in configs or len(configs) == 1:
        return "default" if "default" in configs else next(iter(configs))
    raise UsageError(
        f"{path} holds several distilabel subsets ({', '.join(configs)}); pick one with "
        f"config (e.g. config: {next(iter(configs))})"
    )


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{_SPLIT}*.parquet")) + sorted(
        (folder / _SPLIT).glob("*.parquet") if (folder / _SPLIT).is_dir() else []
    )


def _shards(folder: Path) -> tuple[Path, ...]:
    return tuple(_parquet_files(folder))


# -- columns ----------------------------------------------------------------------------
def to_record(row: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """A distilabel row in synthpipe's conventions (see the module doc); `lineage` is where
    the row came from (source, line, subset)."""
    out = dict(row)
    facts = {**lineage, "format": "distilabel"}
    _model(out, facts)
    if METADATA in out:
        facts[METADATA] = out.pop(METADATA)
    _candidates(out, facts)
    for old, new in _RENAMES.items():
        if old in out and new not in out and not isinstance(out[old], list):
            out[new] = out.pop(old)
    if out.get("text") is None and (prompt := _prompt_text(out)) is not None:
        out["text"] = prompt
    out["_lineage"] = facts
    return out


def _model(row: dict, facts: dict) -> None:
    model = row.pop("model_name", None)
    if isinstance(model, list):
        facts["models"] = model
    elif model is not None:
        facts["model"] = model


def _candidates(row: dict, facts: dict) -> None:
    """Several replies to one prompt, with their ratings when a judge scored them."""
    name = "generations" if isinstance(row.get("generations"), list) else "generation"
    texts = row.get(name)
    if not isinstance(texts, list) or "candidates" in row:
        return
    n = len(texts)
    extras = {
        key: row[key]
        for key in ("ratings", "rationales", *_MODEL_LISTS)
        if isinstance(row.get(key), list) and len(row[key]) == n
    }
    models = next((extras[k] for k in _MODEL_LISTS if k in extras), None) or facts.get("models")
    if not (isinstance(models, list) and len(models) == n):
        models = [facts.get("model")] * n  # one model wrote them all (or none is known)
    ratings, rationales = (
        extras.get("ratings") or [None] * n,
        extras.get("rationales") or [None] * n,
    )
    row["candidates"] = [
        {"text": text, "model": model, "score": score, "rationale": rationale}
        for text, model, score, rationale in zip(texts, models, ratings, rationales, strict=True)
    ]
    for key in (name, *extras):
        row.pop(key)


def _prompt_text(row: dict) -> str | None:
    for key in ("instruction", "prompt"):
        if isinstance(row.get(key), str):
            return row[key]
    messages = row.get("messages")
    if isinstance(messages, list):
        users = [
            m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"
        ]
        if users and isinstance(users[-1], str):
            return users[-1]
    return None

"""Resolve data paths in recipes, including ``bundled:`` files shipped with synthpipe."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from synthpipe.errors import UsageError

BUNDLED_PREFIX = "bundled:"


def cache_root() -> Path:
    """Where synthpipe keeps its caches: ``$SYNTHPIPE_CACHE_DIR``, else ``~/.cache/synthpipe``."""
    root = os.environ.get("SYNTHPIPE_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "synthpipe"


def bundled_root() -> Path:
    """Directory holding the data files shipped in the package (resources/data)."""
    return Path(str(importlib.resources.files("synthpipe") / "resources" / "data"))


def bundled_files() -> list[str]:
    """Relative names of all bundled data files, e.g. "trec/seeds.jsonl"."""
    root = bundled_root()
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def resolve_data_path(path: str, base_dir: Path | None = None) -> Path:
    """Turn a recipe path into a real path.

    ``bundled:trec/seeds.jsonl`` names a file shipped with synthpipe; ``~`` is expanded; a
    relative path is joined to `base_dir` if given, else left relative to the working dir.
    """
    if path.startswith(BUNDLED_PREFIX):
        return _bundled(path[len(BUNDLED_PREFIX) :])
    resolved = Path(path).expanduser()
    if base_dir is not None and not resolved.is_absolute():
        resolved = Path(base_dir) / resolved
    return resolved


def _bundled(relative: str) -> Path:
    root = bundled_root()
    candidate = root / relative.lstrip("/")
    inside = candidate.resolve().is_relative_to(root.resolve())
    if inside and relative.strip("/") and candidate.exists():
        return candidate
    available = bundled_files()
    listing = ", ".join(f"bundled:{name}" for name in available) if available else "nothing"
    raise UsageError(f"no bundled data file {relative!r}; bundled files are: {listing}")


def recipes_dir() -> Path | None:
    """The bundled recipes (`recipes/` in the source tree, `synthpipe/recipes` in wheels)."""
    packaged = Path(str(importlib.resources.files("synthpipe"))) / "recipes"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[3] / "recipes"  # editable install
    return source_tree if source_tree.is_dir() else None

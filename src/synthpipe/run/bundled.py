"""Recipes shipped with synthpipe (`recipes/` in the source tree, `synthpipe/recipes` in wheels)."""

from __future__ import annotations

from pathlib import Path

from synthpipe.data.paths import recipes_dir


def bundled_recipes() -> dict[str, Path]:
    """Recipe files by name; other YAML files beside them (e.g. constitutions) are skipped."""
    root = recipes_dir()
    if root is None:
        return {}
    return {p.stem: p for p in sorted(root.glob("*.yaml")) if _is_recipe(p)}


def _is_recipe(path: Path) -> bool:
    return any(line.startswith("steps:") for line in path.read_text(encoding="utf-8").splitlines())


def find_recipe(name_or_path: str) -> Path:
    """A path as given if it exists, else a bundled recipe by name ('quickstart')."""
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = bundled_recipes()
    stem = path.stem if path.suffix in (".yaml", ".yml") else name_or_path
    return bundled.get(stem, path)

"""A directory of finished fits, so the same fit is trained once and loaded after that.

A fit is named by a digest of what decides it: the trainer, its training rows, the settings
that change training (the caller's `key`: config, model files) and the seed. Scoring one fit on
two test sets, or rerunning an experiment after changing only its evaluator, then costs a load,
not a training run. A fit is written to a temporary directory and renamed into place, so a
crash never leaves a half-written fit that a later run would load.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

META = "fit.json"


def _versions() -> dict[str, str]:
    """Library versions: a new TRL or transformers may train differently."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "trl", "peft"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def fit_digest(trainer: str, rows: list[dict], key: dict[str, Any], seed: int) -> str:
    payload = {"trainer": trainer, "rows": rows, "key": key, "seed": seed, "versions": _versions()}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class FitStore:
    """Where one fit lives: `root/<trainer>-<digest>/`, complete once it holds ``fit.json``."""

    path: Path

    @classmethod
    def open(
        cls, root: str | None, trainer: str, rows: list[dict], key: dict[str, Any], seed: int
    ) -> FitStore | None:
        """The store of this fit under `root`, or None when reuse is off (no `root`)."""
        if not root:
            return None
        digest = fit_digest(trainer, rows, key, seed)
        return cls(Path(root).expanduser() / f"{trainer}-{digest}")

    def load(self) -> dict[str, Any] | None:
        """The stored fit's metadata, or None when this fit was never stored."""
        meta = self.path / META
        return json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None

    def save(self, write: Callable[[Path], Any], meta: dict[str, Any]) -> None:
        """`write(dir)` saves the model files; `meta` is stored beside them."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.path.parent))
        try:
            write(tmp)
            (tmp / META).write_text(json.dumps(meta, default=str), encoding="utf-8")
            if not self.path.exists():  # another process may have stored the same fit
                tmp.rename(self.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["FitStore", "fit_digest"]

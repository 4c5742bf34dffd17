"""docs/reliability.md names, for every promise, the test that keeps it: those tests exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def test_every_test_named_in_the_reliability_promises_exists():
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    references = REFERENCE.findall(text)
    assert len(references) >= 20
    missing = []
    for path, name in references:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
            continue
        if name:
            defined = {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
            if name not in defined:
                missing.append(f"{path}::{name}")
    assert missing == []

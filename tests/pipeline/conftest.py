import json
import sys
from pathlib import Path

import pytest

# toy_steps is imported by name ("toy_steps:CountingSource") from recipes in these tests.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def text_recipe(tmp_path: Path):
    """Writes a two-step recipe (read `n` short texts, text_filter: keeps every record)."""

    def make(n: int) -> Path:
        data = tmp_path / "in.jsonl"
        data.write_text("".join(json.dumps({"text": f"record number {i} has a few words"}) + "\n" for i in range(n)))
        path = tmp_path / "r.yaml"
        path.write_text(f"name: small\nsteps:\n  read: {{step: read, path: '{data}'}}\n  filter: {{step: text_filter}}\n")
        return path

    return make

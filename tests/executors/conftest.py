"""A local Ray with 2 CPUs for a test module, its workers able to import tests/pipeline/toy_steps."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

TOY = Path(__file__).resolve().parents[1] / "pipeline"


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TOY), saved) if p)  # workers import toy_steps
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved

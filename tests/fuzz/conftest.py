"""Hypothesis profiles for the fuzz suite: short and reproducible by default, long behind `slow`.

Every fuzz test takes the `fuzz` fixture and runs twice over: `[default]` is part of every
test run (few examples, derandomized, so CI draws the same inputs each time) and `[long]` is
marked `slow`, so it is deselected unless asked for (``pytest -m slow tests/fuzz``); it draws
fresh random inputs, many more of them. ``SYNTHPIPE_FUZZ_SCALE=N`` multiplies the examples
of the long profile (``--hypothesis-seed=N`` replays one of its runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "fuzz-default", deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "fuzz-long", deadline=None, derandomize=False, database=None, suppress_health_check=_QUIET
)
LONG_SCALE = 20  # the long profile draws this many times the default examples
LONG = pytest.param("long", marks=[pytest.mark.slow, pytest.mark.timeout(3600)])


@pytest.fixture(params=["default", LONG])
def fuzz(request: pytest.FixtureRequest) -> Callable[..., settings]:
    """``@fuzz(examples)``: Hypothesis settings for one property under the selected profile.

    ``shrink=False`` reports the first failing input as drawn: shrinking a property that
    starts a process per example would take minutes.
    """
    profile = settings.get_profile(f"fuzz-{request.param}")
    scale = 1
    if request.param == "long":
        scale = LONG_SCALE * int(os.environ.get("SYNTHPIPE_FUZZ_SCALE", "1"))

    def with_examples(examples: int, *, shrink: bool = True) -> settings:
        phases = profile.phases if shrink else [p for p in profile.phases if p != Phase.shrink]
        return settings(profile, max_examples=examples * scale, phases=phases)

    return with_examples

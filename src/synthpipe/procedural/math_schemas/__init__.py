"""Story frames for procedural math word problems; importing this package registers them all.

Each module holds related frames (counting, money, measures, people); `SCHEMAS` maps a
schema id to its builder. See :mod:`synthpipe.procedural.math_word_problems`.
"""

from synthpipe.procedural.math_schemas import counting, measures, money, people  # noqa: F401
from synthpipe.procedural.math_schemas.registry import SCHEMAS, Schema
from synthpipe.procedural.math_schemas.story import OPERATIONS, Infeasible, Story

__all__ = ["OPERATIONS", "SCHEMAS", "Infeasible", "Schema", "Story"]

"""Errors users see. Each says what went wrong, where, and what to do next."""


class SynthpipeError(Exception):
    """Base class: the CLI prints these without a traceback."""

    exit_code = 1


class UsageError(SynthpipeError):
    """The user asked for something invalid (bad recipe, bad option). Exit code 2."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe failed validation. `problems` lists one message per error, each with its location."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid recipe {source}:\n{lines}")


class DataError(SynthpipeError):
    """Input data is malformed (raised in --strict mode; otherwise records are quarantined)."""


class StepError(SynthpipeError):
    """A step failed while processing data."""


def build_model(cls, what: str, config=None, overrides: dict | None = None):
    """`cls` (a pydantic model) from `config` (an instance, a dict or None) updated by
    `overrides`; a bad key or value becomes a UsageError naming `what` and each field."""
    from pydantic import BaseModel, ValidationError

    data = config.model_dump() if isinstance(config, BaseModel) else dict(config or {})
    try:
        return cls(**{**data, **(overrides or {})})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<config>'}: {err['msg']}" for err in exc.errors()
        )
        raise UsageError(f"invalid {what}: {problems}") from None

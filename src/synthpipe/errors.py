"""Errors users see. Each says what went wrong, where, and what to do next."""

import errno
import os


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


class EmptyResultError(SynthpipeError):
    """A run kept 0 of its N > 0 records (the CLI refuses that unless --allow-empty). Exit code 4;
    the run's outputs are written, so the ledger and quarantine say why."""

    exit_code = 4


class DiskFullError(SynthpipeError, OSError):
    """Writing a file failed for lack of space (ENOSPC) or quota (EDQUOT). Exit code 1. Still an
    OSError, so best-effort writers that skip a failed write (caches) keep doing so."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(exc: BaseException, path: str | os.PathLike[str] | None = None) -> DiskFullError | None:
    """`exc` as a DiskFullError naming the file (the one the OS named, else `path`), or None
    when `exc` is not a disk-full error. A write that fails mid-file names no file itself."""
    if isinstance(exc, DiskFullError):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in DISK_FULL_ERRNOS:
        return None
    where = exc.filename or path
    cause = os.strerror(exc.errno).lower()
    message = f"{cause} while writing {where}" if where else cause
    return DiskFullError(exc.errno, f"{message}: free some space and rerun the same command to resume")


def validation_message(exc) -> str:
    """A pydantic ValidationError as one line, `key: message; ...`, without the dump of the
    input or the documentation link pydantic adds."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


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

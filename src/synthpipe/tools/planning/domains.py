"""The bundled planning domains by name."""

from __future__ import annotations

from synthpipe.tools.planning.blocksworld import Blocksworld
from synthpipe.tools.planning.domain import Domain, ProblemError
from synthpipe.tools.planning.logistics import Logistics

DOMAINS: dict[str, Domain] = {d.name: d for d in (Blocksworld(), Logistics())}


def get_domain(name: str) -> Domain:
    """The domain called `name`; ProblemError names the known ones."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise ProblemError(
            f"unknown planning domain {name!r}; domains: {', '.join(DOMAINS)}"
        ) from None

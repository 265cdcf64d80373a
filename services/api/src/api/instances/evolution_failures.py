"""How a failed Evolution call becomes the api's answer (4xx when the request or the
instance is the problem, 502/504 when Evolution is)."""

from __future__ import annotations

from api.domain_errors import DomainError, ErrorKind
from evolution_client import (
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRejectedError,
    EvolutionReplyError,
    EvolutionUnauthorizedError,
)


def domain_error_for(error: EvolutionError, action: str) -> DomainError:
    """The DomainError for a failed Evolution call made to `action` (`create the instance`)."""
    detail = f"Evolution API could not {action}: {error.message}"[:500]
    if isinstance(error, EvolutionForbiddenError):
        return DomainError(ErrorKind.CONFLICT, "evolution_forbidden", detail)
    if isinstance(error, EvolutionNotFoundError):
        return DomainError(ErrorKind.CONFLICT, "evolution_instance_missing", detail)
    if isinstance(error, EvolutionUnauthorizedError):
        # Mirage's own credentials are wrong: an operator must fix the configuration.
        return DomainError(ErrorKind.UPSTREAM, "evolution_unauthorized", detail)
    if isinstance(error, EvolutionReplyError):
        return DomainError(ErrorKind.CONFLICT, "evolution_refused", detail)
    if isinstance(error, EvolutionRejectedError):
        return DomainError(ErrorKind.INVALID, "evolution_rejected", detail)
    if isinstance(error, EvolutionOutcomeUnknownError):
        return DomainError(ErrorKind.UPSTREAM_TIMEOUT, "evolution_timeout", detail)
    return DomainError(ErrorKind.UPSTREAM, "evolution_unavailable", detail)

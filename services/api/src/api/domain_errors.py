"""Errors the api's business logic raises, free of any web framework.

Each carries a machine-readable `code`, a human `message` and a `kind`; the HTTP
layer (`api.errors`) maps the kind to a status code and the one error body.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """What went wrong, in the terms the HTTP layer maps to a status."""

    INVALID = "invalid"  # the request makes no sense (422)
    NOT_FOUND = "not_found"  # no such resource for this tenant (404)
    CONFLICT = "conflict"  # the resource's state does not allow it (409)
    UPSTREAM = "upstream"  # Evolution API failed or is unreachable (502)
    UPSTREAM_TIMEOUT = "upstream_timeout"  # Evolution may have acted but did not answer (504)


class DomainError(Exception):
    """A request the api refuses, with a stable `code` clients can switch on."""

    def __init__(
        self, kind: ErrorKind, code: str, message: str, *, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        # Per-item problems (the rows a campaign template does not render for, …).
        self.details = details


def not_found(resource: str) -> DomainError:
    """The tenant has no `resource` with that id (another tenant's id included)."""
    return DomainError(
        ErrorKind.NOT_FOUND, f"{resource}_not_found", f"{resource.replace('_', ' ')} not found"
    )

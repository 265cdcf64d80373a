"""The one error body of the api, `{"error": {"code", "message"}}`, and its handlers."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.domain_errors import DomainError, ErrorKind

log = structlog.get_logger(__name__)

_STATUS_OF_KIND = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.UPSTREAM_TIMEOUT: 504,
}

_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="Stable, machine-readable error code.", examples=["instance_not_found"])
    message: str = Field(description="Human-readable explanation.")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field problems of a validation error."
    )


class ErrorResponse(BaseModel):
    """Every error the api answers has this body."""

    error: ErrorDetail


class ApiError(Exception):
    """An HTTP error raised by the web layer (authentication, rate limiting)."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A response with the one error body."""
    body = ErrorResponse(error=ErrorDetail(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# OpenAPI `responses` of every authenticated route; routes add their own on top.
AUTHENTICATED_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _described("A body that cannot be parsed (not JSON)."),
    401: _described("Missing, unknown or revoked API key."),
    422: _described("The request does not validate."),
    429: {
        "model": ErrorResponse,
        "description": "Over the rate limit of this tenant and endpoint; see `Retry-After`.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until a request may succeed.",
                "schema": {"type": "integer"},
            },
        },
    },
}
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: _described("No such resource for this tenant.")}
CONFLICT: Responses = {409: _described("The resource's state does not allow this.")}
UPSTREAM: Responses = {
    502: _described("Evolution API failed or is unreachable."),
    504: _described("Evolution API did not answer in time; it may have acted."),
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the one error body (never FastAPI's default shapes)."""

    async def domain(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, DomainError)
        return error_response(_STATUS_OF_KIND[error.kind], error.code, error.message, details=error.details)

    async def api(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(error.status, error.code, error.message, headers=error.headers)

    async def http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        code = _CODE_OF_STATUS.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return error_response(error.status_code, code, message, headers=getattr(error, "headers", None))

    async def validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        details = [
            {
                "location": [str(part) for part in item.get("loc", ())],
                "message": str(item.get("msg", "")),
                "type": str(item.get("type", "")),
            }
            for item in error.errors()[:20]
        ]
        first = details[0] if details else None
        message = (
            f"{'.'.join(first['location'])}: {first['message']}" if first else "the request does not validate"
        )
        return error_response(422, "validation_error", message, details=_json_safe(details))

    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error", error=f"{type(error).__name__}: {error}"[:300], exc_info=error)
        return error_response(500, "internal_error", "internal error")

    app.add_exception_handler(DomainError, domain)
    app.add_exception_handler(ApiError, api)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(Exception, unexpected)

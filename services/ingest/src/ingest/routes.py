"""HTTP routes of ingest: `POST /webhook/evolution` and its by-events form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ingest.intake import Reply, WebhookIntake
from messaging import is_infrastructure_error

log = structlog.get_logger(__name__)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Accepted, a duplicate delivery, or an event Mirage keeps only as a raw record."},
    400: {"description": "The body is not JSON (recorded)."},
    401: {"description": "Missing or wrong credentials for the instance (recorded)."},
    404: {"description": "No instance with the envelope's name (recorded)."},
    413: {"description": "The body is over the size limit (recorded)."},
    422: {"description": "JSON of the wrong shape, or an event that does not match the path (recorded)."},
    503: {"description": "A dependency is down; Evolution retries 5xx."},
}


def webhook_router(intake_of: Callable[[], WebhookIntake], max_body_bytes: int) -> APIRouter:
    """The webhook routes; `intake_of` returns the intake built at start-up."""
    router = APIRouter(tags=["webhooks"])

    async def handle(request: Request, path_event: str | None) -> Response:
        intake = intake_of()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _json(await intake.too_large(request.url.path, int(declared)))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return _json(await intake.too_large(request.url.path, size))
            chunks.append(chunk)
        try:
            reply = await intake.receive(
                path=request.url.path,
                path_event=path_event,
                headers=request.headers,
                body=b"".join(chunks),
            )
        except Exception as error:
            if not is_infrastructure_error(error):
                raise
            log.warning("webhook not stored: a dependency is down", error=f"{type(error).__name__}: {error}")
            return _json(Reply(503, {"error": "unavailable", "detail": "try again later"}))
        return _json(reply)

    @router.post(
        "/webhook/evolution",
        summary="Receive an Evolution API webhook",
        responses=_RESPONSES,
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}},
    )
    async def evolution_webhook(request: Request) -> Response:
        """Evolution's envelope `{event, instance, data, …}`, authenticated per instance."""
        return await handle(request, None)

    @router.post(
        "/webhook/evolution/{event_kebab}",
        summary="Receive an Evolution API webhook sent with 'webhook by events'",
        responses=_RESPONSES,
        openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}},
    )
    async def evolution_webhook_by_event(event_kebab: str, request: Request) -> Response:
        """Same as `/webhook/evolution`, with the event name as a kebab-case suffix."""
        return await handle(request, event_kebab)

    return router


def _json(reply: Reply) -> Response:
    return Response(orjson.dumps(reply.body), status_code=reply.status, media_type="application/json")

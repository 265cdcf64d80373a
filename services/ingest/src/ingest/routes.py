"""HTTP routes of ingest: `POST /webhook/evolution` and its by-events form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


WEBHOOK_PATH = "/webhook/evolution"
WEBHOOK_BY_EVENT_PATH = "/webhook/evolution/{event_kebab}"


def webhook_routes(intake_of: Callable[[], WebhookIntake], max_body_bytes: int) -> list[Route]:
    """The webhook routes; `intake_of` returns the intake built at start-up.

    Plain Starlette routes: the hot path skips FastAPI's dependency resolution and
    response handling, which cost more than the webhook's own work at high rates.
    Their OpenAPI description is `openapi_paths()`.
    """

    async def handle(request: Request) -> Response:
        intake = intake_of()
        path_event = request.path_params.get("event_kebab")
        path = _path_of(request)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _json(await intake.too_large(path, int(declared)))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return _json(await intake.too_large(path, size))
            chunks.append(chunk)
        try:
            reply = await intake.receive(
                path=path,
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

    return [
        Route(WEBHOOK_PATH, handle, methods=["POST"], name="evolution_webhook"),
        Route(WEBHOOK_BY_EVENT_PATH, handle, methods=["POST"], name="evolution_webhook_by_event"),
    ]


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI description of the webhook routes."""
    responses = {
        str(status): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookReply"}}},
        }
        for status, text in _RESPONSES.items()
    }
    body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookEnvelope"}}},
    }
    operation = {
        "tags": ["webhooks"],
        "requestBody": body,
        "responses": responses,
        "security": [{"EvolutionJWT": []}, {"WebhookSecretHeader": []}, {"HubSignature": []}],
    }
    return {
        WEBHOOK_PATH: {
            "post": {
                **operation,
                "summary": "Receive an Evolution API webhook",
                "description": (
                    "Evolution's envelope `{event, instance, data, …}`, authenticated per instance."
                ),
                "operationId": "evolution_webhook",
            }
        },
        WEBHOOK_BY_EVENT_PATH: {
            "post": {
                **operation,
                "summary": "Receive an Evolution API webhook sent with 'webhook by events'",
                "description": "Same as `/webhook/evolution`, with the event name as a kebab-case suffix.",
                "operationId": "evolution_webhook_by_event",
                "parameters": [
                    {"name": "event_kebab", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            }
        },
    }


OPENAPI_COMPONENTS: dict[str, Any] = {
    "schemas": {
        "WebhookEnvelope": {
            "type": "object",
            "required": ["event", "instance"],
            "properties": {
                "event": {"type": "string", "example": "messages.upsert"},
                "instance": {"type": "string", "example": "loja-centro"},
                "data": {},
                "destination": {"type": "string"},
                "date_time": {"type": "string"},
                "sender": {"type": "string"},
                "server_url": {"type": "string"},
                "apikey": {"type": ["string", "null"]},
            },
        },
        "WebhookReply": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["accepted", "duplicate", "ignored", "no_change"]},
                "message_id": {"type": ["string", "null"]},
                "raw_event_id": {"type": "integer"},
                "error": {"type": "string"},
                "detail": {"type": "string"},
            },
        },
    },
    "securitySchemes": {
        "EvolutionJWT": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT (HS256, Evolution jwt_key)",
        },
        "WebhookSecretHeader": {"type": "apiKey", "in": "header", "name": "X-Mirage-Webhook-Secret"},
        "HubSignature": {"type": "apiKey", "in": "header", "name": "X-Hub-Signature-256"},
    },
}


def _path_of(request: Request) -> str:
    """The request's path as `request.url.path` spells it, without building the whole URL
    (host, scheme, query) on every webhook."""
    path: str = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        return request.url.path
    return path


def _json(reply: Reply) -> Response:
    return Response(orjson.dumps(reply.body), status_code=reply.status, media_type="application/json")

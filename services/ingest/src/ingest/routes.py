"""HTTP routes of ingest: `POST /webhook/evolution` and its by-events form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

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
_BY_EVENT_PREFIX = WEBHOOK_PATH + "/"
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class EvolutionWebhookEndpoint:
    """The ASGI endpoint of `POST /webhook/evolution[/{event_kebab}]`, read straight from the scope.

    The hot path: three webhooks per answered message. Starlette's `Request`, `Response` and
    the exception layers around a function endpoint cost more CPU than the webhook's own work
    at high rates. Its OpenAPI description is `openapi_paths()`.
    """

    def __init__(self, intake_of: Callable[[], WebhookIntake], max_body_bytes: int) -> None:
        self.intake_of = intake_of
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = await self._reply(scope, receive)
        if reply is not None:
            body = orjson.dumps(reply.body)
            headers = [_JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def _reply(self, scope: Scope, receive: Receive) -> Reply | None:
        """The webhook's reply; None when the caller went away before its body arrived."""
        intake = self.intake_of()
        path = _path_of(scope)
        path_event = _event_of(scope["path"])
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return await intake.too_large(path, int(declared))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return await intake.too_large(path, size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            return await intake.receive(
                path=path,
                path_event=path_event,
                headers=headers,
                body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
            )
        except Exception as error:
            if not is_infrastructure_error(error):
                raise
            log.warning("webhook not stored: a dependency is down", error=f"{type(error).__name__}: {error}")
            return Reply(503, {"error": "unavailable", "detail": "try again later"})


def webhook_routes(endpoint: EvolutionWebhookEndpoint) -> list[Route]:
    """The webhook routes: they match (and name) every webhook call, and answer 405 to any
    method but POST; `WebhookShortcut` takes the POSTs to `endpoint` before the routing."""
    return [
        Route(WEBHOOK_PATH, endpoint, methods=["POST"], name="evolution_webhook"),
        Route(WEBHOOK_BY_EVENT_PATH, endpoint, methods=["POST"], name="evolution_webhook_by_event"),
    ]


class WebhookShortcut:
    """Pure ASGI middleware: a POST to a webhook path goes straight to its endpoint.

    What it skips is what costs at high rates: Starlette's exception and exit-stack layers and
    the walk through the routes. Everything else (another method, another path) goes on to the
    app and its routes, which match the same paths. It sits inside FastAPI's
    `ServerErrorMiddleware` (an unexpected error still answers 500 and is logged) and inside
    tracing's middleware, which names the span from the same routes.
    """

    def __init__(self, app: ASGIApp, *, endpoint: EvolutionWebhookEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _is_webhook_path(scope["path"]):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_webhook_path(path: str) -> bool:
    """Whether one of the webhook routes matches `path`."""
    return path == WEBHOOK_PATH or _event_of(path) is not None


def _event_of(path: str) -> str | None:
    """The `{event_kebab}` of a by-event webhook path (one non-empty segment); None otherwise."""
    if not path.startswith(_BY_EVENT_PREFIX):
        return None
    suffix = path[len(_BY_EVENT_PREFIX) :]
    return suffix if suffix and "/" not in suffix else None


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
                "status": {
                    "type": "string",
                    "enum": ["accepted", "duplicate", "ignored", "no_change", "stale"],
                },
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


def _path_of(scope: Scope) -> str:
    """The request's path as Starlette's `request.url.path` spells it, without building the
    whole URL (host, scheme, query) on every webhook."""
    path: str = scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        return Request(scope).url.path
    return path

"""HTTP routes of ingest: `POST /webhook/evolution` and its by-events form."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
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


class EvolutionWebhooks:
    """Pure ASGI middleware that serves the webhook paths ahead of the framework's routing.

    The hot path: three webhooks per answered message. Starlette's exception, exit-stack and
    routing layers, its `Request` and its `Response` cost more CPU than the webhook's own work
    at high rates, so `POST /webhook/evolution[/{event_kebab}]` is answered here from the ASGI
    scope; every other path goes on to the app. It sits inside FastAPI's `ServerErrorMiddleware`
    (an unexpected error still answers 500 and is logged) and inside tracing's middleware.
    Its OpenAPI description is `openapi_paths()`.
    """

    def __init__(self, app: ASGIApp, *, intake_of: Callable[[], WebhookIntake], max_body_bytes: int) -> None:
        self.app = app
        self.intake_of = intake_of
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == WEBHOOK_PATH:
            path_event = None
        elif (
            path.startswith(_BY_EVENT_PREFIX)
            and "/" not in (suffix := path[len(_BY_EVENT_PREFIX) :])
            and suffix
        ):
            path_event = suffix
        else:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _send_json(
                send,
                Reply(405, {"error": "method_not_allowed", "detail": "webhooks are POSTed"}),
                extra_headers=[(b"allow", b"POST")],
            )
            return
        reply = await self._handle(scope, receive, _path_of(scope), path_event)
        if reply is not None:
            await _send_json(send, reply)

    async def _handle(
        self, scope: Scope, receive: Receive, path: str, path_event: str | None
    ) -> Reply | None:
        """The webhook's reply; None when the caller went away before its body arrived."""
        intake = self.intake_of()
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


def _path_of(scope: Scope) -> str:
    """The request's path as Starlette's `request.url.path` spells it, without building the
    whole URL (host, scheme, query) on every webhook."""
    path: str = scope["path"]
    if "?" in path or "#" in path or "\\" in path:
        return Request(scope).url.path
    return path


async def _send_json(send: Send, reply: Reply, *, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps(reply.body)
    headers = [_JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

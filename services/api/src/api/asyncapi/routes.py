"""`GET /asyncapi.json` and `GET /asyncapi`: the event interface, public like `/openapi.json`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.asyncapi.document import asyncapi_document
from api.asyncapi.page import render_page

router = APIRouter(tags=["events"])


def _document(request: Request) -> dict[str, Any]:
    return asyncapi_document(request.app.state.context.settings.kafka)


@router.get("/asyncapi.json", summary="The AsyncAPI document of every Kafka topic")
async def asyncapi_json(request: Request) -> dict[str, Any]:
    """AsyncAPI 3.0: every topic, who publishes and consumes it, its key, headers and payload schema."""
    return _document(request)


@router.get("/asyncapi", response_class=HTMLResponse, summary="The AsyncAPI document as a web page")
async def asyncapi_page(request: Request) -> HTMLResponse:
    """The same document rendered as one self-contained page (nothing loaded from elsewhere)."""
    return HTMLResponse(render_page(_document(request)))

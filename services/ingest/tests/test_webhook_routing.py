"""The webhook paths: routed like any route, and POSTs taken to their endpoint by a shortcut."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match

from ingest.routes import EvolutionWebhookEndpoint, WebhookShortcut, webhook_routes

from .test_webhook_integration import Ingest, ingest

__all__ = ["ingest"]  # the fixture, imported to be used here


class _NoIntake:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the intake must not be used ({name})")


@pytest.mark.parametrize(
    "path",
    [
        "/webhook/evolution",
        "/webhook/evolution/messages-upsert",
        "/webhook/evolution/CONNECTION_UPDATE",
        "/webhook/evolution/",
        "/webhook/evolution/messages-upsert/extra",
        "/webhook/evolution//x",
        "/webhook/evolutionx",
        "/webhook",
        "/livez",
    ],
)
async def test_the_shortcut_takes_exactly_the_posts_the_routes_would_match(path: str) -> None:
    endpoint = EvolutionWebhookEndpoint(_NoIntake, max_body_bytes=1024)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}
    routed = any(route.matches(scope)[0] is Match.FULL for route in webhook_routes(endpoint))
    taken: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        taken.append("app")

    async def to_endpoint(scope: Any, receive: Any, send: Any) -> None:
        taken.append("endpoint")

    shortcut = WebhookShortcut(app, endpoint=endpoint)
    shortcut.endpoint = to_endpoint  # type: ignore[assignment]
    await shortcut(scope, None, None)  # type: ignore[arg-type]
    assert taken == ["endpoint" if routed else "app"]


@pytest.mark.parametrize("path", ["/webhook/evolution", "/webhook/evolution/messages-upsert"])
async def test_a_webhook_path_answers_405_to_anything_but_post(ingest: Ingest, path: str) -> None:
    count = "SELECT count(*) FROM raw_events WHERE instance_id = $1"
    before = await ingest.pool.fetchval(count, ingest.instance_id)
    for method in ("GET", "PUT", "DELETE"):
        response = await ingest.client.request(method, path)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "POST"
    assert await ingest.pool.fetchval(count, ingest.instance_id) == before


@pytest.mark.parametrize("path", ["/webhook/evolution/messages-upsert/extra", "/webhookx"])
async def test_paths_that_are_not_webhooks_go_on_to_the_app(ingest: Ingest, path: str) -> None:
    response = await ingest.client.post(path, content=b"{}")
    assert response.status_code == 404, response.text
    assert (await ingest.client.get("/livez")).status_code == 200


async def test_a_caller_gone_before_its_body_ended_gets_no_answer_and_nothing_is_stored() -> None:
    messages = iter(
        [
            {"type": "http.request", "body": b'{"event": "messages.upsert"', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    endpoint = EvolutionWebhookEndpoint(_NoIntake, max_body_bytes=1024)  # type: ignore[arg-type]
    await endpoint(
        {"type": "http", "method": "POST", "path": "/webhook/evolution", "headers": []}, receive, send
    )
    assert sent == []

"""The webhook paths are served ahead of the framework's routing: what they answer at the edges."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.routes import EvolutionWebhooks

from .test_webhook_integration import Ingest, ingest

__all__ = ["ingest"]  # the fixture, imported to be used here


@pytest.mark.parametrize("path", ["/webhook/evolution", "/webhook/evolution/messages-upsert"])
async def test_a_webhook_path_answers_405_to_anything_but_post(ingest: Ingest, path: str) -> None:
    before = await ingest.pool.fetchval(
        "SELECT count(*) FROM raw_events WHERE instance_id = $1", ingest.instance_id
    )
    for method in ("GET", "PUT", "DELETE"):
        response = await ingest.client.request(method, path)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "POST"
        assert response.json()["error"] == "method_not_allowed"
    after = await ingest.pool.fetchval(
        "SELECT count(*) FROM raw_events WHERE instance_id = $1", ingest.instance_id
    )
    assert after == before


@pytest.mark.parametrize(
    "path", ["/webhook/evolution/messages-upsert/extra", "/webhook/evolution/", "/webhookx"]
)
async def test_paths_that_are_not_webhooks_go_on_to_the_app(ingest: Ingest, path: str) -> None:
    response = await ingest.client.post(path, content=b"{}")
    assert response.status_code == 404, response.text
    assert (await ingest.client.get("/livez")).status_code == 200


class _NoIntake:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the intake must not be used ({name})")


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

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a webhook path must not reach the app")

    endpoint = EvolutionWebhooks(app, intake_of=_NoIntake, max_body_bytes=1024)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": "/webhook/evolution", "headers": []}
    await endpoint(scope, receive, send)
    assert sent == []

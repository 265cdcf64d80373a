"""The Evolution client against mocked HTTP: every endpoint, every error mapping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from evolution_client import (
    ConnectionState,
    EvolutionClient,
    EvolutionError,
    EvolutionForbiddenError,
    EvolutionNotFoundError,
    EvolutionOutcomeUnknownError,
    EvolutionRateLimitedError,
    EvolutionRejectedError,
    EvolutionReplyError,
    EvolutionServerError,
    EvolutionSettings,
    EvolutionUnauthorizedError,
    EvolutionUnavailableError,
    EvolutionUnreachableError,
    InstanceOptions,
    NumberNotOnWhatsAppError,
    QrCode,
    WebhookConfig,
)

BASE = "http://evolution.test"
GLOBAL_KEY = "global-secret-key"
SETTINGS = EvolutionSettings(base_url=BASE, api_key=SecretStr(GLOBAL_KEY), read_timeout_s=7.0)

SENT = {
    "key": {"remoteJid": "5511999990001@s.whatsapp.net", "fromMe": True, "id": "3EB0AAAAAAAAAAAAAAAAAA"},
    "pushName": "Você",
    "status": "PENDING",
    "message": {"conversation": "oi"},
    "contextInfo": {"mentionedJid": []},
    "messageType": "conversation",
    "messageTimestamp": 1761142022,
    "instanceId": "0b7d",
    "source": "web",
    "somethingNew": {"ignored": True},
}


def evolution_error(status: int, message: Any) -> dict[str, Any]:
    """Evolution's error body."""
    return {"status": status, "error": "X", "response": {"message": message}}


@pytest.fixture
async def client() -> AsyncIterator[EvolutionClient]:
    # respx intercepts httpx's own transport; production uses the aiohttp one, whose
    # error mapping the real-socket tests below exercise.
    async with EvolutionClient(SETTINGS, transport=httpx.AsyncHTTPTransport()) as evolution:
        yield evolution


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


# --- endpoints -------------------------------------------------------------------


async def test_server_info_sends_no_key(client: EvolutionClient, mock: respx.MockRouter) -> None:
    route = mock.get("/").respond(
        200,
        json={
            "status": 200,
            "message": "Welcome to the Evolution API, it is working!",
            "version": "2.3.6",
            "clientName": "evolution",
            "whatsappWebVersion": "2.3000.1",
        },
    )
    info = await client.server_info()
    assert info.version == "2.3.6"
    assert info.whatsapp_web_version == "2.3000.1"
    assert "apikey" not in route.calls.last.request.headers


async def test_create_instance_sends_the_nested_webhook_and_returns_the_token(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/instance/create").respond(
        201,
        json={
            "instance": {"instanceName": "loja", "instanceId": "id-1", "integration": "WHATSAPP-BAILEYS"},
            "hash": "INSTANCE-TOKEN",
            "webhook": {"webhookUrl": "http://ingest/webhook"},
            "settings": {"rejectCall": False},
            "qrcode": {"pairingCode": None, "code": "2@abc", "base64": "data:image/png;base64,x", "count": 1},
        },
    )
    created = await client.create_instance(
        "loja",
        token="chosen-token",
        webhook=WebhookConfig(
            url="http://ingest/webhook",
            by_events=True,
            headers={"jwt_key": "hook-secret"},
            events=("MESSAGES_UPSERT", "SEND_MESSAGE"),
        ),
        options=InstanceOptions(groups_ignore=True, reject_call=False),
    )
    request = route.calls.last.request
    assert request.headers["apikey"] == GLOBAL_KEY
    assert json.loads(request.content) == {
        "instanceName": "loja",
        "integration": "WHATSAPP-BAILEYS",
        "qrcode": True,
        "token": "chosen-token",
        "webhook": {
            "url": "http://ingest/webhook",
            "byEvents": True,
            "base64": False,
            "headers": {"jwt_key": "hook-secret"},
            "events": ["MESSAGES_UPSERT", "SEND_MESSAGE"],
        },
        "groupsIgnore": True,
        "rejectCall": False,
    }
    assert created.instance.instance_id == "id-1"
    assert created.token == "INSTANCE-TOKEN"
    assert created.qrcode is not None
    assert created.qrcode.code == "2@abc"
    assert "INSTANCE-TOKEN" not in repr(created)


async def test_connect_returns_a_qr_or_the_open_state(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/instance/connect/loja").mock(
        side_effect=[
            httpx.Response(
                200, json={"pairingCode": "ABCD1234", "code": "2@x", "base64": "data:", "count": 2}
            ),
            httpx.Response(200, json={"instance": {"instanceName": "loja", "state": "open"}}),
        ]
    )
    first = await client.connect("loja", number="5511999990000", token="tok")
    second = await client.connect("loja")
    assert isinstance(first, QrCode)
    assert first.pairing_code == "ABCD1234"
    assert first.count == 2
    assert isinstance(second, ConnectionState)
    assert second.state == "open"
    assert route.calls[0].request.url.params["number"] == "5511999990000"
    assert route.calls[0].request.headers["apikey"] == "tok"
    assert "number" not in route.calls[1].request.url.params


async def test_connect_error_reported_as_http_200_is_an_error(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    mock.get("/instance/connect/loja").respond(
        200, json={"error": True, "message": "instance is not connected"}
    )
    with pytest.raises(EvolutionReplyError) as caught:
        await client.connect("loja")
    assert caught.value.status == 200
    assert caught.value.message == "instance is not connected"
    assert not caught.value.retryable
    assert not caught.value.outcome_unknown


async def test_connection_state(client: EvolutionClient, mock: respx.MockRouter) -> None:
    mock.get("/instance/connectionState/loja%20centro").respond(
        200, json={"instance": {"instanceName": "loja centro", "state": "connecting"}}
    )
    state = await client.connection_state("loja centro")
    assert state == ConnectionState(instance_name="loja centro", state="connecting")


async def test_logout_and_delete(client: EvolutionClient, mock: respx.MockRouter) -> None:
    logout = mock.delete("/instance/logout/loja").respond(
        200, json={"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}
    )
    delete = mock.delete("/instance/delete/loja").respond(
        200, json={"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
    )
    assert (await client.logout("loja", token=SecretStr("tok"))).message == "Instance logged out"
    assert (await client.delete_instance("loja")).message == "Instance deleted"
    assert logout.calls.last.request.headers["apikey"] == "tok"
    assert delete.calls.last.request.headers["apikey"] == GLOBAL_KEY


async def test_logout_of_a_closed_instance_is_rejected(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    mock.delete("/instance/logout/loja").respond(
        400, json=evolution_error(400, ['The "loja" instance is not connected'])
    )
    with pytest.raises(EvolutionRejectedError) as caught:
        await client.logout("loja")
    assert caught.value.status == 400
    assert caught.value.message == 'The "loja" instance is not connected'
    assert not isinstance(caught.value, NumberNotOnWhatsAppError)


async def test_fetch_instances_filters_and_hides_tokens(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    route = mock.get("/instance/fetchInstances").respond(
        200,
        json=[
            {
                "id": "id-1",
                "name": "loja",
                "connectionStatus": "open",
                "ownerJid": "5511@s.whatsapp.net",
                "token": "SECRET-TOKEN",
                "disconnectionReasonCode": None,
                "_count": {"Message": 3},
            }
        ],
    )
    [row] = await client.fetch_instances(instance_name="loja")
    assert row.connection_status == "open"
    assert row.token is not None
    assert row.token.get_secret_value() == "SECRET-TOKEN"
    assert "SECRET-TOKEN" not in repr(row)
    assert dict(route.calls.last.request.url.params) == {"instanceName": "loja"}


async def test_set_webhook_wraps_the_body(client: EvolutionClient, mock: respx.MockRouter) -> None:
    route = mock.post("/webhook/set/loja").respond(
        201,
        json={
            "id": "wh-1",
            "url": "http://ingest/webhook",
            "headers": {"x-mirage-secret": "s"},
            "enabled": True,
            "events": ["MESSAGES_UPSERT"],
            "webhookByEvents": False,
            "webhookBase64": False,
            "instanceId": "id-1",
        },
    )
    record = await client.set_webhook(
        "loja",
        WebhookConfig(
            url="http://ingest/webhook", headers={"x-mirage-secret": "s"}, events=("MESSAGES_UPSERT",)
        ),
        token="tok",
    )
    assert json.loads(route.calls.last.request.content) == {
        "webhook": {
            "enabled": True,
            "url": "http://ingest/webhook",
            "byEvents": False,
            "base64": False,
            "headers": {"x-mirage-secret": "s"},
            "events": ["MESSAGES_UPSERT"],
        }
    }
    assert record.events == ("MESSAGES_UPSERT",)
    assert "x-mirage-secret" not in repr(record)


async def test_send_text_uses_the_instance_token_and_waits_for_the_delay(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/message/sendText/loja").respond(201, json=SENT)
    sent = await client.send_text("loja", number="5511999990001", text="oi", delay_ms=1200, token="tok")
    request = route.calls.last.request
    assert sent.id == "3EB0AAAAAAAAAAAAAAAAAA"
    assert sent.key.remote_jid == "5511999990001@s.whatsapp.net"
    assert request.headers["apikey"] == "tok"
    assert json.loads(request.content) == {"number": "5511999990001", "text": "oi", "delay": 1200}
    # Evolution blocks for `delay`: the read timeout grows by it.
    assert request.extensions["timeout"]["read"] == pytest.approx(7.0 + 1.2)


async def test_send_text_options(client: EvolutionClient, mock: respx.MockRouter) -> None:
    route = mock.post("/message/sendText/loja").respond(201, json=SENT)
    await client.send_text("loja", number="x@lid", text="oi", link_preview=False, quoted_message_id="Q1")
    assert json.loads(route.calls.last.request.content) == {
        "number": "x@lid",
        "text": "oi",
        "linkPreview": False,
        "quoted": {"key": {"id": "Q1"}},
    }
    assert route.calls.last.request.headers["apikey"] == GLOBAL_KEY


async def test_a_text_goes_out_as_utf8_json_with_the_default_read_timeout(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/message/sendText/loja").respond(201, json=SENT)
    await client.send_text("loja", number="5511999990001", text="Olá, já chegou? 🙂")
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.content.decode("utf-8") == '{"number":"5511999990001","text":"Olá, já chegou? 🙂"}'
    assert request.extensions["timeout"]["read"] == pytest.approx(7.0)


async def test_send_presence(client: EvolutionClient, mock: respx.MockRouter) -> None:
    route = mock.post("/chat/sendPresence/loja").respond(201, json={"presence": "composing"})
    result = await client.send_presence("loja", number="5511999990001", delay_ms=800)
    assert result.presence == "composing"
    assert json.loads(route.calls.last.request.content) == {
        "number": "5511999990001",
        "presence": "composing",
        "delay": 800,
    }
    assert route.calls.last.request.extensions["timeout"]["read"] == pytest.approx(7.8)


# --- error mapping ---------------------------------------------------------------


async def test_number_not_on_whatsapp(client: EvolutionClient, mock: respx.MockRouter) -> None:
    mock.post("/message/sendText/loja").respond(
        400,
        json=evolution_error(
            400, [{"jid": "5511000000000@s.whatsapp.net", "exists": False, "number": "5511000000000"}]
        ),
    )
    with pytest.raises(NumberNotOnWhatsAppError) as caught:
        await client.send_text("loja", number="5511000000000", text="oi")
    error = caught.value
    assert isinstance(error, EvolutionRejectedError)
    assert error.status == 400
    assert error.number == "5511000000000"
    assert error.jid == "5511000000000@s.whatsapp.net"
    assert not error.retryable
    assert not error.outcome_unknown


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (400, EvolutionRejectedError, False),
        (401, EvolutionUnauthorizedError, False),
        (403, EvolutionForbiddenError, False),
        (404, EvolutionNotFoundError, False),
        (413, EvolutionRejectedError, False),
        (422, EvolutionRejectedError, False),
        (408, EvolutionUnavailableError, True),
        (429, EvolutionRateLimitedError, True),
        (500, EvolutionServerError, True),
        (502, EvolutionServerError, True),
        (503, EvolutionServerError, True),
    ],
)
async def test_http_errors_map_to_their_class(
    client: EvolutionClient,
    mock: respx.MockRouter,
    status: int,
    error_type: type[EvolutionError],
    retryable: bool,
) -> None:
    mock.post("/message/sendText/loja").respond(status, json=evolution_error(status, ["went wrong"]))
    with pytest.raises(EvolutionError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert type(caught.value) is error_type
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert caught.value.outcome_unknown is False
    assert caught.value.message == "went wrong"
    assert caught.value.body == evolution_error(status, ["went wrong"])


async def test_unauthorized_message_and_nested_schema_errors(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    mock.get("/instance/connectionState/loja").respond(
        401, json={"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
    )
    mock.post("/message/sendText/loja").respond(
        400, json=evolution_error(400, [['instance requires property "text"', "other"]])
    )
    with pytest.raises(EvolutionUnauthorizedError) as unauthorized:
        await client.connection_state("loja")
    with pytest.raises(EvolutionRejectedError) as schema:
        await client.send_text("loja", number="1", text="")
    assert unauthorized.value.message == "Unauthorized"
    assert schema.value.message == 'instance requires property "text"; other'


async def test_rate_limit_carries_retry_after(client: EvolutionClient, mock: respx.MockRouter) -> None:
    mock.post("/message/sendText/loja").respond(429, text="slow down", headers={"Retry-After": "3"})
    with pytest.raises(EvolutionRateLimitedError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert caught.value.retry_after_s == 3.0
    assert caught.value.message == "slow down"


async def test_gateway_timeout_is_an_unknown_outcome(client: EvolutionClient, mock: respx.MockRouter) -> None:
    mock.post("/message/sendText/loja").respond(504, text="upstream timed out")
    with pytest.raises(EvolutionOutcomeUnknownError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert caught.value.status == 504
    assert caught.value.outcome_unknown
    assert not caught.value.retryable


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.PoolTimeout("no free connection"),
    ],
)
async def test_a_request_that_never_left_is_retryable(
    client: EvolutionClient, mock: respx.MockRouter, failure: Exception
) -> None:
    mock.post("/message/sendText/loja").mock(side_effect=failure)
    with pytest.raises(EvolutionUnreachableError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert caught.value.retryable
    assert not caught.value.outcome_unknown
    assert caught.value.status is None


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_a_request_that_may_have_been_carried_out_is_an_unknown_outcome(
    client: EvolutionClient, mock: respx.MockRouter, failure: Exception
) -> None:
    mock.post("/message/sendText/loja").mock(side_effect=failure)
    with pytest.raises(EvolutionOutcomeUnknownError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert caught.value.outcome_unknown
    assert not caught.value.retryable


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(201, text="<html>ok</html>"),
        httpx.Response(201, json={"unexpected": "shape"}),
    ],
)
async def test_an_unreadable_success_is_an_unknown_outcome(
    client: EvolutionClient, mock: respx.MockRouter, response: httpx.Response
) -> None:
    mock.post("/message/sendText/loja").mock(return_value=response)
    with pytest.raises(EvolutionOutcomeUnknownError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi")
    assert caught.value.status == 201
    assert caught.value.outcome_unknown


async def test_a_real_connection_refusal_and_a_real_read_timeout() -> None:
    """No mocks: a closed port is unreachable; a server that never answers is an unknown outcome."""
    release = asyncio.Event()
    received: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))  # take the request, never answer
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hanging = EvolutionSettings(base_url=f"http://127.0.0.1:{port}", read_timeout_s=0.2)
        async with EvolutionClient(hanging) as evolution:
            with pytest.raises(EvolutionOutcomeUnknownError):
                await evolution.send_text("loja", number="5511999990001", text="oi")
    finally:
        release.set()
        server.close()
        await server.wait_closed()
    assert received, "the request reached the server before the timeout"
    closed = EvolutionSettings(base_url=f"http://127.0.0.1:{port}", connect_timeout_s=1.0)
    async with EvolutionClient(closed) as evolution:
        with pytest.raises(EvolutionUnreachableError):
            await evolution.send_text("loja", number="5511999990001", text="oi")


async def test_a_connection_dropped_after_the_request_went_out_is_an_unknown_outcome() -> None:
    """The server reads the whole request, then hangs up: it may have acted on it."""
    received: list[bytes] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with EvolutionClient(EvolutionSettings(base_url=f"http://127.0.0.1:{port}")) as evolution:
            with pytest.raises(EvolutionOutcomeUnknownError):
                await evolution.send_text("loja", number="5511999990001", text="oi")
    finally:
        server.close()
        await server.wait_closed()
    assert received, "the request reached the server"


async def test_secrets_never_appear_in_errors_or_settings(
    client: EvolutionClient, mock: respx.MockRouter
) -> None:
    mock.post("/message/sendText/loja").respond(500, json=evolution_error(500, ["Error: Connection Closed"]))
    with pytest.raises(EvolutionServerError) as caught:
        await client.send_text("loja", number="5511999990001", text="oi", token="instance-secret")
    rendered = f"{caught.value} {caught.value!r} {caught.value.body} {SETTINGS!r} {SETTINGS}"
    assert "instance-secret" not in rendered
    assert GLOBAL_KEY not in rendered
    assert "POST /message/sendText/loja" in str(caught.value)
    assert "Error: Connection Closed" in str(caught.value)


async def test_a_base_url_with_a_path_prefix_is_kept_on_every_call_to_a_path() -> None:
    """Each path's absolute URL is worked out once and reused: the prefix and the query stay right."""
    prefixed = EvolutionSettings(base_url=f"{BASE}/evolution/", api_key=SecretStr(GLOBAL_KEY))
    with respx.mock(base_url=f"{BASE}/evolution", assert_all_called=True) as router:
        route = router.get("/instance/connectionState/loja").respond(
            200, json={"instance": {"instanceName": "loja", "state": "open"}}
        )
        async with EvolutionClient(prefixed, transport=httpx.AsyncHTTPTransport()) as evolution:
            for _ in range(2):
                assert (await evolution.connection_state("loja")).state == "open"
    assert [str(call.request.url) for call in route.calls] == [
        f"{BASE}/evolution/instance/connectionState/loja"
    ] * 2

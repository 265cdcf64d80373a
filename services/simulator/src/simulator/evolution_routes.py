"""Evolution API 2.3.6 routes: guards in Evolution's order, then the service call."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request

from simulator.instances import InstanceService
from simulator.sending import TextSender
from simulator.settings import SimulatorSettings
from simulator.state import Instance, SimulatorState
from simulator.wire import (
    EvolutionError,
    JsonResponse,
    Prop,
    bad_request,
    check_object,
    instance_not_found,
    json_body,
    schema_error,
    unauthorized,
)

EVOLUTION_VERSION = "2.3.6"
WHATSAPP_WEB_VERSION = "2.3000.1028450369"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def evolution_router(
    settings: SimulatorSettings,
    state: SimulatorState,
    instances: InstanceService,
    sender: TextSender,
) -> APIRouter:
    """The Evolution-compatible HTTP surface (header `apikey`)."""
    router = APIRouter(tags=["evolution"])
    server_url = settings.resolved_server_url()

    def authorize(request: Request, instance: Instance | None) -> None:
        # The global key opens everything; an instance token only its own routes.
        key = request.headers.get("apikey")
        if not key:
            raise unauthorized()
        if _same(key, settings.api_key):
            return
        if instance is not None and _same(key, instance.token):
            return
        raise unauthorized()

    def guarded(request: Request, name: str) -> Instance:
        # Evolution's guard order: the instance must exist (404) before the key is checked.
        instance = state.get(name)
        if instance is None:
            raise instance_not_found(name)
        authorize(request, instance)
        return instance

    @router.get("/")
    async def welcome() -> JsonResponse:
        """Evolution's unauthenticated welcome document."""
        return JsonResponse(
            {
                "status": 200,
                "message": "Welcome to the Evolution API, it is working!",
                "version": EVOLUTION_VERSION,
                "clientName": settings.client_name,
                "manager": f"{server_url}/manager",
                "documentation": "https://doc.evolution-api.com",
                "whatsappWebVersion": WHATSAPP_WEB_VERSION,
            }
        )

    @router.post("/instance/create")
    async def create_instance(request: Request) -> JsonResponse:
        """Create an instance (global key only; a taken name is 403 even before auth)."""
        body = await json_body(request)
        instances.ensure_name_free(body)
        authorize(request, None)
        return JsonResponse(instances.create(body), status_code=201)

    @router.get("/instance/connect/{instance}")
    async def connect(instance: str, request: Request) -> JsonResponse:
        """The QR to scan (`?number=` adds a pairing code), or the state when open."""
        found = guarded(request, instance)
        return JsonResponse(instances.connect(found, request.query_params.get("number")))

    @router.get("/instance/connectionState/{instance}")
    async def connection_state(instance: str, request: Request) -> JsonResponse:
        """`{instance:{instanceName, state}}`."""
        return JsonResponse(instances.connection_state(guarded(request, instance)))

    @router.post("/instance/restart/{instance}")
    async def restart(instance: str, request: Request) -> JsonResponse:
        """Reconnect an instance."""
        return JsonResponse(instances.restart(guarded(request, instance)))

    @router.delete("/instance/logout/{instance}")
    async def logout(instance: str, request: Request) -> JsonResponse:
        """Log the number out (400 when already closed)."""
        return JsonResponse(instances.logout(guarded(request, instance)))

    @router.delete("/instance/delete/{instance}")
    async def delete(instance: str, request: Request) -> JsonResponse:
        """Delete the instance (logging it out first when connected)."""
        return JsonResponse(instances.delete(guarded(request, instance)))

    @router.get("/instance/fetchInstances")
    async def fetch_instances(request: Request) -> JsonResponse:
        """All instances (global key) or those of the instance token given."""
        key = request.headers.get("apikey")
        if not key:
            raise unauthorized()
        if _same(key, settings.api_key):
            visible = list(state.instances.values())
        else:
            visible = state.with_token(key)
            if not visible:
                raise unauthorized()
        query = request.query_params
        return JsonResponse(
            instances.fetch(
                visible,
                instance_name=query.get("instanceName"),
                instance_id=query.get("instanceId"),
                number=query.get("number"),
            )
        )

    @router.post("/instance/setPresence/{instance}")
    async def set_presence(instance: str, request: Request) -> JsonResponse:
        """Instance-wide presence."""
        found = guarded(request, instance)
        return JsonResponse(instances.set_presence(found, await json_body(request)), status_code=201)

    @router.post("/webhook/set/{instance}")
    async def set_webhook(instance: str, request: Request) -> JsonResponse:
        """Store the instance webhook (`{"webhook": {...}}`)."""
        found = guarded(request, instance)
        return JsonResponse(instances.set_webhook(found, await json_body(request)), status_code=201)

    @router.get("/webhook/find/{instance}")
    async def find_webhook(instance: str, request: Request) -> JsonResponse:
        """The webhook row, or `null`."""
        return JsonResponse(instances.find_webhook(guarded(request, instance)))

    @router.post("/settings/set/{instance}")
    async def set_settings(instance: str, request: Request) -> JsonResponse:
        """Store the behaviour settings."""
        found = guarded(request, instance)
        return JsonResponse(instances.set_settings(found, await json_body(request)), status_code=201)

    @router.get("/settings/find/{instance}")
    async def find_settings(instance: str, request: Request) -> JsonResponse:
        """The Setting row."""
        return JsonResponse(guarded(request, instance).setting_row())

    @router.post("/message/sendText/{instance}")
    async def send_text(instance: str, request: Request) -> JsonResponse:
        """Send a text; answers after `delay` ms with the sent message (201)."""
        found = guarded(request, instance)
        return JsonResponse(await sender.send_text(found, await json_body(request)), status_code=201)

    @router.post("/chat/sendPresence/{instance}")
    async def send_presence(instance: str, request: Request) -> JsonResponse:
        """Show a presence in one chat for `delay` ms."""
        found = guarded(request, instance)
        body = await json_body(request)
        return JsonResponse(await sender.send_presence(found, body), status_code=201)

    @router.post("/chat/whatsappNumbers/{instance}")
    async def whatsapp_numbers(instance: str, request: Request) -> JsonResponse:
        """Which numbers are on WhatsApp."""
        found = guarded(request, instance)
        return JsonResponse(sender.whatsapp_numbers(found, await json_body(request)))

    @router.post("/chat/markMessageAsRead/{instance}")
    async def mark_read(instance: str, request: Request) -> JsonResponse:
        """Mark messages read."""
        found = guarded(request, instance)
        return JsonResponse(sender.mark_read(found, await json_body(request)), status_code=201)

    @router.post("/chat/getBase64FromMediaMessage/{instance}")
    async def get_base64_from_media_message(instance: str, request: Request) -> JsonResponse:
        """The media of a message the simulator delivered, base64-encoded (201)."""
        found = guarded(request, instance)
        message_id = _media_message_id(await json_body(request))
        faults = state.faults
        failure = faults.take_failure("getBase64FromMediaMessage")
        latency = faults.latency_s("getBase64FromMediaMessage")
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            raise EvolutionError(failure.status, [failure.message])
        blob = state.media.get(found.name, message_id)
        if blob is None:
            # Evolution looks the message up in its database and answers this when it is not there.
            raise bad_request("Message not found")
        return JsonResponse(blob.base64_view(), status_code=201)

    return router


_BASE64_PROPS = (Prop("message", "object", required=True), Prop("convertToMp4", "boolean"))


def _media_message_id(body: Any) -> str:
    """`message.key.id` of a `getBase64FromMediaMessage` body (the message or only its key)."""
    problems = check_object(body, _BASE64_PROPS)
    if problems:
        raise schema_error(problems)
    key = body["message"].get("key")
    if not isinstance(key, dict) or not isinstance(key.get("id"), str) or not key["id"]:
        raise schema_error(['message requires property "key" with a string "id"'])
    message_id: str = key["id"]
    return message_id

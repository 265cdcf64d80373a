"""The `/_sim/` control API (PRODUCT.md §10): drive the simulated world and inspect it."""

from __future__ import annotations

import re
from itertools import islice
from typing import Any

import orjson
from fastapi import APIRouter, Request

from simulator.faults import FaultError
from simulator.inbound import build_inbound
from simulator.instances import Event, InstanceService
from simulator.messages import digits_of, parse_recipient
from simulator.state import Instance, SimulatorState
from simulator.webhooks import DeliveryResult, WebhookDispatcher
from simulator.wire import (
    EvolutionError,
    JsonResponse,
    Prop,
    bad_request,
    check_object,
    instance_not_found,
    json_body,
    schema_error,
)

_EVENT_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")

_SCAN_PROPS = (Prop("number", "string"), Prop("profile_name", "string"))
_DISCONNECT_PROPS = (Prop("reason", "integer"), Prop("refused", "boolean"))
_EMIT_PROPS = (Prop("event", "string", required=True, non_empty=True), Prop("data", "object"))
_NUMBERS_PROPS = (Prop("not_on_whatsapp", "array"), Prop("on_whatsapp", "array"))


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def control_router(
    state: SimulatorState, instances: InstanceService, webhooks: WebhookDispatcher
) -> APIRouter:
    """Routes under `/_sim/` (no auth: the simulator is a development tool)."""
    router = APIRouter(prefix="/_sim", tags=["control"])

    def existing(name: str) -> Instance:
        instance = state.get(name)
        if instance is None:
            raise instance_not_found(name)
        return instance

    async def deliver_all(instance: Instance, events: list[Event]) -> list[DeliveryResult]:
        # In order, each awaited, so the caller sees what ingest answered to each.
        return [await webhooks.deliver_event(instance, event, data) for event, data in events]

    def main_result(events: list[Event], results: list[DeliveryResult]) -> dict[str, Any]:
        for (event, _), result in zip(events, results, strict=True):
            if event == "connection.update":
                return result.control_view()
        return results[0].control_view() if results else {"status": None, "body": None}

    @router.post("/webhook")
    async def forward_webhook(request: Request) -> JsonResponse:
        """Deliver a raw envelope (any bytes) to an instance's webhook, once."""
        raw = await request.body()
        name = request.query_params.get("instance")
        event = request.query_params.get("event")
        try:
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            if name is None and isinstance(parsed.get("instance"), str):
                name = parsed["instance"]
            if event is None and isinstance(parsed.get("event"), str):
                event = parsed["event"]
        if not name:
            raise bad_request(
                'cannot tell whose webhook to use: the body has no string "instance"; pass ?instance=NAME'
            )
        instance = existing(name)
        hook = instance.webhook
        if hook is None or not hook.deliverable():
            raise EvolutionError(409, [f'The "{name}" instance has no enabled http(s) webhook'])
        # A malformed event name gets no by-events suffix rather than a broken URL.
        suffix_event = event if event and _EVENT_NAME.fullmatch(event) else None
        result = await webhooks.forward_raw(instance, suffix_event, raw)
        return JsonResponse(result.control_view())

    @router.post("/instances/{instance}/inbound")
    async def inbound(instance: str, request: Request) -> JsonResponse:
        """A person writes to the instance: `messages.upsert` is delivered."""
        found = existing(instance)
        inline = found.webhook is not None and found.webhook.base64
        built = build_inbound(found, await json_body(request), inline_base64=inline)
        data = built.data
        if found.state != "open":
            raise EvolutionError(409, [f'The "{instance}" instance is not connected (state {found.state})'])
        key = data["key"]
        if built.media is not None:
            # Kept for `getBase64FromMediaMessage`, as Evolution keeps received messages.
            state.media.add(found.name, key["id"], built.media)
        found.message_count += 1
        found.contacts.add(key["remoteJid"])
        state.inbound.append({"instance": found.name, **data})
        result = await webhooks.deliver_event(found, "messages.upsert", data)
        return JsonResponse({**result.control_view(), "id": key["id"], "data": data})

    @router.post("/instances/{instance}/scan")
    async def scan(instance: str, request: Request) -> JsonResponse:
        """The QR is scanned: the instance opens (`connection.update` open)."""
        found = existing(instance)
        body = await json_body(request)
        problems = check_object(body, _SCAN_PROPS)
        if problems:
            raise schema_error(problems)
        events = instances.scan(found, body.get("number"), body.get("profile_name"))
        results = await deliver_all(found, events)
        return JsonResponse({**main_result(events, results), "state": found.state, "wuid": found.owner_jid})

    @router.post("/instances/{instance}/disconnect")
    async def disconnect(instance: str, request: Request) -> JsonResponse:
        """The connection drops with `reason` (401 logged out, 403 banned, …)."""
        found = existing(instance)
        body = await json_body(request)
        problems = check_object(body, _DISCONNECT_PROPS)
        if problems:
            raise schema_error(problems)
        events = instances.disconnect(found, body.get("reason", 401), refused=body.get("refused") is True)
        results = await deliver_all(found, events)
        return JsonResponse(
            {
                **main_result(events, results),
                "state": found.state,
                "events": [
                    {"event": event, **result.control_view()}
                    for (event, _), result in zip(events, results, strict=True)
                ],
            }
        )

    @router.post("/instances/{instance}/emit")
    async def emit(instance: str, request: Request) -> JsonResponse:
        """Deliver any event with a proper envelope (`{"event": "messages.edited", "data": …}`)."""
        found = existing(instance)
        body = await json_body(request)
        problems = check_object(body, _EMIT_PROPS)
        if problems:
            raise schema_error(problems)
        result = await webhooks.deliver_event(found, body["event"], body.get("data"))
        return JsonResponse(result.control_view())

    @router.get("/instances")
    async def list_instances() -> JsonResponse:
        """Every instance with its state, token and webhook."""
        return JsonResponse([item.control_view() for item in state.instances.values()])

    @router.get("/sent")
    async def sent(request: Request) -> JsonResponse:
        """Accepted sendText calls, oldest first (`?instance=`, `?number=` digits or JID).

        `?offset=N` skips the first N calls that match, so a long run can be followed
        incrementally instead of re-reading every row.
        """
        name = request.query_params.get("instance")
        number = request.query_params.get("number")
        offset_text = request.query_params.get("offset", "0")
        if not offset_text.isdigit():
            return JsonResponse({"error": "offset must be a non-negative integer"}, status_code=422)
        wanted: set[str] = set()
        if number:
            wanted = {digits_of(number), parse_recipient(number).digits} - {""}
        matching = (
            record
            for record in state.sent
            if (not name or record.instance == name)
            and (not number or record.number in wanted or digits_of(record.remote_jid) in wanted)
        )
        rows = [record.row() for record in islice(matching, int(offset_text), None)]
        return JsonResponse(rows)

    @router.get("/relayed")
    async def relayed(request: Request) -> JsonResponse:
        """Messages between the simulator's own instances, oldest first (`?from=`, `?to=`, `?outcome=`)."""
        query = request.query_params
        rows = [
            record.row()
            for record in state.relayed
            if (not query.get("from") or record.sender == query.get("from"))
            and (not query.get("to") or record.recipient == query.get("to"))
            and (not query.get("outcome") or record.outcome == query.get("outcome"))
        ]
        return JsonResponse(rows)

    @router.get("/faults")
    async def get_faults() -> JsonResponse:
        """The faults in force."""
        return JsonResponse(state.faults.snapshot())

    @router.post("/faults")
    async def set_faults(request: Request) -> JsonResponse:
        """Merge fault settings; unknown targets or fields are 422 and change nothing."""
        try:
            state.faults.merge(await json_body(request))
        except FaultError as error:
            raise EvolutionError(422, error.problems) from None
        return JsonResponse(state.faults.snapshot())

    @router.post("/reset")
    async def reset(request: Request) -> JsonResponse:
        """Clear logs, faults and numbers; `?instances=true` also removes instances."""
        drop_instances = _truthy(request.query_params.get("instances"))
        state.reset(instances=drop_instances)
        if drop_instances:
            instances.changed()
        return JsonResponse({"reset": True, "instances": len(state.instances)})

    @router.get("/numbers")
    async def get_numbers() -> JsonResponse:
        """Numbers registered as not on WhatsApp."""
        return JsonResponse({"not_on_whatsapp": sorted(state.not_on_whatsapp)})

    @router.post("/numbers")
    async def set_numbers(request: Request) -> JsonResponse:
        """Register (`not_on_whatsapp`) or clear (`on_whatsapp`) numbers without WhatsApp."""
        body = await json_body(request)
        problems = check_object(body, _NUMBERS_PROPS)
        if problems:
            raise schema_error(problems)
        for number in body.get("not_on_whatsapp", []):
            state.not_on_whatsapp.add(digits_of(str(number)))
        for number in body.get("on_whatsapp", []):
            state.not_on_whatsapp.discard(digits_of(str(number)))
        state.not_on_whatsapp.discard("")
        return JsonResponse({"not_on_whatsapp": sorted(state.not_on_whatsapp)})

    @router.get("/webhooks")
    async def deliveries(request: Request) -> JsonResponse:
        """The webhook delivery log (`?instance=`, `?event=`, `?outcome=`)."""
        query = request.query_params
        rows = [
            record.row()
            for record in state.deliveries
            if all(
                not query.get(field) or getattr(record, field) == query.get(field)
                for field in ("instance", "event", "outcome")
            )
        ]
        return JsonResponse(rows)

    @router.get("/inbound")
    async def inbound_history() -> JsonResponse:
        """Every message delivered through `/inbound`, oldest first."""
        return JsonResponse(list(state.inbound))

    @router.get("/presence")
    async def presences() -> JsonResponse:
        """Every accepted `sendPresence`, oldest first."""
        return JsonResponse(list(state.presences))

    @router.get("/completions")
    async def completions() -> JsonResponse:
        """Every `/v1/chat/completions` request, oldest first."""
        return JsonResponse(list(state.completions))

    @router.get("/transcriptions")
    async def transcriptions() -> JsonResponse:
        """Every `/v1/audio/transcriptions` request, oldest first (answered or failed)."""
        return JsonResponse(list(state.transcriptions))

    return router

"""Outbound behaviour: `sendText` (with its echo and acks), `sendPresence`, number checks.

Between the simulator's own instances it behaves like WhatsApp: a `sendText` to another
instance's number arrives there as an inbound `messages.upsert` (same message id, from the
sender's own JID), and only then does the sender get its `DELIVERY_ACK` (and `READ`). A
`deliveries` fault drops one direction: the message is sent, never arrives, never acked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulator.faults import EndpointName
from simulator.instances import PRESENCES, require_open
from simulator.messages import (
    Recipient,
    digits_of,
    epoch_seconds,
    iso_utc,
    message_context_info,
    message_update,
    new_message_id,
    new_record_id,
    now_utc,
    parse_recipient,
    received_message,
    sent_message,
)
from simulator.settings import SimulatorSettings
from simulator.state import Instance, RelayRecord, SentRecord, SimulatorState
from simulator.webhooks import DeliveryResult, Outgoing, WebhookDispatcher
from simulator.wire import EvolutionError, Prop, check_object, schema_error

# Fewer digits than this cannot be a WhatsApp account; Evolution answers exists:false.
_MIN_DIGITS = 7

_TEXT_PROPS = (
    Prop("number", "string", required=True, description="Invalid format"),
    Prop("text", "string", required=True),
    Prop("delay", "integer"),
    Prop("linkPreview", "boolean"),
    Prop("quoted", "object"),
    Prop("mentionsEveryOne", "boolean"),
    Prop("everyOne", "boolean"),
    Prop("mentioned", "array"),
)

_QUOTED_PROPS = (Prop("key", "object", required=True), Prop("message", "object"))
_QUOTED_KEY_PROPS = (
    Prop("id", "string", required=True),
    Prop("remoteJid", "string"),
    Prop("fromMe", "boolean"),
)

_PRESENCE_PROPS = (
    Prop("number", "string", required=True, description="Invalid format"),
    Prop("presence", "string", required=True, enum=PRESENCES),
    Prop("delay", "integer", required=True),
)

_NUMBERS_PROPS = (Prop("numbers", "array", required=True),)
_READ_PROPS = (Prop("readMessages", "array", required=True),)


class TextSender:
    """What happens when Mirage sends through the simulator."""

    def __init__(
        self, settings: SimulatorSettings, state: SimulatorState, webhooks: WebhookDispatcher
    ) -> None:
        self._settings = settings
        self._state = state
        self._webhooks = webhooks

    async def _apply_faults(self, endpoint: EndpointName) -> None:
        # The failure is claimed on arrival, so concurrent calls consume it in order.
        failure = self._state.faults.take_failure(endpoint)
        latency = self._state.faults.latency_s(endpoint)
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            raise EvolutionError(failure.status, [failure.message])

    def _exists(self, recipient: Recipient, number: str) -> bool:
        if recipient.kind == "group":
            return True
        unknown = self._state.not_on_whatsapp
        if recipient.digits in unknown or digits_of(number) in unknown:
            return False
        return len(recipient.digits) >= _MIN_DIGITS

    def _check_exists(self, recipient: Recipient, number: str) -> None:
        if not self._exists(recipient, number):
            raise EvolutionError(400, [{"jid": recipient.jid, "exists": False, "number": number}])

    async def send_text(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /message/sendText/{instance}`: the sent message (201)."""
        problems = check_object(body, _TEXT_PROPS)
        if not problems:
            if not body["text"].strip():
                problems.append('The "text" cannot be empty')
            quoted = body.get("quoted")
            if quoted is not None:
                problems += check_object(quoted, _QUOTED_PROPS, "quoted")
                if isinstance(quoted.get("key"), dict):
                    problems += check_object(quoted["key"], _QUOTED_KEY_PROPS, "quoted.key")
        if problems:
            raise schema_error(problems)
        await self._apply_faults("sendText")
        require_open(instance)
        number: str = body["number"]
        recipient = parse_recipient(number)
        self._check_exists(recipient, number)
        delay = max(0, body.get("delay") or 0)
        if delay:
            # Evolution shows "composing" for `delay` ms and only then sends and answers.
            await asyncio.sleep(delay / 1000)
        message_id = new_message_id()
        payload = sent_message(
            remote_jid=recipient.jid,
            message_id=message_id,
            text=body["text"],
            instance_id=instance.id,
            timestamp=epoch_seconds(),
            quoted=body.get("quoted"),
        )
        self._state.sent.append(
            SentRecord(
                instance=instance.name,
                number=digits_of(number),
                text=body["text"],
                delay=delay,
                id=message_id,
                remote_jid=recipient.jid,
                at=now_utc(),
            )
        )
        instance.message_count += 1
        instance.contacts.add(recipient.jid)
        peer = self._peer(instance, recipient, number)
        hooked = instance.webhook is not None and instance.webhook.deliverable()
        if hooked or peer is not None:
            echo = self._webhooks.prepare(instance, "send.message", payload) if hooked else None
            self._webhooks.spawn(self._echo_and_ack(instance, echo, payload["key"], peer, body["text"]))
        return payload

    def _peer(self, instance: Instance, recipient: Recipient, number: str) -> Instance | None:
        """Another simulated instance whose own number the send goes to."""
        if recipient.kind != "user":
            return None
        peer = self._state.with_number(recipient.digits, digits_of(number))
        return None if peer is None or peer is instance else peer

    async def _echo_and_ack(
        self,
        instance: Instance,
        echo: Outgoing | DeliveryResult | None,
        key: dict[str, Any],
        peer: Instance | None,
        text: str,
    ) -> None:
        """`send.message`, then (after the ack delay) `messages.update` DELIVERY_ACK (and READ).

        To another instance the message first arrives there; one that never arrives is never acked.
        """
        if echo is not None:
            await self._webhooks.send(echo)
        if peer is not None and not await self._relay(instance, peer, key["id"], text):
            return
        if echo is None:
            return
        record_id = new_record_id()
        acks: list[tuple[int, str]] = [(self._settings.delivery_ack_delay_ms, "DELIVERY_ACK")]
        if self._settings.read_ack_delay_ms is not None:
            acks.append((self._settings.read_ack_delay_ms, "READ"))
        for delay_ms, status in acks:
            await asyncio.sleep(delay_ms / 1000)
            update = message_update(
                key_id=key["id"],
                remote_jid=key["remoteJid"],
                status=status,
                instance_id=instance.id,
                message_id=record_id,
            )
            await self._webhooks.deliver_event(instance, "messages.update", update)

    async def _relay(self, sender: Instance, peer: Instance, message_id: str, text: str) -> bool:
        """Deliver a message to another instance as a person's inbound message; False when lost."""
        if self._state.faults.deliveries.drops(sender.name, peer.name):
            outcome = "dropped"
        elif peer.state != "open" or sender.owner_jid is None:
            outcome = "offline"
        else:
            outcome = "delivered"
        self._state.relayed.append(
            RelayRecord(
                sender=sender.name,
                recipient=peer.name,
                id=message_id,
                text=text,
                outcome=outcome,
                at=now_utc(),
            )
        )
        if outcome != "delivered" or sender.owner_jid is None:
            return False
        data = received_message(
            # WhatsApp message ids are the sender's: the peer sees the id the sendText answered.
            key={"remoteJid": sender.owner_jid, "fromMe": False, "id": message_id, "addressingMode": "pn"},
            push_name=sender.profile_name or sender.name,
            from_me=False,
            message={"conversation": text, "messageContextInfo": message_context_info()},
            message_type="conversation",
            timestamp=epoch_seconds(),
            instance_id=peer.id,
        )
        peer.message_count += 1
        peer.contacts.add(sender.owner_jid)
        await self._webhooks.deliver_event(peer, "messages.upsert", data)
        return True

    async def send_presence(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /chat/sendPresence/{instance}`: blocks `delay` ms, then `{presence}` (201)."""
        problems = check_object(body, _PRESENCE_PROPS)
        if problems:
            raise schema_error(problems)
        await self._apply_faults("sendPresence")
        require_open(instance)
        number: str = body["number"]
        recipient = parse_recipient(number)
        self._check_exists(recipient, number)
        delay = max(0, body["delay"])
        self._state.presences.append(
            {
                "instance": instance.name,
                "number": digits_of(number),
                "remote_jid": recipient.jid,
                "presence": body["presence"],
                "delay": delay,
                "at": iso_utc(now_utc()),
            }
        )
        if delay:
            await asyncio.sleep(delay / 1000)
        return {"presence": body["presence"]}

    def whatsapp_numbers(self, instance: Instance, body: Any) -> list[dict[str, Any]]:
        """`POST /chat/whatsappNumbers/{instance}`: which numbers have WhatsApp."""
        problems = check_object(body, _NUMBERS_PROPS)
        if problems:
            raise schema_error(problems)
        require_open(instance)
        rows = []
        for number in body["numbers"]:
            recipient = parse_recipient(str(number))
            rows.append(
                {
                    "jid": recipient.jid,
                    "exists": self._exists(recipient, str(number)),
                    "number": str(number),
                }
            )
        return rows

    def mark_read(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /chat/markMessageAsRead/{instance}`."""
        problems = check_object(body, _READ_PROPS)
        if problems:
            raise schema_error(problems)
        require_open(instance)
        return {"message": "Read messages", "read": "success"}

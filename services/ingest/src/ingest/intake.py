"""What ingest does with one webhook call: judge it, store it, and stage its events.

Order of work (PRODUCT §1 "ingest"): the body is parsed and the instance found
(its secret is needed to authenticate), the call is authenticated, and the raw
event is stored *with* what was done with it — in the same statement as the
message for `messages.upsert`, so there is never a message without its raw
event. Every rejected call is stored too, with its error, and answered 4xx:
400 for a body that is not JSON, 401 for bad credentials, 404 for an unknown
instance, 413 for an oversized body, 422 for a bad shape (Evolution does not
retry those). Nothing here answers 500 on bad input; a dependency being down is
503, which Evolution retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from contracts import ChatKind, MediaInfo, MessageCategory, MessageReceived, MessageReceivedData
from database import Connection, Pool
from ingest import repository
from ingest.authentication import AuthResult, JwtVerifier, authenticate
from ingest.directory import InstanceDirectory, KnownInstance
from ingest.evolution_payloads import (
    DELIVERY_ORDER,
    ConnectionUpdateData,
    EditedMessageData,
    Identity,
    MessageData,
    MessageUpdateData,
    QrCodeUpdatedData,
    WebhookEnvelope,
    category_of,
    chat_kind,
    edited_text,
    event_to_kebab,
    extract_text,
    identity_of,
    is_revoke,
    media_of,
    sent_at,
)
from ingest.repository import NewMessage, RawRecord
from ingest.settings import WebhookSettings
from instance_lifecycle import (
    Pairing,
    QrCode,
    Trigger,
    UnknownInstanceError,
    apply_trigger,
    claim_report,
    trigger_for_connection_update,
)
from messaging import Outbox, OutboxRelay, PreparedEvents, StagedEvent

log = structlog.get_logger(__name__)

# Placeholder ids of a chat not stored yet; replaced inside the storing transaction.
_UNRESOLVED = uuid.UUID(int=0)


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to a webhook call."""

    status: int
    body: dict[str, Any]


@dataclass
class _Call:
    """One webhook call and what has been learnt about it so far."""

    path: str
    path_event: str | None
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    payload_json: str | None = None
    body_text: str | None = None
    instance: KnownInstance | None = None
    instance_name: str | None = None
    event: str | None = None
    # What a media message carries (travels on `message.received`; its bytes never do).
    media: MediaInfo | None = None

    def record(self, status: int, auth: AuthResult, parse_result: str, error: str | None = None) -> RawRecord:
        return RawRecord(
            path=self.path,
            body_size=len(self.body),
            http_status=status,
            auth_result=auth.value,
            parse_result=parse_result,
            instance_name=self.instance_name,
            instance_id=self.instance.id if self.instance else None,
            tenant_id=self.instance.tenant_id if self.instance else None,
            event=self.event,
            error=error,
            payload_json=self.payload_json,
            body_text=self.body_text,
        )


class WebhookIntake:
    """Accepts Evolution webhooks for the instances Mirage knows."""

    def __init__(
        self,
        *,
        pool: Pool,
        directory: InstanceDirectory,
        outbox: Outbox,
        relay: OutboxRelay,
        settings: WebhookSettings,
    ) -> None:
        self.pool = pool
        self.directory = directory
        self.outbox = outbox
        self.relay = relay
        self.settings = settings
        self._jwt = JwtVerifier(settings.jwt_leeway_s)
        self._reorder_window = timedelta(seconds=settings.lifecycle_reorder_window_s)
        # (instance, jid, lid) → (contact, conversation), for chats already stored.
        self._chats: dict[tuple[uuid.UUID, str | None, str | None], tuple[uuid.UUID, uuid.UUID]] = {}

    async def too_large(self, path: str, size: int) -> Reply:
        """Refuse (and record) a body over the size limit without reading the rest of it."""
        record = RawRecord(
            path=path,
            body_size=size,
            http_status=413,
            auth_result=AuthResult.NOT_ATTEMPTED.value,
            parse_result="too_large",
            error=f"body larger than {self.settings.max_body_bytes} bytes",
        )
        raw_id = await repository.record_raw(self.pool, record)
        return Reply(
            413,
            {
                "error": "payload_too_large",
                "limit_bytes": self.settings.max_body_bytes,
                "raw_event_id": raw_id,
            },
        )

    async def receive(
        self, *, path: str, path_event: str | None, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Judge, store and act on one webhook call."""
        call = _Call(path=path, path_event=path_event, headers=headers, body=body)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return await self._reject(
                call,
                400,
                AuthResult.NOT_ATTEMPTED,
                "invalid_json",
                f"body is not JSON: {error}",
                keep_text=True,
            )
        if b"\\u0000" in body:
            # Valid JSON, but PostgreSQL's jsonb cannot hold a NUL: keep this raw call as text.
            call.body_text = body.decode("utf-8", errors="replace")[: self.settings.raw_text_limit]
        else:
            call.payload_json = body.decode("utf-8", errors="replace")
        if isinstance(document, dict):
            name = document.get("instance")
            call.instance_name = name if isinstance(name, str) else None
            event = document.get("event")
            call.event = event if isinstance(event, str) else None
        try:
            envelope = WebhookEnvelope.model_validate(document)
        except ValidationError as error:
            return await self._reject(
                call, 422, AuthResult.NOT_ATTEMPTED, "invalid_envelope", _validation_summary(error)
            )
        instance = await self.directory.find(envelope.instance)
        if instance is None:
            return await self._reject(
                call,
                404,
                AuthResult.UNKNOWN_INSTANCE,
                "unknown_instance",
                f"no instance named {envelope.instance!r}",
            )
        call.instance = instance
        auth = authenticate(
            instance.auth_mode,
            instance.secret,
            headers,
            body,
            secret_header=self.settings.secret_header,
            jwt_verifier=self._jwt,
            allow_unauthenticated=self.settings.allow_unauthenticated,
        )
        if auth is not AuthResult.OK:
            return await self._reject(call, 401, auth, "not_parsed", f"authentication failed: {auth.value}")
        if path_event is not None and path_event != event_to_kebab(envelope.event):
            return await self._reject(
                call,
                422,
                auth,
                "event_mismatch",
                f"path says {path_event!r} but the body is {envelope.event!r}",
            )
        return await self._dispatch(call, envelope)

    async def _reject(
        self,
        call: _Call,
        status: int,
        auth: AuthResult,
        parse_result: str,
        error: str,
        *,
        keep_text: bool = False,
    ) -> Reply:
        record = call.record(status, auth, parse_result, error)
        if keep_text:
            text = call.body.decode("utf-8", errors="replace")[: self.settings.raw_text_limit]
            record = replace(record, payload_json=None, body_text=text)
        raw_id = await repository.record_raw(self.pool, record)
        log.info(
            "webhook rejected", status=status, reason=parse_result, error=error[:300], raw_event_id=raw_id
        )
        return Reply(status, {"error": parse_result, "detail": error, "raw_event_id": raw_id})

    async def _dispatch(self, call: _Call, envelope: WebhookEnvelope) -> Reply:
        match envelope.event:
            case "messages.upsert":
                return await self._message(call, envelope, echo=False)
            case "send.message":
                return await self._message(call, envelope, echo=True)
            case "messages.update":
                return await self._delivery_status(call, envelope)
            case "messages.edited" | "messages.delete":
                return await self._edit(call, envelope)
            case "connection.update" | "qrcode.updated":
                return await self._lifecycle(call, envelope)
        # Every other event (messages.set history, contacts, chats, presence…) is kept raw only.
        raw_id = await repository.record_raw(self.pool, call.record(200, AuthResult.OK, "ignored"))
        return Reply(200, {"status": "ignored", "raw_event_id": raw_id})

    # ------------------------------------------------------------ messages

    async def _message(self, call: _Call, envelope: WebhookEnvelope, *, echo: bool) -> Reply:
        instance = call.instance
        assert instance is not None
        try:
            data = MessageData.model_validate(envelope.data)
        except ValidationError as error:
            return await self._reject(call, 422, AuthResult.OK, "invalid_data", _validation_summary(error))
        key = data.key
        identity = identity_of(key)
        kind = chat_kind(key.remote_jid)
        text = extract_text(data.message)
        category = category_of(data.message, data.message_type, text)
        call.media = media_of(data.message, data.message_type)
        when = sent_at(data.message_timestamp, call.received_at)
        fresh = call.received_at - when <= timedelta(seconds=self.settings.freshness_window_s)
        push_name = _clean(data.push_name) if not key.from_me else None

        chat = self._known_chat(instance, identity.jid, identity.lid)
        message = NewMessage(
            id=uuid.uuid4(),
            tenant_id=instance.tenant_id,
            instance_id=instance.id,
            conversation_id=chat[1] if chat else _UNRESOLVED,
            contact_id=chat[0] if chat else _UNRESOLVED,
            provider_id=key.id,
            direction="outbound" if key.from_me else "inbound",
            origin="mirage" if echo else ("unknown" if key.from_me else "contact"),
            source_event=envelope.event,
            chat_jid=key.remote_jid,
            sender_jid=key.participant if kind is not ChatKind.DIRECT else None,
            push_name=push_name,
            message_type=data.message_type,
            category=category.value,
            text=text,
            sent_at=when,
            fresh=fresh,
            delivery_status=data.status,
            app_origin=_clean(data.app_origin),
            script_id=_clean(data.script_id),
        )
        record = call.record(200, AuthResult.OK, "accepted")
        if chat is not None:
            # Known chat: one autocommit statement, one round trip, one WAL flush.
            async with self.pool.acquire() as conn:
                result, prepared = await self._store(
                    conn, call, record, message, identity.reply_to, echo=echo
                )
        elif (
            created := await self._store_with_new_chat(call, record, message, identity, kind, echo)
        ) is not None:
            # A contact nobody knew: its chat and the message in one statement.
            result, prepared = created
        else:
            # A known contact in a chat this process has not seen: resolve it (completing its
            # identity) and store the message in ONE transaction.
            async with self.pool.acquire() as conn, conn.transaction():
                contact_id = await repository.resolve_contact(
                    conn,
                    instance.tenant_id,
                    jid=identity.jid,
                    lid=identity.lid,
                    phone=identity.phone,
                    push_name=push_name,
                )
                conversation_id = await repository.resolve_conversation(
                    conn,
                    tenant_id=instance.tenant_id,
                    instance_id=instance.id,
                    contact_id=contact_id,
                    chat_kind=kind.value,
                )
                message = replace(message, contact_id=contact_id, conversation_id=conversation_id)
                result, prepared = await self._store(
                    conn, call, record, message, identity.reply_to, echo=echo
                )
            self._remember_chat(instance, identity.jid, identity.lid, contact_id, conversation_id)
        if result.outbox_ids:
            self.relay.notify(prepared.staged(result.outbox_ids))
        status = "accepted" if result.inserted else "duplicate"
        return Reply(
            200,
            {
                "status": status,
                "message_id": str(message.id) if result.inserted else None,
                "raw_event_id": result.raw_id,
            },
        )

    async def _store_with_new_chat(
        self,
        call: _Call,
        record: RawRecord,
        message: NewMessage,
        identity: Identity,
        kind: ChatKind,
        echo: bool,
    ) -> tuple[repository.StoreResult, PreparedEvents] | None:
        """Create the chat of a contact nobody knew and store the message, in one statement;
        None (nothing written) when the contact exists: the careful path completes its identity."""
        instance = call.instance
        assert instance is not None
        # Fresh ids for the contact and its conversation: the statement creates both with them,
        # so `message.received` can be staged in the same statement.
        message = replace(message, contact_id=uuid.uuid4(), conversation_id=uuid.uuid4())
        prepared = self._events_of(call, message, identity.reply_to, echo=echo)
        chat = repository.NewChat(
            jid=identity.jid, lid=identity.lid, phone=identity.phone, chat_kind=kind.value
        )
        stored = await repository.store_message_in_new_chat(
            self.pool, record, message, prepared, chat, outbox=self.outbox, echo=echo
        )
        if stored is None:
            return None
        self._remember_chat(instance, identity.jid, identity.lid, message.contact_id, message.conversation_id)
        return stored, prepared

    async def _store(
        self,
        conn: Connection,
        call: _Call,
        record: RawRecord,
        message: NewMessage,
        reply_to: str,
        *,
        echo: bool,
    ) -> tuple[repository.StoreResult, PreparedEvents]:
        """Store the message (and its `message.received` unless it is Mirage's own echo)."""
        prepared = self._events_of(call, message, reply_to, echo=echo)
        result = await repository.store_message(
            conn, record, message, prepared, outbox=self.outbox, echo=echo
        )
        return result, prepared

    def _events_of(self, call: _Call, message: NewMessage, reply_to: str, *, echo: bool) -> PreparedEvents:
        """The message's `message.received`, ready to stage; none for Mirage's own echo."""
        instance = call.instance
        assert instance is not None
        return self.outbox.prepare(
            [] if echo else [_message_received(instance, message, reply_to, call.media)]
        )

    def _known_chat(
        self, instance: KnownInstance, jid: str | None, lid: str | None
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        """(contact id, conversation id) of a chat this process has already stored, if any."""
        return self._chats.get((instance.id, jid, lid))

    def _remember_chat(
        self,
        instance: KnownInstance,
        jid: str | None,
        lid: str | None,
        contact_id: uuid.UUID,
        conversation_id: uuid.UUID,
    ) -> None:
        # Only after COMMIT: a rolled-back insert must never be remembered.
        if len(self._chats) >= 100_000:
            self._chats.clear()
        self._chats[(instance.id, jid, lid)] = (contact_id, conversation_id)

    # ------------------------------------------------ statuses and edits

    async def _delivery_status(self, call: _Call, envelope: WebhookEnvelope) -> Reply:
        instance = call.instance
        assert instance is not None
        try:
            data = MessageUpdateData.model_validate(envelope.data)
        except ValidationError as error:
            return await self._reject(call, 422, AuthResult.OK, "invalid_data", _validation_summary(error))
        status = data.status.upper()
        if status not in DELIVERY_ORDER:
            return await self._reject(call, 422, AuthResult.OK, "invalid_data", f"unknown status {status!r}")
        raw_id, updated = await repository.update_delivery_status(
            self.pool,
            call.record(200, AuthResult.OK, "accepted"),
            instance_id=instance.id,
            provider_id=data.key_id,
            status=status,
            order=DELIVERY_ORDER,
            unchanged_result="no_change",
        )
        return Reply(200, {"status": "accepted" if updated else "no_change", "raw_event_id": raw_id})

    async def _edit(self, call: _Call, envelope: WebhookEnvelope) -> Reply:
        instance = call.instance
        assert instance is not None
        document = envelope.data
        if envelope.event == "messages.delete" and isinstance(document, dict) and "key" not in document:
            document = {"key": document, "type": "REVOKE"}
        try:
            data = EditedMessageData.model_validate(document)
        except ValidationError as error:
            return await self._reject(call, 422, AuthResult.OK, "invalid_data", _validation_summary(error))
        async with self.pool.acquire() as conn, conn.transaction():
            if envelope.event == "messages.delete" or is_revoke(data):
                changed = await repository.apply_revoke(conn, instance.id, data.key.id)
            else:
                text = edited_text(data)
                changed = text is not None and await repository.apply_edit(
                    conn, instance.id, data.key.id, text
                )
            raw_id = await repository.record_raw(
                conn, call.record(200, AuthResult.OK, "accepted" if changed else "no_change")
            )
        # An edit never triggers a reply: no event is published for it.
        return Reply(200, {"status": "accepted" if changed else "no_change", "raw_event_id": raw_id})

    # ----------------------------------------------------- instance state

    async def _lifecycle(self, call: _Call, envelope: WebhookEnvelope) -> Reply:
        instance = call.instance
        assert instance is not None
        qr: QrCode | None = None
        pairing: Pairing | None = None
        status_code: int | None = None
        try:
            if envelope.event == "connection.update":
                update = ConnectionUpdateData.model_validate(envelope.data)
                trigger = trigger_for_connection_update(update.state, update.status_reason)
                status_code = update.status_reason
                pairing = Pairing(update.wuid, update.profile_name) if update.wuid else None
            else:
                qr_update = QrCodeUpdatedData.model_validate(envelope.data)
                trigger = Trigger.QR_ISSUED if qr_update.qrcode and qr_update.qrcode.code else None
                if qr_update.qrcode:
                    qr = QrCode(qr_update.qrcode.code, qr_update.qrcode.base64, qr_update.qrcode.pairing_code)
        except ValidationError as error:
            return await self._reject(call, 422, AuthResult.OK, "invalid_data", _validation_summary(error))
        if trigger is None:
            raw_id = await repository.record_raw(self.pool, call.record(200, AuthResult.OK, "ignored"))
            return Reply(200, {"status": "ignored", "raw_event_id": raw_id})
        reported_at = envelope.reported_at()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await claim_report(
                conn, instance.id, reported_at, self._reorder_window, server_url=envelope.server_url
            ):
                # A late retry of a report older than one already applied: applying it would
                # walk the instance back (a stale `connecting` after `open`, a stale QR).
                raw_id = await repository.record_raw(conn, call.record(200, AuthResult.OK, "stale"))
                return Reply(200, {"status": "stale", "raw_event_id": raw_id})
            raw_id = await repository.record_raw(conn, call.record(200, AuthResult.OK, "accepted"))
            staged = await _apply(conn, instance, trigger, self.outbox, raw_id, status_code, qr, pairing)
        self.relay.notify(staged)
        return Reply(200, {"status": "accepted", "raw_event_id": raw_id})


async def _apply(
    conn: Connection,
    instance: KnownInstance,
    trigger: Trigger,
    outbox: Outbox,
    raw_id: int,
    status_code: int | None,
    qr: QrCode | None,
    pairing: Pairing | None,
) -> list[StagedEvent]:
    try:
        outcome = await apply_trigger(
            conn,
            instance_id=instance.id,
            trigger=trigger,
            outbox=outbox,
            correlation_id=uuid.uuid5(uuid.NAMESPACE_OID, f"raw_event:{raw_id}"),
            status_code=status_code,
            qr=qr,
            pairing=pairing,
        )
    except UnknownInstanceError:
        return []
    return outcome.staged


def _message_received(
    instance: KnownInstance, message: NewMessage, reply_to: str, media: MediaInfo | None = None
) -> MessageReceived:
    return MessageReceived(
        tenant_id=instance.tenant_id,
        correlation_id=message.id,
        data=MessageReceivedData(
            message_id=message.id,
            instance_id=instance.id,
            instance_name=instance.name,
            conversation_id=message.conversation_id,
            contact_id=message.contact_id,
            provider_message_id=message.provider_id,
            from_me=message.direction == "outbound",
            chat_jid=message.chat_jid,
            reply_to=reply_to,
            sender_jid=message.sender_jid,
            push_name=message.push_name,
            chat_kind=ChatKind(chat_kind(message.chat_jid)),
            category=MessageCategory(message.category),
            text=message.text,
            message_type=message.message_type,
            sent_at=message.sent_at,
            fresh=message.fresh,
            app_origin=message.app_origin,
            script_id=message.script_id,
            media=media,
        ),
    )


def _clean(value: str | None) -> str | None:
    return value.replace("\x00", "") if value else value


def _validation_summary(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)

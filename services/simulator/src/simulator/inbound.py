"""Messages people send to an instance: the `messages.upsert` data Evolution 2.3.6 emits."""

from __future__ import annotations

from typing import Any

from simulator.messages import (
    GROUP_SUFFIX,
    LID_SUFFIX,
    USER_SUFFIX,
    digits_of,
    epoch_seconds,
    message_context_info,
    new_phone_message_id,
    received_message,
)
from simulator.state import Instance
from simulator.wire import Prop, check_object, schema_error

_INBOUND_PROPS = (
    Prop("from", "string", required=True, non_empty=True),
    Prop("text", "string"),
    Prop("push_name", "string"),
    Prop("lid", "string"),
    Prop("id", "string", non_empty=True),
    Prop("timestamp", "integer"),
    Prop("from_me", "boolean"),
    Prop("group", "string"),
    Prop("addressing", "string", enum=("pn", "lid")),
    Prop("message", "object"),
    Prop("message_type", "string"),
)


def _lid_jid(value: str) -> str:
    return value if value.endswith(LID_SUFFIX) else digits_of(value) + LID_SUFFIX


def _group_jid(value: str) -> str:
    return value if value.endswith(GROUP_SUFFIX) else value + GROUP_SUFFIX


def build_inbound(instance: Instance, body: Any) -> dict[str, Any]:
    """The `messages.upsert` data for a `/_sim/instances/{instance}/inbound` body.

    `from` (digits) and `text` are required; optional: `push_name`, `lid` (the
    contact's LID; with it the key is LID-addressed unless `addressing` is "pn"),
    `id`, `timestamp` (epoch seconds), `from_me` (typed on the instance's own
    phone), `group` (a group JID; `from` is then the participant), and `message`
    + `message_type` to send any other content instead of `text`.
    """
    problems = check_object(body, _INBOUND_PROPS)
    if not problems:
        if "text" not in body and "message" not in body:
            problems.append('instance requires property "text"')
        if not digits_of(body["from"]):
            problems.append('"from" must hold the sender\'s phone digits')
        if body.get("addressing") == "lid" and not body.get("lid"):
            problems.append('"addressing": "lid" needs "lid"')
    if problems:
        raise schema_error(problems)

    phone_jid = digits_of(body["from"]) + USER_SUFFIX
    lid_jid = _lid_jid(body["lid"]) if body.get("lid") else None
    addressing = body.get("addressing") or ("lid" if lid_jid else "pn")
    sender, sender_alt = (lid_jid, phone_jid) if addressing == "lid" else (phone_jid, lid_jid)
    from_me = body.get("from_me") is True
    message_id = body.get("id") or new_phone_message_id()

    key: dict[str, Any]
    if body.get("group"):
        key = {"remoteJid": _group_jid(body["group"]), "fromMe": from_me, "id": message_id}
        key["participant"] = sender
        if sender_alt:
            key["participantAlt"] = sender_alt
    else:
        key = {"remoteJid": sender}
        if sender_alt:
            key["remoteJidAlt"] = sender_alt
        key["fromMe"] = from_me
        key["id"] = message_id
    key["addressingMode"] = addressing

    if "message" in body:
        message = body["message"]
        message_type = body.get("message_type") or next(
            (name for name in message if name != "messageContextInfo"), "unknown"
        )
    else:
        message = {"conversation": body["text"], "messageContextInfo": message_context_info()}
        message_type = body.get("message_type") or "conversation"

    return received_message(
        key=key,
        push_name=body.get("push_name"),
        from_me=from_me,
        message=message,
        message_type=message_type,
        timestamp=body.get("timestamp") or epoch_seconds(),
        instance_id=instance.id,
    )

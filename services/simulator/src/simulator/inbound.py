"""Messages people send to an instance: the `messages.upsert` data Evolution 2.3.6 emits."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from simulator.media import (
    AUDIO_MIMETYPE,
    IMAGE_MIMETYPE,
    MediaBlob,
    audio_message,
    image_message,
    image_png,
    voice_note_bytes,
)
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
    Prop("audio", "object"),
    Prop("image", "object"),
)
_AUDIO_PROPS = (
    Prop("seconds", "integer", required=True),
    Prop("transcript", "string", required=True),
    # Evolution's OpenAI `speechToText` setting: the upsert already carries the transcript.
    Prop("speech_to_text", "boolean"),
)
_IMAGE_PROPS = (
    Prop("caption", "string"),
    Prop("description", "string", required=True),
)
_CONTENT_KEYS = ("text", "message", "audio", "image")


@dataclass(frozen=True)
class Inbound:
    """A message a person sends: the `messages.upsert` data, and its media when it has some."""

    data: dict[str, Any]
    media: MediaBlob | None = None


def _lid_jid(value: str) -> str:
    return value if value.endswith(LID_SUFFIX) else digits_of(value) + LID_SUFFIX


def _group_jid(value: str) -> str:
    return value if value.endswith(GROUP_SUFFIX) else value + GROUP_SUFFIX


def build_inbound(instance: Instance, body: Any, *, inline_base64: bool = False) -> Inbound:
    """The `messages.upsert` data for a `/_sim/instances/{instance}/inbound` body.

    `from` (digits) and `text` are required; optional: `push_name`, `lid` (the
    contact's LID; with it the key is LID-addressed unless `addressing` is "pn"),
    `id`, `timestamp` (epoch seconds), `from_me` (typed on the instance's own
    phone), `group` (a group JID; `from` is then the participant), and `message`
    + `message_type` to send any other content instead of `text`.

    Instead of `text`: `audio` `{seconds, transcript, speech_to_text?}` (a voice note) or
    `image` `{caption?, description}`. `inline_base64` (the webhook's `base64` setting)
    adds `message.base64`, as Evolution does.
    """
    problems = check_object(body, _INBOUND_PROPS)
    if not problems:
        if not any(key in body for key in _CONTENT_KEYS):
            problems.append('instance requires property "text"')
        if sum(key in body for key in _CONTENT_KEYS) > 1:
            problems.append('only one of "text", "message", "audio" or "image" may be given')
        if "audio" in body:
            problems.extend(check_object(body["audio"], _AUDIO_PROPS, "audio"))
            if not problems and body["audio"]["seconds"] < 1:
                problems.append("audio.seconds must be at least 1")
        if "image" in body:
            problems.extend(check_object(body["image"], _IMAGE_PROPS, "image"))
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

    media: MediaBlob | None = None
    if "message" in body:
        message = body["message"]
        message_type = body.get("message_type") or next(
            (name for name in message if name != "messageContextInfo"), "unknown"
        )
    elif "audio" in body:
        audio = body["audio"]
        audio_bytes = voice_note_bytes(audio["seconds"], audio["transcript"])
        media = MediaBlob("audioMessage", AUDIO_MIMETYPE, audio_bytes, f"{message_id}.oga")
        message = {
            "audioMessage": audio_message(audio_bytes, audio["seconds"]),
            "messageContextInfo": message_context_info(),
        }
        if audio.get("speech_to_text") is True:
            message["speechToText"] = f"[audio] {audio['transcript']}"
        message_type = "audioMessage"
    elif "image" in body:
        image = body["image"]
        png = image_png(image["description"])
        caption = image.get("caption") or None
        media = MediaBlob("imageMessage", IMAGE_MIMETYPE, png, f"{message_id}.png", caption, 48, 48)
        message = {"imageMessage": image_message(png, caption), "messageContextInfo": message_context_info()}
        message_type = "imageMessage"
    else:
        message = {"conversation": body["text"], "messageContextInfo": message_context_info()}
        message_type = body.get("message_type") or "conversation"
    if media is not None and inline_base64:
        message["base64"] = base64.b64encode(media.data).decode()

    data = received_message(
        key=key,
        push_name=body.get("push_name"),
        from_me=from_me,
        message=message,
        message_type=message_type,
        timestamp=body.get("timestamp") or epoch_seconds(),
        instance_id=instance.id,
    )
    return Inbound(data=data, media=media)

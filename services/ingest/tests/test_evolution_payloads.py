"""Reading Evolution payloads: text, categories, identities, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import ChatKind, MessageCategory
from ingest.evolution_payloads import (
    MessageData,
    MessageKey,
    WebhookEnvelope,
    category_of,
    chat_kind,
    digits_of,
    event_to_kebab,
    extract_text,
    identity_of,
    media_of,
    sent_at,
)


def test_text_comes_from_conversation_first() -> None:
    assert extract_text({"conversation": "a", "extendedTextMessage": {"text": "b"}}) == "a"


def test_text_falls_back_through_extended_text_caption_and_speech() -> None:
    assert extract_text({"extendedTextMessage": {"text": "b"}}) == "b"
    assert extract_text({"imageMessage": {"caption": "foto", "mediaKey": {"0": 1}}}) == "foto"
    assert extract_text({"videoMessage": {"caption": "vídeo"}}) == "vídeo"
    assert extract_text({"documentMessage": {"caption": "doc"}}) == "doc"
    # Evolution's transcript without its "[audio]" marker: a spoken "pare" must read as typed (issue 14).
    assert extract_text({"audioMessage": {"seconds": 3}, "speechToText": "[audio] oi"}) == "oi"
    assert extract_text({"audioMessage": {"seconds": 3}}) is None
    assert extract_text({"conversation": "   "}) is None
    assert extract_text(None) is None


def test_nul_characters_are_removed_from_text() -> None:
    assert extract_text({"conversation": "a\x00b"}) == "ab"


@pytest.mark.parametrize(
    ("message", "message_type", "expected"),
    [
        ({"conversation": "oi"}, "conversation", MessageCategory.TEXT),
        # 2.1.x: text moved to `conversation` but messageType still says extendedTextMessage.
        ({"conversation": "oi"}, "extendedTextMessage", MessageCategory.TEXT),
        ({"reactionMessage": {"text": "👍"}}, "reactionMessage", MessageCategory.REACTION),
        ({"protocolMessage": {"type": 0}}, "protocolMessage", MessageCategory.PROTOCOL),
        ({"editedMessage": {}}, None, MessageCategory.PROTOCOL),
        ({"pollUpdateMessage": {}}, "pollUpdateMessage", MessageCategory.POLL_UPDATE),
        ({"audioMessage": {"ptt": True}}, "audioMessage", MessageCategory.AUDIO),
        ({"imageMessage": {"caption": "x"}}, "imageMessage", MessageCategory.MEDIA),
        ({"stickerMessage": {}}, "stickerMessage", MessageCategory.MEDIA),
        ({}, "unknownMessage", MessageCategory.OTHER),
    ],
)
def test_categories_come_from_content_not_message_type_alone(
    message: dict[str, object], message_type: str | None, expected: MessageCategory
) -> None:
    assert category_of(message, message_type, extract_text(message)) is expected


def test_chat_kinds() -> None:
    assert chat_kind("5511999990001@s.whatsapp.net") is ChatKind.DIRECT
    assert chat_kind("123@lid") is ChatKind.DIRECT
    assert chat_kind("120363@g.us") is ChatKind.GROUP
    assert chat_kind("status@broadcast") is ChatKind.BROADCAST
    assert chat_kind("1203@newsletter") is ChatKind.NEWSLETTER


def _key(remote: str, alt: str | None = None) -> MessageKey:
    return MessageKey.model_validate({"remoteJid": remote, "remoteJidAlt": alt, "id": "X"})


def test_reply_goes_to_the_phone_jid_when_the_chat_is_a_lid() -> None:
    identity = identity_of(_key("98765@lid", "5511999990001@s.whatsapp.net"))
    assert identity.reply_to == "5511999990001@s.whatsapp.net"
    assert identity.lid == "98765@lid"
    assert identity.jid == "5511999990001@s.whatsapp.net"
    assert identity.phone == "5511999990001"


def test_a_lid_without_alternative_is_answered_on_the_lid() -> None:
    identity = identity_of(_key("98765@lid"))
    assert identity.reply_to == "98765@lid"
    assert identity.jid is None
    assert identity.phone is None


def test_a_phone_jid_is_its_own_reply_target() -> None:
    identity = identity_of(_key("5511999990001@s.whatsapp.net", "98765@lid"))
    assert identity.reply_to == "5511999990001@s.whatsapp.net"
    assert identity.lid == "98765@lid"


def test_groups_are_identified_by_the_group_jid() -> None:
    identity = identity_of(_key("120363@g.us"))
    assert identity.jid == identity.reply_to == "120363@g.us"


@pytest.mark.parametrize("raw", [1761142022, "1761142022", {"low": 1761142022, "high": 0, "unsigned": False}])
def test_message_timestamps_in_every_serialisation(raw: object) -> None:
    data = MessageData.model_validate(
        {"key": {"remoteJid": "1@s.whatsapp.net", "id": "A"}, "messageTimestamp": raw}
    )
    assert data.message_timestamp == 1761142022


def test_a_nonsense_timestamp_is_a_validation_error() -> None:
    with pytest.raises(ValueError, match="epoch seconds"):
        MessageData.model_validate(
            {"key": {"remoteJid": "1@s.whatsapp.net", "id": "A"}, "messageTimestamp": "soon"}
        )


def test_sent_at_accepts_seconds_and_milliseconds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert sent_at(1761142022, now) == sent_at(1761142022000, now)
    assert sent_at(None, now) == now


def test_event_suffixes() -> None:
    assert event_to_kebab("messages.upsert") == "messages-upsert"
    assert event_to_kebab("group-participants.update") == "group-participants-update"
    assert event_to_kebab("typebot.change-status") == "typebot-change-status"


def test_digits() -> None:
    assert digits_of("5511999990001@s.whatsapp.net") == "5511999990001"
    assert digits_of("5511999990001:12@s.whatsapp.net") == "5511999990001"


def test_speech_to_text_loses_its_marker_so_a_spoken_keyword_reads_as_typed() -> None:
    message = {
        "audioMessage": {
            "mimetype": "audio/ogg; codecs=opus",
            "seconds": 2,
            "ptt": True,
            "fileLength": "4000",
        },
        "speechToText": "[audio] pare",
    }
    assert extract_text(message) == "pare"
    media = media_of(message, "audioMessage")
    assert media is not None
    assert (media.kind, media.voice_note, media.transcribed, media.seconds) == ("audio", True, True, 2)
    assert media.file_length == 4000
    assert not media.inline


def test_media_of_names_each_kind_and_never_carries_bytes() -> None:
    image = media_of(
        {"imageMessage": {"mimetype": "image/jpeg", "fileLength": {"low": 12, "high": 0}}, "base64": "AAAA"},
        "imageMessage",
    )
    assert image is not None
    assert (image.kind, image.mimetype, image.file_length, image.inline) == ("image", "image/jpeg", 12, True)
    assert "AAAA" not in image.model_dump_json()
    assert media_of({"stickerMessage": {}}, "stickerMessage") is not None
    assert media_of({"locationMessage": {"degreesLatitude": 1}}, None).kind == "location"  # type: ignore[union-attr]
    assert media_of({"conversation": "oi"}, "conversation") is None
    assert media_of(None, None) is None


@pytest.mark.parametrize(
    ("date_time", "expected"),
    [
        ("2025-10-22T14:05:31.482Z", datetime(2025, 10, 22, 14, 5, 31, 482000, tzinfo=UTC)),
        ("2025-10-22T14:05:31", datetime(2025, 10, 22, 14, 5, 31, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_the_envelope_date_time_is_read_as_evolutions_clock(
    date_time: str | None, expected: datetime | None
) -> None:
    envelope = WebhookEnvelope(event="connection.update", instance="i", date_time=date_time)
    assert envelope.reported_at() == expected

"""Payload building blocks: ids, JIDs, sources, QR images."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from datetime import UTC, datetime

import pytest

from simulator.messages import (
    digits_of,
    evolution_date_time,
    fake_owner_number,
    message_source,
    new_message_id,
    new_phone_message_id,
    new_token,
    parse_recipient,
    qr_payload,
    qr_png_data_url,
)
from simulator.state import kebab, upper_snake


def test_message_ids_look_like_web_sends() -> None:
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    for message_id in ids:
        assert re.fullmatch(r"3EB0[0-9A-F]{18}", message_id)
        assert message_source(message_id) == "web"
    assert message_source(new_phone_message_id()) == "android"
    assert message_source("3A" + "0" * 18) == "ios"
    assert message_source("short") == "unknown"


def test_tokens_are_upper_case_uuid4() -> None:
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}", new_token())


@pytest.mark.parametrize(
    ("number", "jid", "digits"),
    [
        ("5511999990001", "5511999990001@s.whatsapp.net", "5511999990001"),
        ("+55 (11) 99999 0001", "5511999990001@s.whatsapp.net", "5511999990001"),
        ("5531988887777", "553188887777@s.whatsapp.net", "553188887777"),
        ("5531966667777", "5531966667777@s.whatsapp.net", "5531966667777"),
        ("5215512345678", "525512345678@s.whatsapp.net", "525512345678"),
        ("5511999990001@s.whatsapp.net", "5511999990001@s.whatsapp.net", "5511999990001"),
        ("123456789012345@lid", "123456789012345@lid", "123456789012345"),
        ("120363000000000000@g.us", "120363000000000000@g.us", "120363000000000000"),
        ("120363000000000000123", "120363000000000000123@g.us", "120363000000000000123"),
    ],
)
def test_parse_recipient_follows_create_jid(number: str, jid: str, digits: str) -> None:
    recipient = parse_recipient(number)
    assert recipient.jid == jid
    assert recipient.digits == digits


def test_digits_of_strips_suffix_and_device() -> None:
    assert digits_of("5511999990001:12@s.whatsapp.net") == "5511999990001"
    assert digits_of("+55 (11) 9999-0001") == "551199990001"


def test_event_name_forms() -> None:
    assert upper_snake("messages.upsert") == "MESSAGES_UPSERT"
    assert upper_snake("group-participants.update") == "GROUP_PARTICIPANTS_UPDATE"
    assert kebab("typebot.change-status") == "typebot-change-status"
    assert kebab("connection.update") == "connection-update"


def test_date_time_is_local_wall_clock_with_z() -> None:
    moment = datetime(2025, 10, 22, 14, 5, 31, 482_000, tzinfo=UTC)
    local = moment.astimezone()
    expected = local.strftime("%Y-%m-%dT%H:%M:%S") + ".482Z"
    assert evolution_date_time(moment) == expected


def test_fake_owner_number_is_stable_brazilian_mobile() -> None:
    number = fake_owner_number("demo-1")
    assert number == fake_owner_number("demo-1")
    assert re.fullmatch(r"55119\d{8}", number)


def test_qr_png_is_a_valid_image() -> None:
    code = qr_payload()
    assert code.startswith("2@")
    assert code.count(",") == 3
    url = qr_png_data_url(code)
    png = base64.b64decode(url.removeprefix("data:image/png;base64,"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height == 132
    # Every chunk's CRC is right and the pixel data inflates to the declared size.
    offset, idat = 8, b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + data) == crc
        if kind == b"IDAT":
            idat += data
        offset += 12 + length
    assert len(zlib.decompress(idat)) == height * (width + 1)

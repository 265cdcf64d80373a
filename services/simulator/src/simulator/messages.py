"""Evolution-shaped payloads: message ids, JIDs, timestamps, message objects and QR codes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
import struct
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

USER_SUFFIX = "@s.whatsapp.net"
LID_SUFFIX = "@lid"
GROUP_SUFFIX = "@g.us"

_BASE36 = string.digits + string.ascii_lowercase
_PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ0123456789"


def now_utc() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def epoch_seconds() -> int:
    """Unix time in whole seconds (Evolution's `messageTimestamp`)."""
    return int(time.time())


def iso_utc(moment: datetime) -> str:
    """`2025-10-22T14:05:31.482Z`, the way Prisma dates serialise."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def evolution_date_time(moment: datetime | None = None) -> str:
    """The envelope's `date_time`: local wall-clock time with a misleading `Z` (as Evolution)."""
    local = (moment or now_utc()).astimezone()
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}Z"


def new_message_id() -> str:
    """A 22-character `3EB0…` id, the format of messages sent through Evolution (source web)."""
    return "3EB0" + secrets.token_hex(9).upper()


def new_phone_message_id() -> str:
    """A 32-character id, the format Android phones give the messages people type."""
    return secrets.token_hex(16).upper()


def new_record_id() -> str:
    """A cuid-like database id (`cm…`, 25 characters), like Prisma rows in Evolution."""
    # One read of the random source, not one per character: this runs per delivery.
    value = int.from_bytes(secrets.token_bytes(15), "big")
    digits = []
    for _ in range(23):
        value, digit = divmod(value, 36)
        digits.append(_BASE36[digit])
    return "cm" + "".join(digits)


def new_token() -> str:
    """An instance token: an upper-case UUID4, Evolution's default."""
    raw = secrets.token_hex(16)
    variant = "89ab"[secrets.randbelow(4)]
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[17:20]}-{raw[20:32]}".upper()


def new_uuid() -> str:
    """A lower-case UUID4 (Evolution's instance ids)."""
    return new_token().lower()


def message_source(message_id: str) -> str:
    """The device an id comes from, as Baileys' `getDevice` derives it."""
    if re.fullmatch(r"3A.{18}", message_id):
        return "ios"
    if re.fullmatch(r"3E.{20}", message_id):
        return "web"
    if re.fullmatch(r".{21}|.{32}", message_id):
        return "android"
    if re.match(r"3F|.{18}$", message_id):
        return "desktop"
    return "unknown"


RecipientKind = Literal["user", "lid", "group"]


@dataclass(frozen=True)
class Recipient:
    """Where a send goes: the JID Evolution resolves and the digits it names."""

    jid: str
    digits: str
    kind: RecipientKind


def _format_mx_ar(number: str) -> str:
    # Mexico and Argentina mobiles drop the digit after the country code.
    if number[:2] in {"52", "54"} and len(number) == 13:
        return number[:2] + number[3:]
    return number


def _format_br(number: str) -> str:
    # Brazil: outside the 11-30 area codes, a 13-digit mobile whose local part starts
    # at 7-9 loses its ninth digit (WhatsApp registered those numbers before 2012).
    match = re.fullmatch(r"(\d{2})(\d{2})\d(\d{8})", number)
    if match is None or match.group(1) != "55":
        return number
    if int(match.group(3)[0]) < 7 or int(match.group(2)) < 31:
        return number
    return match.group(1) + match.group(2) + match.group(3)


def digits_of(value: str) -> str:
    """The digits that name a number or JID (`+55 (11) 9…`, `5511…@s.whatsapp.net`, `…:12@…`)."""
    user = value.split("@", 1)[0].split(":", 1)[0]
    return re.sub(r"\D", "", user)


def parse_recipient(number: str) -> Recipient:
    """Resolve a send's `number` the way Evolution's `createJid` does."""
    cleaned = re.sub(r":\d+", "", number.strip())
    for suffix, kind in ((GROUP_SUFFIX, "group"), (LID_SUFFIX, "lid"), (USER_SUFFIX, "user")):
        if cleaned.endswith(suffix):
            return Recipient(jid=cleaned, digits=digits_of(cleaned), kind=kind)  # type: ignore[arg-type]
    stripped = re.sub(r"[\s+()]", "", cleaned).split("@", 1)[0]
    if "-" in stripped and len(stripped) >= 24:
        group = re.sub(r"[^\d-]", "", stripped)
        return Recipient(jid=group + GROUP_SUFFIX, digits=digits_of(group), kind="group")
    digits = re.sub(r"\D", "", stripped)
    if len(digits) >= 18:
        return Recipient(jid=digits + GROUP_SUFFIX, digits=digits, kind="group")
    digits = _format_br(_format_mx_ar(digits))
    return Recipient(jid=digits + USER_SUFFIX, digits=digits, kind="user")


def fake_owner_number(instance_name: str) -> str:
    """A deterministic Brazilian mobile (São Paulo) for an instance with no number."""
    digest = hashlib.sha256(instance_name.encode()).digest()
    local = int.from_bytes(digest[:8], "big") % 100_000_000
    return f"55119{local:08d}"


def _opaque_bytes(size: int) -> dict[str, int]:
    # 2.3.6 serialises protobuf bytes as index-keyed objects (Uint8Array → JSON).
    return {str(index): byte for index, byte in enumerate(secrets.token_bytes(size))}


def _long(value: int) -> dict[str, Any]:
    # ... and 64-bit integers as Long objects.
    return {"low": value & 0xFFFFFFFF, "high": value >> 32, "unsigned": True}


def message_context_info() -> dict[str, Any]:
    """The opaque `messageContextInfo` phones attach, in 2.3.6's serialisation."""
    now = epoch_seconds()
    return {
        "deviceListMetadata": {
            "senderKeyHash": _opaque_bytes(10),
            "senderTimestamp": _long(now - 86_400),
            "recipientKeyHash": _opaque_bytes(10),
            "recipientTimestamp": _long(now - 3_600),
        },
        "deviceListMetadataVersion": 2,
        "messageSecret": _opaque_bytes(32),
    }


def sent_message(
    *,
    remote_jid: str,
    message_id: str,
    text: str,
    instance_id: str,
    timestamp: int,
    quoted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `sendText` response and `send.message` data (evolution-api.md §2)."""
    context: dict[str, Any] = {
        "mentionedJid": [],
        "groupMentions": [],
        "ephemeralSettingTimestamp": {"low": 0, "high": 0, "unsigned": False},
        "disappearingMode": {"initiator": 0},
    }
    if quoted is not None:
        key = quoted.get("key") or {}
        context["stanzaId"] = key.get("id")
        context["participant"] = key.get("remoteJid") or remote_jid
        if isinstance(quoted.get("message"), dict):
            context["quotedMessage"] = quoted["message"]
    return {
        "key": {"remoteJid": remote_jid, "fromMe": True, "id": message_id},
        "pushName": "Você",
        "status": "PENDING",
        "message": {"conversation": text},
        "contextInfo": context,
        "messageType": "conversation",
        "messageTimestamp": timestamp,
        "instanceId": instance_id,
        "source": "web",
    }


def message_update(
    *, key_id: str, remote_jid: str, status: str, instance_id: str, message_id: str
) -> dict[str, Any]:
    """A `messages.update` ack for one of our own sends."""
    return {
        "keyId": key_id,
        "remoteJid": remote_jid,
        "fromMe": True,
        "status": status,
        "instanceId": instance_id,
        "messageId": message_id,
    }


def received_message(
    *,
    key: dict[str, Any],
    push_name: str | None,
    from_me: bool,
    message: dict[str, Any],
    message_type: str,
    timestamp: int,
    instance_id: str,
) -> dict[str, Any]:
    """A `messages.upsert` data object (2.3.6 shape, key as Baileys 7 gives it)."""
    return {
        "key": key,
        "pushName": push_name if push_name is not None else ("Você" if from_me else None),
        "status": "SERVER_ACK" if from_me else "DELIVERY_ACK",
        "message": message,
        "messageType": message_type,
        "messageTimestamp": timestamp,
        "instanceId": instance_id,
        "source": message_source(str(key.get("id", ""))),
    }


def disconnection_object(status_code: int, moment: datetime) -> str:
    """The `disconnectionObject` JSON string (Baileys' Boom error of the last disconnect)."""
    return orjson.dumps(
        {
            "error": {
                "data": None,
                "isBoom": True,
                "isServer": False,
                "output": {
                    "statusCode": status_code,
                    "payload": {
                        "statusCode": status_code,
                        "error": _boom_error(status_code),
                        "message": "Connection Failure",
                    },
                    "headers": {},
                },
            },
            "date": iso_utc(moment),
        }
    ).decode()


def _boom_error(status_code: int) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 428: "Precondition Required"}.get(
        status_code, "Internal Server Error"
    )


def pairing_code() -> str:
    """An 8-character pairing code as WhatsApp shows it (`ABCD1234`)."""
    return "".join(secrets.choice(_PAIRING_ALPHABET) for _ in range(8))


def qr_payload() -> str:
    """The `code` of a QR: `2@<ref>,<noise key>,<identity key>,<adv secret>`."""

    def b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode()

    return f"2@{b64(72)},{b64(32)},{b64(32)},{b64(32)}"


def _png(pixels: list[bytes], width: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, len(pixels), 8, 0, 0, 0, 0)  # 8-bit greyscale
    raw = b"".join(b"\x00" + row for row in pixels)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def qr_png_data_url(code: str, modules: int = 29, scale: int = 4, border: int = 2) -> str:
    """A real PNG that looks like a QR code (finder patterns, pseudo-random modules)."""
    seed = hashlib.sha256(code.encode()).digest()
    bits = int.from_bytes(hashlib.shake_256(seed).digest(modules * modules // 8 + 1), "big")

    def finder(row: int, col: int) -> bool | None:
        for top, left in ((0, 0), (0, modules - 7), (modules - 7, 0)):
            r, c = row - top, col - left
            if 0 <= r < 7 and 0 <= c < 7:
                ring = min(r, c, 6 - r, 6 - c)
                return ring != 1
        return None

    size = (modules + 2 * border) * scale
    rows: list[bytes] = []
    for y in range(modules + 2 * border):
        line = bytearray()
        for x in range(modules + 2 * border):
            row, col = y - border, x - border
            dark = False
            if 0 <= row < modules and 0 <= col < modules:
                fixed = finder(row, col)
                dark = fixed if fixed is not None else bool(bits >> (row * modules + col) & 1)
            line.extend((0 if dark else 255,) * scale)
        rows.extend([bytes(line)] * scale)
    return "data:image/png;base64," + base64.b64encode(_png(rows, size)).decode()

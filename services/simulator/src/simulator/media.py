"""Media people send (voice notes, images): Evolution 2.3.6 message shapes and the bytes behind them.

The bytes are deterministic and carry what they "say": a voice note is a small Ogg-looking file
whose payload holds its transcript, an image a real PNG whose `tEXt` chunk holds its
description. So `/v1/audio/transcriptions` and a vision request to `/v1/chat/completions`
answer the same words for the same bytes, even after a restart of the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from simulator.messages import epoch_seconds

AUDIO_MIMETYPE = "audio/ogg; codecs=opus"
IMAGE_MIMETYPE = "image/png"
_TRANSCRIPT_MARK = b"MIRAGE-SIM-TRANSCRIPT:"
_DESCRIPTION_KEY = b"Description"
# Opus voice notes run at about 16 kbit/s: 2 kB a second of speech.
_AUDIO_BYTES_PER_SECOND = 2_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class MediaBlob:
    """One media message the simulator delivered, as `getBase64FromMediaMessage` serves it."""

    media_type: str  # `audioMessage`, `imageMessage`
    mimetype: str
    data: bytes
    file_name: str
    caption: str | None = None
    width: int | None = None
    height: int | None = None

    def base64_view(self) -> dict[str, Any]:
        """The `getBase64FromMediaMessage` answer (Evolution 2.3.6 `getBase64FromMediaMessage`)."""
        size: dict[str, Any] = {"fileLength": str(len(self.data))}
        if self.width is not None and self.height is not None:
            size.update({"height": self.height, "width": self.width})
        return {
            "mediaType": self.media_type,
            "fileName": self.file_name,
            "caption": self.caption,
            "size": size,
            "mimetype": self.mimetype,
            "base64": base64.b64encode(self.data).decode(),
            "buffer": None,
        }


class MediaLibrary:
    """The media of delivered messages, by (instance, message id); bounded, oldest forgotten first."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._blobs: OrderedDict[tuple[str, str], MediaBlob] = OrderedDict()

    def add(self, instance: str, message_id: str, blob: MediaBlob) -> None:
        """Remember the media of one delivered message."""
        self._blobs[(instance, message_id)] = blob
        while len(self._blobs) > self._limit:
            self._blobs.popitem(last=False)

    def get(self, instance: str, message_id: str) -> MediaBlob | None:
        """The media of one delivered message, if the simulator delivered it."""
        return self._blobs.get((instance, message_id))

    def clear(self) -> None:
        """Forget everything."""
        self._blobs.clear()


# ------------------------------------------------------------------ bytes


def voice_note_bytes(seconds: int, transcript: str) -> bytes:
    """An Ogg-looking voice note of about `seconds` of speech whose payload names its transcript."""
    header = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    spoken = _TRANSCRIPT_MARK + transcript.encode() + b"\x00"
    size = max(len(header) + len(spoken), max(1, seconds) * _AUDIO_BYTES_PER_SECOND)
    seed = hashlib.sha256(spoken).digest()
    filler = hashlib.shake_256(seed).digest(max(0, size - len(header) - len(spoken)))
    return header + spoken + filler


def transcript_in(data: bytes) -> str | None:
    """The transcript a simulated voice note carries; None for any other audio."""
    start = data.find(_TRANSCRIPT_MARK)
    if start < 0:
        return None
    start += len(_TRANSCRIPT_MARK)
    end = data.find(b"\x00", start)
    return data[start : end if end >= 0 else None].decode("utf-8", errors="replace")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def image_png(description: str, size: int = 48) -> bytes:
    """A real greyscale PNG (a pattern derived from `description`) with the description in `tEXt`."""
    seed = hashlib.shake_256(description.encode()).digest(size)
    rows = b"".join(b"\x00" + bytes(seed[(x + y) % size] for x in range(size)) for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", _DESCRIPTION_KEY + b"\x00" + description.encode())
        + _chunk(b"IDAT", zlib.compress(rows, 6))
        + _chunk(b"IEND", b"")
    )


def description_in(data: bytes) -> str | None:
    """The description a simulated image carries; None for any other bytes."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        if kind == b"tEXt" and payload.startswith(_DESCRIPTION_KEY + b"\x00"):
            return payload[len(_DESCRIPTION_KEY) + 1 :].decode("utf-8", errors="replace")
        position += 12 + length
    return None


def description_in_data_url(url: str) -> str | None:
    """The description of a simulated image given as a `data:image/png;base64,…` URL."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1], validate=False)
    except ValueError:
        return None
    return description_in(data)


# ------------------------------------------------------------------ message shapes


def _opaque_b64(size: int) -> str:
    # Up to 2.3.5 bytes fields arrive as base64 strings; 2.3.6 as index-keyed objects.
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _media_url(kind: str) -> str:
    token = secrets.token_hex(16)
    return f"https://mmg.whatsapp.net/v/t62.{kind}/{token}.enc?ccb=11-4&oh=01_Q5&oe=6A2B3C4D&_nc_sid=5e03e0"


def _media_fields(data: bytes, path_kind: str, mimetype: str) -> dict[str, Any]:
    """What every downloadable media message carries (its encrypted file's address and keys)."""
    return {
        "url": _media_url(path_kind),
        "mimetype": mimetype,
        "fileSha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "fileLength": str(len(data)),
        "mediaKey": _opaque_b64(32),
        "fileEncSha256": _opaque_b64(32),
        "directPath": f"/v/t62.{path_kind}/" + secrets.token_hex(12) + ".enc",
        "mediaKeyTimestamp": str(epoch_seconds()),
    }


def audio_message(data: bytes, seconds: int) -> dict[str, Any]:
    """`message.audioMessage` of a voice note (ptt), as Baileys 7 gives it."""
    return {
        **_media_fields(data, "7114-24", AUDIO_MIMETYPE),
        "seconds": seconds,
        "ptt": True,
        "waveform": _opaque_b64(64),
    }


def image_message(data: bytes, caption: str | None, size: int = 48) -> dict[str, Any]:
    """`message.imageMessage` (caption only when there is one), as Baileys 7 gives it."""
    message: dict[str, Any] = {
        **_media_fields(data, "7118-24", IMAGE_MIMETYPE),
        "height": size,
        "width": size,
        "jpegThumbnail": _opaque_b64(24),
    }
    if caption:
        message["caption"] = caption
    return message

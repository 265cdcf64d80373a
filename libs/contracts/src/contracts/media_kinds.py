"""The media kind Mirage names each WhatsApp message type by (docs/media.md).

Ingest reads it from a webhook's content key, the generator from a message's `messageType`:
both spell the kinds from this one table.
"""

from __future__ import annotations

from typing import Final

# Evolution `messageType` (also the WhatsApp content key) → the media kind.
MEDIA_KINDS: Final[dict[str, str]] = {
    "audioMessage": "audio",
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "documentMessage": "document",
    "documentWithCaptionMessage": "document",
    "stickerMessage": "sticker",
    "locationMessage": "location",
    "liveLocationMessage": "location",
    "contactMessage": "contact",
    "contactsArrayMessage": "contact",
}

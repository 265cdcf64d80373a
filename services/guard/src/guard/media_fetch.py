"""Fetching the bytes of a media message, with size limits and mime checks on everything fetched.

Three sources, in order: the webhook's own `base64` (kept in the raw event ingest stored), the
`mediaUrl` Evolution gives when it keeps media in S3, and Evolution's
`POST /chat/getBase64FromMediaMessage/{instance}`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog

from contracts import MediaInfo
from evolution_client import EvolutionSettings
from guard.settings import MediaSettings
from messaging import backoff_delay_s

log = structlog.get_logger(__name__)

# Statuses a later attempt may not see again.
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Magic numbers of the formats each kind accepts: what the bytes are, whatever they claim.
_AUDIO_MAGIC = (
    b"OggS",
    b"ID3",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xf2",
    b"\xff\xf1",
    b"\xff\xf9",
    b"#!AMR",
    b"RIFF",
)
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class MediaRejected(Exception):  # noqa: N818 - reads as what happened to the media
    """The media can never be used (too large, wrong type, unknown to Evolution): not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaUnavailable(Exception):  # noqa: N818
    """Fetching failed on every attempt (Evolution down, timeouts, 5xx)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchedMedia:
    """Bytes that passed the checks, and where they came from."""

    data: bytes
    mimetype: str
    source: str  # webhook_base64, media_url, evolution

    @property
    def sha256(self) -> str:
        """Hex digest of the bytes."""
        return hashlib.sha256(self.data).hexdigest()


def base_mimetype(value: str | None) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`."""
    return (value or "").split(";", 1)[0].strip().lower()


def _looks_like(kind: str, data: bytes) -> bool:
    if kind == "audio":
        if data[4:8] == b"ftyp":  # MP4/M4A
            return True
        if data.startswith(b"\x1aE\xdf\xa3"):  # WebM
            return True
        return data.startswith(_AUDIO_MAGIC)
    if kind == "image":
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return True
        return data.startswith(_IMAGE_MAGIC)
    return False


class MediaFetcher:
    """Gets a media message's bytes and checks them; one shared HTTP client."""

    def __init__(self, settings: MediaSettings, evolution: EvolutionSettings) -> None:
        self.settings = settings
        self.evolution = evolution
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (created on first use)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.evolution.timeout(), limits=self.evolution.limits())
        return self._client

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def limit(self, kind: str) -> int:
        """Most bytes accepted for `kind`."""
        return self.settings.max_audio_bytes if kind == "audio" else self.settings.max_image_bytes

    def check_declared(self, media: MediaInfo) -> None:
        """Refuse before fetching what the webhook already says cannot be used."""
        allowed = self.settings.audio_mimetypes if media.kind == "audio" else self.settings.image_mimetypes
        declared = base_mimetype(media.mimetype)
        if declared and declared not in allowed:
            raise MediaRejected(f"unsupported_mimetype: {declared}")
        if media.file_length is not None and media.file_length > self.limit(media.kind):
            raise MediaRejected(f"too_large: {media.file_length} bytes (limit {self.limit(media.kind)})")

    def check_fetched(self, kind: str, data: bytes, mimetype: str | None, source: str) -> FetchedMedia:
        """The bytes, once their size, declared type and content agree with `kind`."""
        if not data:
            raise MediaRejected("empty_media")
        if len(data) > self.limit(kind):
            raise MediaRejected(f"too_large: {len(data)} bytes (limit {self.limit(kind)})")
        allowed = self.settings.audio_mimetypes if kind == "audio" else self.settings.image_mimetypes
        declared = base_mimetype(mimetype)
        if declared and declared not in allowed:
            raise MediaRejected(f"unsupported_mimetype: {declared}")
        if not _looks_like(kind, data):
            raise MediaRejected(f"content_mismatch: the bytes are not {kind}")
        return FetchedMedia(
            data=data, mimetype=declared or ("audio/ogg" if kind == "audio" else "image/jpeg"), source=source
        )

    def _decode(self, kind: str, encoded: str) -> bytes:
        # base64 grows by 4/3: refuse before decoding something far over the limit.
        if len(encoded) > self.limit(kind) * 4 // 3 + 8:
            raise MediaRejected(f"too_large: about {len(encoded) * 3 // 4} bytes (limit {self.limit(kind)})")
        payload = encoded.split(";base64,", 1)[1] if encoded.startswith("data:") else encoded
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as error:
            raise MediaRejected(f"invalid_base64: {error}") from error

    async def fetch(
        self,
        media: MediaInfo,
        *,
        instance_name: str,
        provider_message_id: str,
        inline_base64: str | None,
    ) -> FetchedMedia:
        """The checked bytes of one media message; raises `MediaRejected` or `MediaUnavailable`."""
        self.check_declared(media)
        if inline_base64:
            data = self._decode(media.kind, inline_base64)
            return self.check_fetched(media.kind, data, media.mimetype, "webhook_base64")
        if media.url:
            return await self._retrying(lambda: self._from_url(media), what="media_url")
        return await self._retrying(
            lambda: self._from_evolution(media, instance_name, provider_message_id), what="evolution"
        )

    async def _retrying(self, attempt: Callable[[], Awaitable[FetchedMedia]], *, what: str) -> FetchedMedia:
        last = ""
        for number in range(1, self.settings.fetch_attempts + 1):
            try:
                return await attempt()
            except _Transient as error:
                last = str(error)
                log.warning("media fetch failed", source=what, attempt=number, error=last)
            if number < self.settings.fetch_attempts:
                await asyncio.sleep(backoff_delay_s(number, base_s=self.settings.fetch_backoff_s, max_s=5.0))
        raise MediaUnavailable(f"fetch_failed ({what}, {self.settings.fetch_attempts} attempts): {last}")

    async def _from_url(self, media: MediaInfo) -> FetchedMedia:
        assert media.url is not None
        try:
            async with self.client.stream("GET", media.url) as response:
                _raise_for(response.status_code, "media_url")
                data = await _read_limited(response, self.limit(media.kind))
                mimetype = response.headers.get("content-type") or media.mimetype
        except httpx.HTTPError as error:
            raise _Transient(f"{type(error).__name__}: {error}") from error
        return self.check_fetched(media.kind, data, mimetype, "media_url")

    async def _from_evolution(
        self, media: MediaInfo, instance_name: str, provider_message_id: str
    ) -> FetchedMedia:
        url = f"{self.evolution.base_url.rstrip('/')}/chat/getBase64FromMediaMessage/{instance_name}"
        headers = {"apikey": self.evolution.api_key.get_secret_value()}
        body = {"message": {"key": {"id": provider_message_id}}, "convertToMp4": False}
        try:
            response = await self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise _Transient(f"{type(error).__name__}: {error}") from error
        _raise_for(response.status_code, "evolution", response.text)
        # base64 grows by 4/3; a body far over the limit is refused unread.
        if len(response.content) > self.limit(media.kind) * 4 // 3 + 64 * 1024:
            raise MediaRejected(f"too_large: answer of {len(response.content)} bytes")
        try:
            document = response.json()
        except ValueError as error:
            raise _Transient(f"not JSON: {error}") from error
        encoded = document.get("base64") if isinstance(document, dict) else None
        if not isinstance(encoded, str) or not encoded:
            raise MediaRejected("evolution answered without base64")
        mimetype = document.get("mimetype") if isinstance(document.get("mimetype"), str) else media.mimetype
        return self.check_fetched(media.kind, self._decode(media.kind, encoded), mimetype, "evolution")


class _Transient(Exception):  # noqa: N818
    """One attempt failed in a way the next may not."""


def _raise_for(status: int, source: str, detail: str = "") -> None:
    if status < 300:
        return
    if status in _RETRYABLE_STATUSES:
        raise _Transient(f"{source} answered {status}")
    raise MediaRejected(f"{source} answered {status}: {detail[:200]}")


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise MediaRejected(f"too_large: over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

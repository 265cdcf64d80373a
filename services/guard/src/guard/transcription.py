"""Voice notes to text through an OpenAI-compatible `/v1/audio/transcriptions`.

The `openai` SDK client lives in `guard.openai_transcriber`, imported only when transcription
is configured: the SDK costs a guard 0.7 s of start-up and its memory otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from guard.settings import TranscriptionSettings


class TranscriptionFailed(Exception):  # noqa: N818 - reads as what the call reports
    """No transcript, even after the SDK's retries."""


class Transcriber(Protocol):
    """Turns a voice note into text."""

    model: str

    async def transcribe(self, audio: bytes, mimetype: str) -> str:
        """The transcript; raises `TranscriptionFailed`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def build_transcriber(settings: TranscriptionSettings, environ: Mapping[str, str]) -> Transcriber | None:
    """The configured transcriber, or None (no key and no base URL, or switched off)."""
    if not settings.enabled:
        return None
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    api_key = api_key or environ.get("OPENAI_API_KEY") or None
    base_url = settings.base_url or environ.get("OPENAI_BASE_URL") or None
    if api_key is None and base_url is None:
        return None
    from guard.openai_transcriber import OpenAITranscriber  # noqa: PLC0415 - only when configured

    return OpenAITranscriber(settings, api_key, base_url)

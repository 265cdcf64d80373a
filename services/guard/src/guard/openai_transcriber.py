"""The `openai` SDK's `audio.transcriptions.create` as a `guard.transcription.Transcriber`."""

from __future__ import annotations

import httpx2
from openai import APIConnectionError, APIStatusError, AsyncOpenAI, DefaultAioHttpClient, OpenAIError

from guard.settings import TranscriptionSettings
from guard.transcription import TranscriptionFailed

# Sent as the bearer token to a base URL configured without a key (local servers ignore it).
KEYLESS_API_KEY = "no-key-configured"
# Kept-alive connections to the transcription server: how many voice notes are transcribed at
# once (HTTP/1.1 carries one request at a time per connection).
MAX_CONNECTIONS = 256
_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
}


class OpenAITranscriber:
    """`audio.transcriptions.create` on any OpenAI-compatible server, language hint from settings."""

    def __init__(self, settings: TranscriptionSettings, api_key: str | None, base_url: str | None) -> None:
        self.model = settings.model
        self.language = settings.language
        self.client = AsyncOpenAI(
            api_key=api_key or KEYLESS_API_KEY,
            base_url=base_url,
            timeout=settings.timeout_s,
            # Attempts in all: the first plus the SDK's retries (with its backoff).
            max_retries=settings.attempts - 1,
            # The aiohttp transport, as the generator's model client: the SDK's default httpx
            # transport cost about 4x the CPU per transcription under hundreds of concurrent
            # voice notes and left the guard CPU-bound (`BENCH transcription_path`,
            # docs/benchmarks.md); a bounded, fully kept-alive pool opens no connection per call.
            http_client=DefaultAioHttpClient(
                timeout=settings.timeout_s,
                limits=httpx2.Limits(
                    max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
                ),
            ),
        )

    async def transcribe(self, audio: bytes, mimetype: str) -> str:
        """The transcript of `audio`; empty speech is a failure (nothing to answer)."""
        name = f"voice-note.{_EXTENSIONS.get(mimetype, 'ogg')}"
        try:
            result = await self.client.audio.transcriptions.create(
                model=self.model,
                file=(name, audio, mimetype),
                language=self.language,
                response_format="json",
            )
        except APIStatusError as error:
            raise TranscriptionFailed(f"HTTP {error.status_code}: {_first_line(error)}") from error
        except APIConnectionError as error:  # timeouts included
            # The transport's own error says which (the aiohttp adapter reports a refused
            # connection as a connect timeout).
            cause = f" ({_first_line(error.__cause__)})" if error.__cause__ is not None else ""
            raise TranscriptionFailed(f"{type(error).__name__}: {_first_line(error)}{cause}") from error
        except OpenAIError as error:
            raise TranscriptionFailed(f"{type(error).__name__}: {_first_line(error)}") from error
        text = (getattr(result, "text", None) or "").strip()
        if not text:
            raise TranscriptionFailed("empty transcript")
        return text

    async def close(self) -> None:
        """Close the SDK's connection pool."""
        await self.client.close()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""

"""The guard's media step: before a voice note is decided on, it becomes text.

It runs in the message's own lane (one conversation in order), before the decision, so a
spoken "pare" is the opt-out a typed one is, and a voice note never overtakes the text that
followed it. It holds no database connection during a fetch or a transcription, writes what
it did to `message_media` (so a redelivery repeats nothing), and never raises for a media
problem: a fetch or transcription that fails after its retries is recorded with its reason
and the message is decided without text, which gets the persona's "could you type it?".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts import ChatKind, MessageReceived
from database import Pool
from guard import media_repository
from guard.media_fetch import FetchedMedia, MediaFetcher, MediaRejected, MediaUnavailable
from guard.media_repository import MediaRecord
from guard.settings import MediaSettings
from guard.transcription import Transcriber, TranscriptionFailed

log = structlog.get_logger(__name__)

# `message_media.status`
STORED = "stored"
TRANSCRIBED = "transcribed"
FAILED = "failed"
# Reasons recorded in `message_media.failure_reason` (prefixes; details follow a colon).
NOT_CONFIGURED = "transcription_not_configured"


class MediaMetrics:
    """What the media step did (Prometheus, on the guard's `/metrics`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.outcomes = Counter(
            "mirage_guard_media",
            "Media messages the guard's media step handled, by kind and outcome"
            " (transcribed, evolution_transcript, stored, failed).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "mirage_guard_media_failures",
            "Media the step could not use, by kind and cause"
            " (fetch_failed, too_large, transcription_failed, …).",
            ["kind", "cause"],
            registry=registry,
        )
        self.transcription_seconds = Histogram(
            "mirage_guard_transcription_seconds",
            "Duration of one transcription (the SDK's retries included), by outcome.",
            ["outcome"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
            registry=registry,
        )


@dataclass(frozen=True)
class Understood:
    """What the step learnt: the transcript of a voice note, when there is one."""

    transcript: str | None = None


class MediaUnderstanding:
    """Fetches, stores and transcribes the media a decision needs."""

    def __init__(
        self,
        *,
        settings: MediaSettings,
        fetcher: MediaFetcher,
        transcriber: Transcriber | None,
        pool: Pool | None = None,
        metrics: MediaMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.transcriber = transcriber
        self._pool = pool
        self.metrics = metrics or MediaMetrics()

    def bind(self, pool: Pool) -> None:
        """Attach the database pool opened at start-up."""
        self._pool = pool

    @property
    def pool(self) -> Pool:
        """The database pool (bound at start-up)."""
        if self._pool is None:
            raise RuntimeError("the media step ran before start-up bound its pool")
        return self._pool

    @property
    def retention(self) -> timedelta:
        """How long fetched bytes are kept."""
        return timedelta(hours=self.settings.retention_hours)

    def concerns(self, event: MessageReceived) -> bool:
        """Whether the step has anything to do for this message (cheap: no I/O)."""
        message = event.data
        media = message.media
        if media is None or message.from_me or message.chat_kind is not ChatKind.DIRECT:
            return False
        if media.kind == "audio":
            return True
        # An image with a caption is text; one without is kept for the generator's vision model.
        return media.kind == "image" and self.settings.fetch_images and not (message.text or "").strip()

    async def understand(self, event: MessageReceived) -> Understood:
        """The transcript of a voice note (None for other media, or when it failed)."""
        if not self.concerns(event):
            return Understood()
        message = event.data
        media = message.media
        assert media is not None
        done = await media_repository.load(self.pool, message.message_id)
        if done is not None and (done.status in (TRANSCRIBED, FAILED) or media.kind != "audio"):
            return Understood(done.transcript)
        if media.kind == "audio" and media.transcribed and (message.text or "").strip():
            # Evolution's own `speechToText`: recorded, no call made.
            await self._save(event, TRANSCRIBED, transcript=message.text, transcript_source="evolution")
            return Understood(message.text)
        if media.kind == "audio" and self.transcriber is None:
            await self._save(event, FAILED, failure_reason=NOT_CONFIGURED)
            return Understood()

        fetched: FetchedMedia | None = None
        if done is not None and done.content is not None:
            fetched = FetchedMedia(done.content, done.mimetype or "audio/ogg", "stored")
        else:
            # A voice note's bytes are written once, with its transcript (or its failure).
            fetched = await self._fetch(event, store=media.kind != "audio")
            if fetched is None:
                return Understood()
        if media.kind != "audio":
            return Understood()
        return await self._transcribe(event, fetched)

    async def _fetch(self, event: MessageReceived, *, store: bool) -> FetchedMedia | None:
        message = event.data
        media = message.media
        assert media is not None
        try:
            inline = (
                await media_repository.inline_base64(self.pool, message.message_id) if media.inline else None
            )
            fetched = await self.fetcher.fetch(
                media,
                instance_name=message.instance_name,
                provider_message_id=message.provider_message_id,
                inline_base64=inline,
            )
        except (MediaRejected, MediaUnavailable) as problem:
            log.warning("media not fetched", message_id=str(message.message_id), reason=problem.reason)
            await self._save(event, FAILED, failure_reason=problem.reason, attempts=1)
            return None
        if store:
            await self._save(event, STORED, fetched=fetched)
        return fetched

    async def _transcribe(self, event: MessageReceived, fetched: FetchedMedia) -> Understood:
        transcriber = self.transcriber
        assert transcriber is not None
        started = time.monotonic()
        try:
            transcript = await transcriber.transcribe(fetched.data, fetched.mimetype)
        except TranscriptionFailed as failure:
            self.metrics.transcription_seconds.labels("failed").observe(time.monotonic() - started)
            log.warning(
                "voice note not transcribed", message_id=str(event.data.message_id), error=str(failure)
            )
            await self._save(
                event, FAILED, fetched=fetched, failure_reason=f"transcription_failed: {failure}", attempts=1
            )
            return Understood()
        self.metrics.transcription_seconds.labels("ok").observe(time.monotonic() - started)
        await self._save(
            event,
            TRANSCRIBED,
            fetched=fetched,
            transcript=transcript,
            transcript_source="transcription",
            transcription_model=transcriber.model,
            attempts=1,
        )
        return Understood(transcript)

    async def _save(
        self,
        event: MessageReceived,
        status: str,
        *,
        fetched: FetchedMedia | None = None,
        transcript: str | None = None,
        transcript_source: str | None = None,
        transcription_model: str | None = None,
        failure_reason: str | None = None,
        attempts: int = 0,
    ) -> None:
        message = event.data
        assert message.media is not None
        kind = message.media.kind
        outcome = "evolution_transcript" if transcript_source == "evolution" else status
        self.metrics.outcomes.labels(kind, outcome).inc()
        if failure_reason is not None:
            self.metrics.failures.labels(kind, failure_reason.split(":", 1)[0].split(" ", 1)[0]).inc()
        await media_repository.save(
            self.pool,
            MediaRecord(
                message_id=message.message_id,
                tenant_id=event.tenant_id,
                instance_id=message.instance_id,
                conversation_id=message.conversation_id,
                kind=message.media.kind,
                status=status,
                # Bytes read back from the row are not written again.
                mimetype=fetched.mimetype if fetched else message.media.mimetype,
                content=fetched.data if fetched and fetched.source != "stored" else None,
                sha256=fetched.sha256 if fetched and fetched.source != "stored" else None,
                source=fetched.source if fetched and fetched.source != "stored" else None,
                transcript=transcript,
                transcript_source=transcript_source,
                transcription_model=transcription_model,
                failure_reason=failure_reason,
                attempts=attempts,
            ),
            self.retention,
        )

    async def expire(self) -> int:
        """Delete stored bytes past their retention period (run periodically)."""
        expired = await media_repository.expire_content(self.pool)
        if expired:
            log.info("expired stored media", count=expired)
        return expired

    async def close(self) -> None:
        """Release HTTP connections."""
        await self.fetcher.close()
        if self.transcriber is not None:
            await self.transcriber.close()

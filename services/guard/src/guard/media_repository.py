"""SQL of the guard's media step: it writes `message_media` and reads ingest's raw events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from database import Pool


@dataclass(frozen=True)
class MediaRow:
    """What the media step already did for one message."""

    status: str
    transcript: str | None
    failure_reason: str | None
    # The stored bytes (None once the retention period is over, or never fetched).
    content: bytes | None
    mimetype: str | None


@dataclass(frozen=True)
class MediaRecord:
    """One `message_media` row to write."""

    message_id: uuid.UUID
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    conversation_id: uuid.UUID
    kind: str
    status: str
    mimetype: str | None = None
    content: bytes | None = None
    sha256: str | None = None
    source: str | None = None
    transcript: str | None = None
    transcript_source: str | None = None
    transcription_model: str | None = None
    failure_reason: str | None = None
    attempts: int = 0


async def load(pool: Pool, message_id: uuid.UUID) -> MediaRow | None:
    """The media row of a message, if the step wrote one."""
    row = await pool.fetchrow(
        "SELECT status, transcript, failure_reason, content, mimetype"
        " FROM message_media WHERE message_id = $1",
        message_id,
    )
    if row is None:
        return None
    return MediaRow(row["status"], row["transcript"], row["failure_reason"], row["content"], row["mimetype"])


async def inline_base64(pool: Pool, message_id: uuid.UUID) -> str | None:
    """The `message.base64` the webhook carried (Evolution's webhook `base64` setting), if any."""
    value = await pool.fetchval(
        "SELECT r.payload #>> '{data,message,base64}' FROM messages m"
        " JOIN raw_events r ON r.id = m.raw_event_id WHERE m.id = $1",
        message_id,
    )
    return value if isinstance(value, str) and value else None


async def save(pool: Pool, record: MediaRecord, retention: timedelta) -> None:
    """Insert or update the message's row; content expires `retention` after it was stored."""
    await pool.execute(
        """
        INSERT INTO message_media (message_id, tenant_id, instance_id, conversation_id, kind, status,
                                   mimetype, size_bytes, content, content_expires_at, sha256, source,
                                   transcript, transcript_source, transcription_model, failure_reason,
                                   attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, octet_length($8::bytea), $8::bytea,
                CASE WHEN $8::bytea IS NULL THEN NULL ELSE now() + $9::interval END,
                $10, $11, $12, $13, $14, $15, $16)
        ON CONFLICT (message_id) DO UPDATE SET
            status = excluded.status,
            mimetype = coalesce(excluded.mimetype, message_media.mimetype),
            size_bytes = coalesce(excluded.size_bytes, message_media.size_bytes),
            content = coalesce(excluded.content, message_media.content),
            content_expires_at = coalesce(excluded.content_expires_at, message_media.content_expires_at),
            sha256 = coalesce(excluded.sha256, message_media.sha256),
            source = coalesce(excluded.source, message_media.source),
            transcript = coalesce(excluded.transcript, message_media.transcript),
            transcript_source = coalesce(excluded.transcript_source, message_media.transcript_source),
            transcription_model = coalesce(excluded.transcription_model, message_media.transcription_model),
            failure_reason = excluded.failure_reason,
            attempts = message_media.attempts + excluded.attempts,
            updated_at = now()
        """,
        record.message_id,
        record.tenant_id,
        record.instance_id,
        record.conversation_id,
        record.kind,
        record.status,
        record.mimetype,
        record.content,
        retention,
        record.sha256,
        record.source,
        record.transcript,
        record.transcript_source,
        record.transcription_model,
        record.failure_reason,
        record.attempts,
    )


async def expire_content(pool: Pool, limit: int = 500) -> int:
    """Delete the bytes whose retention period is over (transcripts and metadata stay)."""
    result = await pool.execute(
        "UPDATE message_media SET content = NULL, updated_at = now() WHERE message_id IN ("
        " SELECT message_id FROM message_media"
        " WHERE content IS NOT NULL AND content_expires_at <= now() LIMIT $1)",
        limit,
    )
    return int(result.split()[-1]) if result else 0

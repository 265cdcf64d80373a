"""Voice notes and images (issue 14; docs/media.md).

- `message_media` (writer: guard): one row per media message the guard's media step handled:
  the bytes it fetched (behind the message id, the only reference events carry; cleared by
  the retention sweep at `content_expires_at`), the transcript of a voice note and where it
  came from (Evolution's `speechToText` or Mirage's transcription), or why the media could
  not be understood (`failure_reason`).
- `personas.media_replies` (writer: api; read by the generator): how the persona answers
  media it cannot read, per kind (`{"document": "acknowledge", "sticker": "silence", ...}`);
  kinds left out keep the generator's defaults.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE TABLE message_media (
        message_id uuid PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        instance_id uuid NOT NULL,
        conversation_id uuid NOT NULL,
        kind text NOT NULL,
        mimetype text,
        size_bytes integer,
        sha256 text,
        -- The media itself; NULL once the retention period is over (or never fetched).
        content bytea,
        content_expires_at timestamptz,
        -- Where the bytes came from: webhook_base64, media_url or evolution (getBase64FromMediaMessage).
        source text,
        status text NOT NULL CHECK (status IN ('stored', 'transcribed', 'failed', 'skipped')),
        transcript text,
        transcript_source text CHECK (transcript_source IN ('evolution', 'transcription')),
        transcription_model text,
        failure_reason text,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX message_media_expiry ON message_media (content_expires_at) WHERE content IS NOT NULL;
    CREATE INDEX message_media_conversation ON message_media (conversation_id);
    COMMENT ON TABLE message_media IS 'writer: guard';

    ALTER TABLE personas ADD COLUMN media_replies jsonb NOT NULL DEFAULT '{}'::jsonb;
    COMMENT ON COLUMN personas.media_replies IS
        'writer: api; per media kind: acknowledge or silence (docs/media.md)';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE personas DROP COLUMN IF EXISTS media_replies;
    DROP TABLE IF EXISTS message_media;
    """)

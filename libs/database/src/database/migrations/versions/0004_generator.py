"""Schema changes owned by the generator service (tables whose writer is generator).

`replies` gains what an operator needs to read a reply's story: the burst of messages it
answered (`message_ids`, also the basis of response-time metrics), why a fallback was sent
instead of the model's answer (`error`), and a `confirmation` kind for the fixed opt-out and
opt-in confirmations, which are neither model replies nor fallbacks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE replies ADD COLUMN message_ids uuid[] NOT NULL DEFAULT '{}';
    ALTER TABLE replies ADD COLUMN error text;
    ALTER TABLE replies DROP CONSTRAINT replies_kind_check;
    ALTER TABLE replies ADD CONSTRAINT replies_kind_check
        CHECK (kind IN ('reply', 'warmup_turn', 'fallback', 'confirmation'));
    CREATE INDEX replies_failed ON replies (created_at) WHERE error IS NOT NULL;
    COMMENT ON COLUMN replies.kind IS
        'reply: written by the model or the offline generator; fallback: a fixed text instead of an answer (no text received, model failed); confirmation: opt-out/opt-in confirmation; warmup_turn: a warm-up round turn';
    COMMENT ON COLUMN replies.message_ids IS 'the burst of messages (messages.id) this reply answers, oldest first';
    COMMENT ON COLUMN replies.error IS 'why the model gave no answer, when a fallback was sent instead';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS replies_failed;
    UPDATE replies SET kind = 'reply' WHERE kind = 'confirmation';
    ALTER TABLE replies DROP CONSTRAINT IF EXISTS replies_kind_check;
    ALTER TABLE replies ADD CONSTRAINT replies_kind_check CHECK (kind IN ('reply', 'warmup_turn', 'fallback'));
    COMMENT ON COLUMN replies.kind IS NULL;
    ALTER TABLE replies DROP COLUMN IF EXISTS error;
    ALTER TABLE replies DROP COLUMN IF EXISTS message_ids;
    """)

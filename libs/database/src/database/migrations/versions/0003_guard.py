"""Schema changes owned by the guard service (tables whose writer is guard).

`guard_decisions` gains what lets any guard replica answer a debounced burst from the
database alone (Redis only schedules it): the `message.received` event that carried the
message (`event_id`, `correlation_id`, for the reply's causation and correlation), where
the reply goes (`instance_id`, `contact_id`, `reply_to`) and the pause a suspected bot
loop adds (`reply_delay_ms`). Decisions are constrained to the guard's vocabulary, and a
partial index finds the debounced messages still waiting for their reply (the flush
re-checks them; the repair sweep re-schedules those whose Redis entry was lost).

The guard's own-message check looks up `sends.provider_message_id` across every
instance (a warm-up message sent by instance A arrives on instance B with the same
WhatsApp id); the unique `(instance_id, provider_message_id)` index cannot serve that,
so a read index for it is added here (`sends` stays the sender's to write).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE guard_decisions
        ADD COLUMN event_id uuid,
        ADD COLUMN correlation_id uuid,
        ADD COLUMN instance_id uuid,
        ADD COLUMN contact_id uuid,
        ADD COLUMN reply_to text,
        ADD COLUMN reply_delay_ms integer NOT NULL DEFAULT 0 CHECK (reply_delay_ms >= 0),
        ADD CONSTRAINT guard_decisions_decision_check CHECK (decision IN (
            'reply', 'debounced', 'ignored', 'paused', 'blocked', 'opted_out', 'opted_in', 'blacklisted'
        ));
    CREATE INDEX guard_decisions_awaiting_reply ON guard_decisions (decided_at)
        WHERE decision = 'debounced' AND reply_request_id IS NULL;
    COMMENT ON COLUMN guard_decisions.decision IS
        'reply: a reply was requested (reply_request_id); debounced: waiting for the end of the burst; ignored, paused, blocked, opted_out, opted_in, blacklisted: no (model) reply, see reason';
    COMMENT ON COLUMN guard_decisions.reply_request_id IS 'event id of the reply.requested that answers this message (with the rest of its burst)';
    COMMENT ON COLUMN guard_decisions.event_id IS 'the message.received event the decision was made on';
    COMMENT ON COLUMN guard_decisions.reply_to IS 'where a reply goes (phone JID when known, else @lid)';
    COMMENT ON COLUMN guard_decisions.reply_delay_ms IS 'extra pause before answering (suspected bot loop)';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS guard_decisions_awaiting_reply;
    ALTER TABLE guard_decisions
        DROP CONSTRAINT IF EXISTS guard_decisions_decision_check,
        DROP COLUMN IF EXISTS reply_delay_ms,
        DROP COLUMN IF EXISTS reply_to,
        DROP COLUMN IF EXISTS contact_id,
        DROP COLUMN IF EXISTS instance_id,
        DROP COLUMN IF EXISTS correlation_id,
        DROP COLUMN IF EXISTS event_id;
    COMMENT ON COLUMN guard_decisions.decision IS NULL;
    COMMENT ON COLUMN guard_decisions.reply_request_id IS NULL;
    """)

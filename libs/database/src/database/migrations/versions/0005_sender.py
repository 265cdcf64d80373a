"""Schema changes owned by the sender service (tables whose writer is sender).

`sends` gains what makes a send safe to resume after a crash without ever
sending twice:

- `attempt_started_at`: when the latest HTTP attempt began (database clock), the
  lower bound for finding that attempt's `send.message` echo in `messages`;
- `in_flight_until`: the latest moment the attempt in flight can still be
  running; a redelivered command waits until then before it judges the send
  ambiguous (another consumer may still be waiting for Evolution's answer);
- `failure_code`: a machine-readable reason for `refused`, `failed` and
  `ambiguous` rows (`opted_out`, `number_not_on_whatsapp`, `exhausted`, …).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE sends
        ADD COLUMN attempt_started_at timestamptz,
        ADD COLUMN in_flight_until timestamptz,
        ADD COLUMN failure_code text;
    -- Operators (and the guard's "is this fromMe one of our sends in flight?" check) look these up.
    CREATE INDEX sends_in_flight ON sends (instance_id, recipient_digits) WHERE in_flight;
    CREATE INDEX sends_unsettled ON sends (status, updated_at) WHERE status IN ('sending', 'ambiguous');
    -- The own-id registry read by the guard: is this WhatsApp id one Mirage sent, from any instance?
    CREATE INDEX sends_provider_message_id ON sends (provider_message_id) WHERE provider_message_id IS NOT NULL;
    COMMENT ON COLUMN sends.attempt_started_at IS 'sender: start of the latest HTTP attempt (echo lookup lower bound)';
    COMMENT ON COLUMN sends.in_flight_until IS 'sender: latest end of the attempt in flight; past it a stuck in_flight row is ambiguous';
    COMMENT ON COLUMN sends.failure_code IS 'sender: why the row is refused, failed or ambiguous';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS sends_provider_message_id;
    DROP INDEX IF EXISTS sends_unsettled;
    DROP INDEX IF EXISTS sends_in_flight;
    ALTER TABLE sends
        DROP COLUMN IF EXISTS failure_code,
        DROP COLUMN IF EXISTS in_flight_until,
        DROP COLUMN IF EXISTS attempt_started_at;
    """)

"""Late echoes turn ambiguous sends into sent ones, and resolve their alerts.

- `sends` (sender) keeps the command's event id and correlation id, so a send settled
  long after its command (a late `send.message` echo) publishes `message.sent` in the
  same causal chain.
- `admin_alerts` (api) counts resolutions: an `admin.alert` marked `resolved` (the
  ambiguous send was sent after all, the stalled consumer moves again) resolves one
  occurrence of the open alert of its key; when every occurrence is resolved the alert
  is resolved.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from database.migrations.sql_script import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE sends
        ADD COLUMN command_event_id uuid,
        ADD COLUMN correlation_id uuid;
    COMMENT ON COLUMN sends.command_event_id IS 'sender: the send.requested event that created the row';

    ALTER TABLE admin_alerts
        ADD COLUMN resolved_occurrences integer NOT NULL DEFAULT 0,
        ADD COLUMN resolved_at timestamptz;
    COMMENT ON COLUMN admin_alerts.resolved_occurrences IS
        'api: occurrences whose condition ended (a late echo, a consumer moving again)';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE admin_alerts DROP COLUMN IF EXISTS resolved_at, DROP COLUMN IF EXISTS resolved_occurrences;
    ALTER TABLE sends DROP COLUMN IF EXISTS correlation_id, DROP COLUMN IF EXISTS command_event_id;
    """)

"""Schema changes owned by the api service (tables whose writer is api).

- `instances.name` is unique among *live* instances only: a removed instance keeps
  its row (history, transitions, messages) but frees its name, so an operator can
  create `loja-centro` again after deleting it. Ingest already looks names up with
  `state <> 'removed'`, which this partial index serves.
- The QR-expiry sweep finds `open` instances whose QR timed out through a partial index.
- `admin_alerts` gains its delivery bookkeeping: an alert row is delivered to the
  tenant's webhook at most once per cool-down and alert key (`delivery_state`), with
  bounded retries (`delivery_attempts`, `next_delivery_at`, `delivery_error`).
- `blacklist.phone` holds digits only (the api normalises what operators type).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE instances DROP CONSTRAINT instances_name_key;
    CREATE UNIQUE INDEX instances_live_name ON instances (name) WHERE state <> 'removed';
    COMMENT ON INDEX instances_live_name IS 'api: a name is unique among instances that are not removed';
    CREATE INDEX instances_qr_expiry ON instances (qr_expires_at) WHERE state = 'open';

    ALTER TABLE admin_alerts
        ADD COLUMN delivery_state text NOT NULL DEFAULT 'pending' CHECK (delivery_state IN (
            'pending', 'delivering', 'delivered', 'suppressed', 'failed', 'not_configured'
        )),
        ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN next_delivery_at timestamptz,
        ADD COLUMN delivery_error text;
    CREATE INDEX admin_alerts_undelivered ON admin_alerts (next_delivery_at)
        WHERE delivery_state IN ('pending', 'delivering');
    COMMENT ON COLUMN admin_alerts.delivery_state IS
        'pending: to deliver; delivering: claimed by a replica; delivered: POSTed to the tenant webhook; suppressed: another row of the same alert_key was delivered within the cool-down; failed: gave up; not_configured: the tenant has no alert webhook';

    ALTER TABLE blacklist ADD CONSTRAINT blacklist_phone_digits CHECK (phone ~ '^[0-9]{6,20}$') NOT VALID;
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE blacklist DROP CONSTRAINT IF EXISTS blacklist_phone_digits;
    DROP INDEX IF EXISTS admin_alerts_undelivered;
    ALTER TABLE admin_alerts
        DROP COLUMN IF EXISTS delivery_error,
        DROP COLUMN IF EXISTS next_delivery_at,
        DROP COLUMN IF EXISTS delivery_attempts,
        DROP COLUMN IF EXISTS delivery_state;
    DROP INDEX IF EXISTS instances_qr_expiry;
    DROP INDEX IF EXISTS instances_live_name;
    ALTER TABLE instances ADD CONSTRAINT instances_name_key UNIQUE (name);
    """)

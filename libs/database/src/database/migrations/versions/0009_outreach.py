"""Outreach campaigns, quotas and consent (outreach and api tables).

- `campaign_targets` (api) carries each accepted row's earliest send time (`not_before`) and
  the number it was first assigned to; `campaigns` (api) counts accepted and rejected rows.
- `outreach_number_pace` (outreach): when each sending number may take its next campaign
  send; a number has at most one campaign send outstanding, so replies never queue behind a
  campaign.
- `campaign_target_progress` (outreach) gains `sending` (handed to the sender, waiting for its
  outcome), the number that sends it, and the index its scanner walks: due targets.
- `suppressions` (api): phone hashes of erased contacts (LGPD art. 18), never contacted again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from database.migrations.sql_script import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE campaigns
        ALTER COLUMN send_window SET DEFAULT '[]'::jsonb,
        ADD COLUMN accepted integer NOT NULL DEFAULT 0,
        ADD COLUMN rejected integer NOT NULL DEFAULT 0;
    UPDATE campaigns SET send_window = '[]'::jsonb WHERE send_window = '{}'::jsonb;
    COMMENT ON COLUMN campaigns.send_window IS
        'api: weekly windows [{days, start, end}] in the tenant time zone; empty: any time';

    ALTER TABLE campaign_targets
        ADD COLUMN not_before timestamptz;
    COMMENT ON COLUMN campaign_targets.not_before IS 'api: the paced moment the target may be sent at';

    ALTER TABLE campaign_target_progress DROP CONSTRAINT campaign_target_progress_state_check;
    ALTER TABLE campaign_target_progress
        ADD CONSTRAINT campaign_target_progress_state_check
            CHECK (state IN ('queued','rescheduled','sending','sent','skipped','failed')),
        ADD COLUMN instance_id uuid,
        ADD COLUMN phone text,
        ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX campaign_target_progress_due ON campaign_target_progress (next_attempt_at)
        WHERE state IN ('queued', 'rescheduled');
    CREATE INDEX campaign_target_progress_phone ON campaign_target_progress (tenant_id, phone)
        WHERE state IN ('queued', 'rescheduled');
    CREATE INDEX campaign_target_progress_send ON campaign_target_progress (send_id) WHERE send_id IS NOT NULL;

    CREATE TABLE outreach_number_pace (
        instance_id uuid PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        next_send_at timestamptz NOT NULL DEFAULT now(),
        busy_send_id uuid,
        claimed_target uuid,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE outreach_number_pace IS
        'writer: outreach; when each number may take its next campaign send (one outstanding at a time)';

    CREATE TABLE suppressions (
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        phone_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, phone_hash)
    );
    COMMENT ON TABLE suppressions IS 'writer: api; sha256 of erased contacts'' phone digits: never contact them again';
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE IF EXISTS suppressions;
    DROP TABLE IF EXISTS outreach_number_pace;
    DROP INDEX IF EXISTS campaign_target_progress_send;
    DROP INDEX IF EXISTS campaign_target_progress_phone;
    DROP INDEX IF EXISTS campaign_target_progress_due;
    ALTER TABLE campaign_target_progress
        DROP COLUMN IF EXISTS created_at,
        DROP COLUMN IF EXISTS phone,
        DROP COLUMN IF EXISTS instance_id,
        DROP CONSTRAINT campaign_target_progress_state_check;
    ALTER TABLE campaign_target_progress
        ADD CONSTRAINT campaign_target_progress_state_check
            CHECK (state IN ('queued','rescheduled','sent','skipped','failed'));
    ALTER TABLE campaign_targets DROP COLUMN IF EXISTS not_before;
    ALTER TABLE campaigns
        DROP COLUMN IF EXISTS rejected,
        DROP COLUMN IF EXISTS accepted,
        ALTER COLUMN send_window SET DEFAULT '{}'::jsonb;
    """)

"""Warm-up pairs and rounds (api and scheduler tables).

- `warmup_pairs` (api) gains the pair's profile, its own daily round cap, how the opening
  number is picked, and a soft delete (`deleted_at`): a deleted pair keeps its rounds for the
  statistics. Its windows are a JSON list `[{days, start, end}]`. Two live pairs never join
  the same two numbers.
- `warmup_numbers` (api): the age an operator declared for a number, the ramp's input.
- `rounds` (scheduler) ends `deaf` too (a turn was sent but never arrived at the peer), keeps
  its topic, what started it, why it ended and its message counts; at most one round of a
  pair is running at a time.
- `round_turns` (scheduler): every turn of a round, planned when the round starts; a turn is
  requested from the generator when it is due, and delivered once every message of it arrived
  at the peer number.
- `round_arrivals` (scheduler): each message of a turn seen arriving at the peer.
- `warmup_pair_state` (scheduler): what the scheduler remembers per pair (who opened last,
  when the next round may start, quarantine).
- `round_skips` (scheduler): consecutive skips for the same reason are one row with a count.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from database.migrations.sql_script import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE warmup_pairs
        ALTER COLUMN windows SET DEFAULT '[]'::jsonb,
        ADD COLUMN profile text NOT NULL DEFAULT 'normal' CHECK (profile IN ('soft','normal','aggressive')),
        ADD COLUMN max_rounds_per_day integer CHECK (max_rounds_per_day >= 0),
        ADD COLUMN initiator_mode text NOT NULL DEFAULT 'alternate' CHECK (initiator_mode IN ('alternate','weighted')),
        ADD COLUMN initiator_weight_a real NOT NULL DEFAULT 0.5 CHECK (initiator_weight_a >= 0 AND initiator_weight_a <= 1),
        ADD COLUMN deleted_at timestamptz;
    UPDATE warmup_pairs SET windows = '[]'::jsonb WHERE jsonb_typeof(windows) <> 'array';
    ALTER TABLE warmup_pairs ADD CONSTRAINT warmup_pairs_windows_list CHECK (jsonb_typeof(windows) = 'array');
    CREATE UNIQUE INDEX warmup_pairs_live_numbers ON warmup_pairs
        (LEAST(instance_a_id, instance_b_id), GREATEST(instance_a_id, instance_b_id)) WHERE deleted_at IS NULL;
    CREATE INDEX warmup_pairs_tenant ON warmup_pairs (tenant_id, created_at) WHERE deleted_at IS NULL;
    COMMENT ON COLUMN warmup_pairs.windows IS 'api: weekly windows [{days, start, end}] in time_zone; empty: any waking hour';
    COMMENT ON COLUMN warmup_pairs.max_rounds_per_day IS 'api: rounds a day; null: the profile''s default';

    CREATE TABLE warmup_numbers (
        instance_id uuid PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        declared_age_days integer NOT NULL CHECK (declared_age_days >= 0),
        declared_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE warmup_numbers IS 'writer: api; the age (days) an operator declared for a number, at declared_at';

    ALTER TABLE rounds DROP CONSTRAINT rounds_status_check;
    ALTER TABLE rounds
        ADD CONSTRAINT rounds_status_check CHECK (status IN ('started','completed','timed_out','deaf','aborted')),
        ADD COLUMN topic text,
        ADD COLUMN trigger text NOT NULL DEFAULT 'cron' CHECK (trigger IN ('cron','manual')),
        ADD COLUMN end_reason text,
        ADD COLUMN messages_sent integer NOT NULL DEFAULT 0,
        ADD COLUMN messages_delivered integer NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX rounds_one_running_per_pair ON rounds (pair_id) WHERE status = 'started';
    CREATE INDEX rounds_tenant ON rounds (tenant_id, started_at DESC);

    CREATE TABLE round_turns (
        round_id uuid NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
        turn_index integer NOT NULL CHECK (turn_index >= 0),
        turn_id uuid NOT NULL UNIQUE,
        tenant_id uuid NOT NULL,
        pair_id uuid NOT NULL,
        speaker_instance_id uuid NOT NULL,
        listener_instance_id uuid NOT NULL,
        messages integer NOT NULL CHECK (messages BETWEEN 1 AND 3),
        reaction boolean NOT NULL DEFAULT false,
        status text NOT NULL CHECK (status IN ('planned','requested','delivered','abandoned')),
        due_at timestamptz,
        requested_at timestamptz,
        delivered_at timestamptz,
        text text,
        PRIMARY KEY (round_id, turn_index)
    );
    CREATE INDEX round_turns_due ON round_turns (due_at) WHERE status = 'planned' AND due_at IS NOT NULL;
    CREATE INDEX round_turns_awaiting ON round_turns (listener_instance_id) WHERE status = 'requested';
    CREATE INDEX round_turns_requested ON round_turns (requested_at) WHERE status = 'requested';
    COMMENT ON TABLE round_turns IS 'writer: scheduler; turn_id is the generator''s reply id of the turn';

    CREATE TABLE round_arrivals (
        round_id uuid NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
        turn_index integer NOT NULL,
        part_index integer NOT NULL,
        tenant_id uuid NOT NULL,
        message_id uuid NOT NULL,
        provider_message_id text NOT NULL,
        text text,
        arrived_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (round_id, turn_index, part_index)
    );
    COMMENT ON TABLE round_arrivals IS 'writer: scheduler; each message of a turn seen arriving at the peer number';

    CREATE TABLE warmup_pair_state (
        pair_id uuid PRIMARY KEY REFERENCES warmup_pairs(id) ON DELETE CASCADE,
        tenant_id uuid NOT NULL,
        last_initiator_instance_id uuid,
        last_round_started_at timestamptz,
        last_round_ended_at timestamptz,
        next_round_not_before timestamptz,
        quarantined_until timestamptz,
        quarantine_reason text,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE warmup_pair_state IS 'writer: scheduler';

    ALTER TABLE round_skips
        ADD COLUMN detail text NOT NULL DEFAULT '',
        ADD COLUMN trigger text NOT NULL DEFAULT 'cron',
        ADD COLUMN occurrences integer NOT NULL DEFAULT 1,
        ADD COLUMN last_scanned_at timestamptz NOT NULL DEFAULT now();
    COMMENT ON COLUMN round_skips.occurrences IS 'scheduler: consecutive scans skipped for this reason (scanned_at: the first, last_scanned_at: the latest)';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE round_skips
        DROP COLUMN IF EXISTS last_scanned_at,
        DROP COLUMN IF EXISTS occurrences,
        DROP COLUMN IF EXISTS trigger,
        DROP COLUMN IF EXISTS detail;
    DROP TABLE IF EXISTS warmup_pair_state, round_arrivals, round_turns;
    DROP INDEX IF EXISTS rounds_tenant;
    DROP INDEX IF EXISTS rounds_one_running_per_pair;
    UPDATE rounds SET status = 'aborted' WHERE status = 'deaf';
    ALTER TABLE rounds
        DROP CONSTRAINT rounds_status_check,
        DROP COLUMN IF EXISTS messages_delivered,
        DROP COLUMN IF EXISTS messages_sent,
        DROP COLUMN IF EXISTS end_reason,
        DROP COLUMN IF EXISTS trigger,
        DROP COLUMN IF EXISTS topic;
    ALTER TABLE rounds ADD CONSTRAINT rounds_status_check CHECK (status IN ('started','completed','timed_out','aborted'));
    DROP TABLE IF EXISTS warmup_numbers;
    DROP INDEX IF EXISTS warmup_pairs_tenant;
    DROP INDEX IF EXISTS warmup_pairs_live_numbers;
    ALTER TABLE warmup_pairs DROP CONSTRAINT IF EXISTS warmup_pairs_windows_list;
    DELETE FROM warmup_pairs WHERE deleted_at IS NOT NULL;
    ALTER TABLE warmup_pairs
        DROP COLUMN IF EXISTS deleted_at,
        DROP COLUMN IF EXISTS initiator_weight_a,
        DROP COLUMN IF EXISTS initiator_mode,
        DROP COLUMN IF EXISTS max_rounds_per_day,
        DROP COLUMN IF EXISTS profile,
        ALTER COLUMN windows SET DEFAULT '{}'::jsonb;
    """)

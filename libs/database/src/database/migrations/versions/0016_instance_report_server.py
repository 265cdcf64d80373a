"""Which Evolution server's clock `instances.evolution_reported_at` is on.

Lifecycle reports are ordered by their envelope `date_time`, which is the Evolution server's
local clock. An instance moved to another server (another `server_url`) brings another clock,
possibly behind the first: its first report is applied and becomes the new reference instead of
being judged against the old server's time.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE instances ADD COLUMN evolution_reported_by text;
    COMMENT ON COLUMN instances.evolution_reported_by IS
        'envelope server_url of the report evolution_reported_at came from: a report from another server starts a new reference';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE instances DROP COLUMN IF EXISTS evolution_reported_by;
    """)

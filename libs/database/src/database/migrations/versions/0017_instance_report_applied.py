"""When the newest Evolution lifecycle report was applied, on PostgreSQL's clock.

Webhook reports are ordered among themselves by Evolution's `date_time`. The api's status
refresh asks Evolution (`connectionState`) and applies the answer; it is on no Evolution clock.
A webhook report applied while that request was on its way is newer news than the answer, which
is then not applied (the next refresh or report brings the instance's state up to date).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE instances ADD COLUMN evolution_report_applied_at timestamptz;
    COMMENT ON COLUMN instances.evolution_report_applied_at IS
        'when (PostgreSQL clock) the newest Evolution webhook report was applied: a connectionState refresh asked before it is out of date';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE instances DROP COLUMN IF EXISTS evolution_report_applied_at;
    """)

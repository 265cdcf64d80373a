"""When a send was judged failed, refused or ambiguous.

`sends.failed_at` is the `occurred_at` of the send's `message.failed`. An ambiguous send whose
echo arrives later becomes `sent`, and its `message.sent` carries that moment, so statistics
take the send out of the hour it was counted as failed in.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE sends ADD COLUMN failed_at timestamptz;
    COMMENT ON COLUMN sends.failed_at IS
        'occurred_at of the send''s message.failed (failed, refused or ambiguous); kept when an ambiguous send later turns out sent';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE sends DROP COLUMN IF EXISTS failed_at;
    """)

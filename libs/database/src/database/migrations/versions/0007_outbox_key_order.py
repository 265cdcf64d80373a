"""The outbox relay keeps per-key order through failures (messaging runtime).

A sweep never publishes a row while an older row of the same key is still waiting
(in another replica's sweep, or in a relay's fast path); it looks those up by
(producer, key, id).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from database.migrations.sql_script import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    CREATE INDEX outbox_key_order ON outbox (producer, key, id);
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS outbox_key_order;
    """)

"""Schema changes owned by the ingest service (tables whose writer is ingest).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    -- The sender resolves an ambiguous send by looking for Evolution's `send.message` echo.
    CREATE INDEX messages_send_echo ON messages (instance_id, received_at) WHERE source_event = 'send.message';
    """)


def downgrade() -> None:
    execute_script("""
    DROP INDEX IF EXISTS messages_send_echo;
    """)

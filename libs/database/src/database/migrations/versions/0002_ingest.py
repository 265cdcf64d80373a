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
    SELECT 1;  -- no changes yet
    """)


def downgrade() -> None:
    execute_script("""
    SELECT 1;  -- no changes yet
    """)

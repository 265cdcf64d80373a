"""Schema changes owned by the generator service (tables whose writer is generator).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0004"
down_revision = "0003"
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

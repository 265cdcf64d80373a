"""Schema changes owned by the guard service (tables whose writer is guard).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0003"
down_revision = "0002"
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

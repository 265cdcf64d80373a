"""Schema changes owned by the sender service (tables whose writer is sender).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0005"
down_revision = "0004"
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

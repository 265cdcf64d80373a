"""Schema changes owned by the api service (tables whose writer is api).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from database.migrations.sql_script import execute_script

revision = "0006"
down_revision = "0005"
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

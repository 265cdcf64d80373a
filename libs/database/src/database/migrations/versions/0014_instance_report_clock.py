"""Evolution's lifecycle reports applied in the order Evolution made them.

Evolution retries a webhook it could not deliver (exponential backoff, up to ~25 minutes) and
sends some in the background, so a `connection.update` or `qrcode.updated` can arrive after a
newer one (a retried `connecting` after the `open` that followed it). `instances` keeps the
envelope `date_time` of the newest report applied; an older one is recorded and not applied.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE instances ADD COLUMN evolution_reported_at timestamptz;
    COMMENT ON COLUMN instances.evolution_reported_at IS
        'envelope date_time of the newest connection.update/qrcode.updated applied, on Evolution''s clock (its local time labelled Z): only compared with later reports of the same instance';
    """)


def downgrade() -> None:
    execute_script("""
    ALTER TABLE instances DROP COLUMN IF EXISTS evolution_reported_at;
    """)

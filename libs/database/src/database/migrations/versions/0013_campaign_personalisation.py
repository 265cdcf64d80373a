"""Personalised campaign messages (generator's tables).

`replies` gains the `campaign` kind: a campaign message the generator rewrote in the sending
number's persona (`personalise.requested`), one row per campaign send (id = the send id), with
the model, its latency and, when the rewrite was refused or failed, why the template's own
text went out instead (`error`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from database.migrations.sql_script import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
    ALTER TABLE replies DROP CONSTRAINT replies_kind_check;
    ALTER TABLE replies ADD CONSTRAINT replies_kind_check
        CHECK (kind IN ('reply', 'warmup_turn', 'fallback', 'confirmation', 'campaign'));
    COMMENT ON COLUMN replies.kind IS
        'reply: written by the model or the offline generator; fallback: a fixed text instead of an answer (no text received, model failed); confirmation: opt-out/opt-in confirmation; warmup_turn: a warm-up round turn; campaign: a campaign message rewritten in the persona (id = the send id)';
    """)


def downgrade() -> None:
    execute_script("""
    DELETE FROM replies WHERE kind = 'campaign';
    ALTER TABLE replies DROP CONSTRAINT IF EXISTS replies_kind_check;
    ALTER TABLE replies ADD CONSTRAINT replies_kind_check
        CHECK (kind IN ('reply', 'warmup_turn', 'fallback', 'confirmation'));
    COMMENT ON COLUMN replies.kind IS
        'reply: written by the model or the offline generator; fallback: a fixed text instead of an answer (no text received, model failed); confirmation: opt-out/opt-in confirmation; warmup_turn: a warm-up round turn';
    """)

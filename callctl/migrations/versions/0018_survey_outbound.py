"""Outbound survey answers (回访测评): ``survey_answers.channel``.

An answer is still keyed by the queue entry it rates; ``channel`` tells how it was
asked for: ``inbound`` (after the call, the only kind so far) or ``outbound`` (a
survey call placed later through the outbound trunk, ``POST /api/v1/surveys/outbound``).

Revision ID: 0018_survey_out
Revises: 0017_calls_conf
Create Date: 2026-12-03
"""

from alembic import op

revision = "0018_survey_out"
down_revision = "0017_calls_conf"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    ALTER TABLE survey_answers
        ADD COLUMN channel text NOT NULL DEFAULT 'inbound'
        CHECK (channel IN ('inbound', 'outbound'))
    """,
)

DOWNGRADE: tuple[str, ...] = ("ALTER TABLE survey_answers DROP COLUMN channel",)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

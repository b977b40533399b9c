"""Outcome ``lost``: an entry still waiting when its Asterisk node restarted.

``queue_entries.outcome`` accepts ``lost``, and every entry rollup gets a
``lost`` counter (offered includes it; it is neither answered nor abandoned).
Existing rollup rows had no lost entries, hence the default 0.

Revision ID: 0006_restart
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006_restart"
down_revision = "0005"
branch_labels = None
depends_on = None

_ROLLUPS = (
    "kpi_queue_rollups",
    "kpi_agent_rollups",
    "kpi_queue_rollups_day",
    "kpi_agent_rollups_day",
)

UPGRADE: tuple[str, ...] = (
    "ALTER TABLE queue_entries DROP CONSTRAINT queue_entries_outcome_check",
    """
    ALTER TABLE queue_entries ADD CONSTRAINT queue_entries_outcome_check CHECK (outcome IN
        ('answered','abandoned','timeout','empty','key','transfer','lost'))
    """,
    *(f"ALTER TABLE {table} ADD COLUMN lost integer NOT NULL DEFAULT 0" for table in _ROLLUPS),
)

DOWNGRADE: tuple[str, ...] = (
    *(f"ALTER TABLE {table} DROP COLUMN lost" for table in _ROLLUPS),
    "UPDATE queue_entries SET outcome = NULL, ended_wait_at = NULL, wait_s = NULL WHERE outcome = 'lost'",
    "ALTER TABLE queue_entries DROP CONSTRAINT queue_entries_outcome_check",
    """
    ALTER TABLE queue_entries ADD CONSTRAINT queue_entries_outcome_check CHECK (outcome IN
        ('answered','abandoned','timeout','empty','key','transfer'))
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

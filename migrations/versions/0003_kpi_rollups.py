"""KPI interval rollups (15-minute counters).

Placeholder in the revision chain; its owner fills it in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = ()

DOWNGRADE: tuple[str, ...] = ()


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

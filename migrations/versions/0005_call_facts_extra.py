"""Further call-fact columns (calls, rotated queue_log offsets).

Placeholder in the revision chain; its owner fills it in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005"
down_revision = "0004"
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

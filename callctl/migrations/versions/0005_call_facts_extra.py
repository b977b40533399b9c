"""Further call-fact columns: which ingest path knows a call.

``calls.source`` is ``ami`` once the AMI path has written the call, else
``queue_log``: the upsert uses it so that queue_log never replaces what AMI
told (see ``callctl.ingest.upserts``). ``calls`` was never written before this
revision, so the column needs no default for existing rows.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    ALTER TABLE calls ADD COLUMN source text NOT NULL
        CHECK (source IN ('ami', 'queue_log'));
    """,
)

DOWNGRADE: tuple[str, ...] = (
    """
    ALTER TABLE calls DROP COLUMN source;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

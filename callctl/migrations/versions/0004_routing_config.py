"""Routing configuration as data: lines, queues, skills, agents, hours, pause reasons.

Each change is stored as a whole, validated document version (JSON): the version in
force is the newest one Asterisk accepted; rejected ones stay as the audit trail with
the reason. ACW pauses that callctl ended for exceeding a line's acw_max_s are logged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE routing_config_versions (
        id            bigserial PRIMARY KEY,
        document      jsonb NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        created_by    bigint REFERENCES users (id) ON DELETE SET NULL,
        change        text NOT NULL DEFAULT '',
        status        text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'applied', 'rejected', 'failed')),
        applied_at    timestamptz,
        error_id      text,
        error_message text
    );
    """,
    """
    CREATE INDEX routing_config_versions_applied
        ON routing_config_versions (id DESC) WHERE status = 'applied';
    """,
)

DOWNGRADE: tuple[str, ...] = (
    """
    DROP TABLE routing_config_versions;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

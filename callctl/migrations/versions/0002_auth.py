"""Users with a role, and their bearer tokens (stored as SHA-256 hashes only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = (
    """
    CREATE TABLE users (
        id              bigserial PRIMARY KEY,
        username        text NOT NULL UNIQUE,
        display_name    text NOT NULL DEFAULT '',
        role            text NOT NULL
            CHECK (role IN ('agent', 'supervisor', 'ops', 'admin', 'auditor')),
        agent_id        text,
        can_see_numbers boolean NOT NULL DEFAULT false,
        created_at      timestamptz NOT NULL DEFAULT now(),
        disabled_at     timestamptz
    );
    """,
    """
    CREATE TABLE api_tokens (
        id            bigserial PRIMARY KEY,
        user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash    bytea NOT NULL UNIQUE,
        label         text NOT NULL DEFAULT '',
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz,
        revoked_at    timestamptz,
        last_used_at  timestamptz
    );
    """,
    """
    CREATE INDEX api_tokens_user ON api_tokens (user_id);
    """,
)

DOWNGRADE = (
    """
    DROP TABLE api_tokens;
    """,
    """
    DROP TABLE users;
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

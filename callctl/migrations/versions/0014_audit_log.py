"""An append-only audit log of every change to users, their rights and their tokens;
usernames unique regardless of case.

``audit_log`` rows are only ever inserted (in the transaction of the change they
record): a trigger refuses UPDATE, DELETE and TRUNCATE, and no API writes or changes
them. ``before``/``after`` hold the user as it was and became (never a token, nor its
hash); ``client`` is the address the request came from.

Revision ID: 0014_audit
Revises: 0012_assess
Create Date: 2026-12-03
"""

from alembic import op

revision = "0014_audit"
down_revision = "0012_assess"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE audit_log (
        id             bigserial PRIMARY KEY,
        at             timestamptz NOT NULL DEFAULT now(),
        actor_user_id  bigint,
        actor          text NOT NULL,
        client         text,
        action         text NOT NULL,
        target_kind    text NOT NULL,
        target_id      text NOT NULL,
        before         jsonb,
        after          jsonb
    );
    """,
    """
    CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, at);
    """,
    """
    CREATE FUNCTION callctl_audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
    END
    $$;
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION callctl_audit_log_append_only();
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION callctl_audit_log_append_only();
    """,
    """
    CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "DROP INDEX users_username_lower;",
    "DROP TABLE audit_log;",
    "DROP FUNCTION callctl_audit_log_append_only();",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

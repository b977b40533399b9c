"""Call control: supervisors' monitoring audit, transfers, callback tasks (回访).

``monitor_sessions`` is the audit of supervisor listen / whisper / barge: who, which
call (node, callid) and agent channel, the mode, when it started and ended.

``call_transfers`` records each transfer callctl asked for (REST), keyed by the
queue entry it ended; queue_log's BLINDTRANSFER / ATTENDEDTRANSFER lines (facts:
``hangup_side = 'transfer'``) are what reconcile and verify compare with.

``callback_tasks`` is made by 0009_ivr (after-hours messages); this adds the due
window, attempts and result. ``callback_attempts`` holds one row per dial.
``callback_calendars`` holds each line's forbidden hours (local time).

Revision ID: 0011_calls
Revises: 0010_rec
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011_calls"
down_revision = "0010_rec"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE monitor_sessions (
        id              bigserial PRIMARY KEY,
        user_id         bigint NOT NULL,
        username        text NOT NULL,
        node            text NOT NULL,
        callid          text NOT NULL,
        agent           text,
        agent_channel   text,
        mode            text NOT NULL CHECK (mode IN ('listen','whisper','barge')),
        endpoint        text NOT NULL,
        spy_uniqueid    text NOT NULL UNIQUE,
        started_at      timestamptz NOT NULL DEFAULT now(),
        ended_at        timestamptz,
        end_reason      text
    );
    """,
    """
    CREATE INDEX monitor_sessions_call ON monitor_sessions (node, callid);
    """,
    """
    CREATE TABLE call_transfers (
        id              bigserial PRIMARY KEY,
        node            text NOT NULL,
        callid          text NOT NULL,
        queue           text,
        seq             integer,
        agent           text,
        kind            text NOT NULL CHECK (kind IN ('blind','attended')),
        target_kind     text NOT NULL CHECK (target_kind IN ('queue','agent','external')),
        target          text NOT NULL,
        requested_by    bigint,
        requested_at    timestamptz NOT NULL DEFAULT now()
    );
    """,
    """
    CREATE INDEX call_transfers_call ON call_transfers (node, callid);
    """,
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS due_from timestamptz",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS due_until timestamptz",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 3",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS retry_after_s integer NOT NULL DEFAULT 1800",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS result text",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS reached_at timestamptz",
    "ALTER TABLE callback_tasks ADD COLUMN IF NOT EXISTS agent text",
    """
    CREATE INDEX IF NOT EXISTS callback_tasks_pending
        ON callback_tasks (next_attempt_at) WHERE status IN ('pending', 'retry')
    """,
    """
    CREATE TABLE callback_attempts (
        task_id     bigint NOT NULL REFERENCES callback_tasks (id) ON DELETE CASCADE,
        attempt     integer NOT NULL CHECK (attempt >= 1),
        started_at  timestamptz NOT NULL,
        ended_at    timestamptz,
        agent       text,
        result      text CHECK (result IN ('answered','busy','no_answer','invalid','failed')),
        -- an agent leg that failed ('failed') is not counted: the next try reuses the number
        PRIMARY KEY (task_id, attempt, started_at)
    );
    """,
    """
    CREATE TABLE callback_calendars (
        line        text PRIMARY KEY,
        timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
        forbidden   jsonb NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "DROP TABLE callback_calendars",
    "DROP TABLE callback_attempts",
    "DROP INDEX IF EXISTS callback_tasks_pending",
    *(
        f"ALTER TABLE callback_tasks DROP COLUMN IF EXISTS {column}"
        for column in (
            "due_from",
            "due_until",
            "max_attempts",
            "retry_after_s",
            "attempts",
            "next_attempt_at",
            "result",
            "reached_at",
            "agent",
        )
    ),
    "DROP TABLE call_transfers",
    "DROP TABLE monitor_sessions",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

"""Call facts: calls, queue entries, agent sessions and states, raw events, gaps.

Natural keys come from Asterisk's own ids, so writing a fact twice changes nothing.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


UPGRADE = (
    """
    CREATE TABLE calls (
        node          text NOT NULL,
        linkedid      text NOT NULL,
        line          text,
        caller_num    text,
        caller_name   text,
        started_at    timestamptz NOT NULL,
        ended_at      timestamptz,
        hangup_cause  integer,
        PRIMARY KEY (node, linkedid)
    );
    """,
    """
    CREATE INDEX calls_started_at ON calls (started_at);
    """,
    """
    CREATE TABLE queue_entries (
        node           text NOT NULL,
        callid         text NOT NULL,
        queue          text NOT NULL,
        seq            integer NOT NULL CHECK (seq >= 1),
        linkedid       text,
        line           text,
        entered_at     timestamptz NOT NULL,
        caller_num     text,
        position       integer,
        outcome        text CHECK (outcome IN
                           ('answered','abandoned','timeout','empty','key','transfer')),
        ended_wait_at  timestamptz,
        wait_s         integer CHECK (wait_s >= 0),
        agent          text,
        ring_attempts  integer NOT NULL DEFAULT 0,
        talk_s         integer CHECK (talk_s >= 0),
        hangup_side    text CHECK (hangup_side IN ('caller','agent','transfer')),
        completed_at   timestamptz,
        acw_s          integer CHECK (acw_s >= 0),
        source         text NOT NULL CHECK (source IN ('ami','queue_log')),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (node, callid, queue, seq)
    );
    """,
    """
    CREATE INDEX queue_entries_entered_at ON queue_entries (entered_at);
    """,
    """
    CREATE INDEX queue_entries_queue_entered ON queue_entries (queue, entered_at);
    """,
    """
    CREATE INDEX queue_entries_agent_entered ON queue_entries (agent, entered_at);
    """,
    """
    CREATE TABLE agent_sessions (
        node        text NOT NULL,
        agent       text NOT NULL,
        queue       text NOT NULL,
        started_at  timestamptz NOT NULL,
        ended_at    timestamptz,
        PRIMARY KEY (node, agent, queue, started_at)
    );
    """,
    """
    CREATE TABLE agent_state_intervals (
        node        text NOT NULL,
        agent       text NOT NULL,
        state       text NOT NULL,
        reason      text NOT NULL DEFAULT '',
        started_at  timestamptz NOT NULL,
        ended_at    timestamptz,
        callid      text,
        PRIMARY KEY (node, agent, state, started_at)
    );
    """,
    """
    CREATE INDEX agent_state_intervals_started ON agent_state_intervals (started_at);
    """,
    """
    CREATE TABLE acw_intervals (
        node        text NOT NULL,
        agent       text NOT NULL,
        started_at  timestamptz NOT NULL,
        ended_at    timestamptz,
        ended_by    text CHECK (ended_by IN ('unpause','reason_change','logoff')),
        callid      text,
        queue       text,
        seq         integer,
        PRIMARY KEY (node, agent, started_at)
    );
    """,
    """
    CREATE TABLE ami_events (
        node         text NOT NULL,
        received_at  timestamptz NOT NULL,
        seq          bigint NOT NULL,
        name         text NOT NULL,
        linkedid     text,
        uniqueid     text,
        headers      jsonb NOT NULL,
        PRIMARY KEY (node, received_at, seq)
    ) PARTITION BY RANGE (received_at);
    """,
    """
    CREATE TABLE ami_events_default PARTITION OF ami_events DEFAULT;
    """,
    """
    CREATE INDEX ami_events_linkedid ON ami_events (linkedid);
    """,
    """
    CREATE FUNCTION callctl_ensure_event_partition(month_start date) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
        part text := 'ami_events_' || to_char(month_start, 'YYYYMM');
    BEGIN
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ami_events FOR VALUES FROM (%L) TO (%L)',
                part, month_start, (month_start + interval '1 month')::date);
        END IF;
        RETURN part;
    END $$;
    """,
    """
    CREATE TABLE ingest_gaps (
        id             bigserial PRIMARY KEY,
        node           text NOT NULL,
        started_at     timestamptz NOT NULL,
        ended_at       timestamptz NOT NULL,
        reason         text NOT NULL,
        reconciled_at  timestamptz,
        UNIQUE (node, started_at, reason)
    );
    """,
    """
    CREATE TABLE queue_log_offsets (
        node        text PRIMARY KEY,
        path        text NOT NULL,
        inode       bigint NOT NULL,
        "offset"    bigint NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
)

DOWNGRADE = (
    """
    DROP TABLE queue_log_offsets;
    """,
    """
    DROP TABLE ingest_gaps;
    """,
    """
    DROP FUNCTION callctl_ensure_event_partition(date);
    """,
    """
    DROP TABLE ami_events;
    """,
    """
    DROP TABLE acw_intervals;
    """,
    """
    DROP TABLE agent_state_intervals;
    """,
    """
    DROP TABLE agent_sessions;
    """,
    """
    DROP TABLE queue_entries;
    """,
    """
    DROP TABLE calls;
    """,
)


def upgrade() -> None:
    # asyncpg runs one statement per execute.
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

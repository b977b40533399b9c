"""Three-way calls (三方通话) and callback recovery.

``call_conferences`` is the audit of each ConfBridge conference callctl started from a
call: who asked, which call and agent, the third party (a seat or a number), when it
started and ended and why. ``call_conference_members`` holds who was in it (caller,
the agent as leader, the third party), with each member's join and leave times as
AMI's ConfbridgeJoin / ConfbridgeLeave report them.

``callback_attempts.channel_id`` is the agent leg's channel id (Originate's ChannelId),
by which an attempt left in flight when callctl stopped is found again; its result may
now also be ``interrupted`` (callctl stopped mid-attempt and nothing tells how it
ended).

Revision ID: 0017_calls_conf
Revises: 0016_assess_cold
Create Date: 2026-12-03
"""

from alembic import op

revision = "0017_calls_conf"
down_revision = "0016_assess_cold"
branch_labels = None
depends_on = None

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE call_conferences (
        id              bigserial PRIMARY KEY,
        node            text NOT NULL,
        callid          text NOT NULL,
        queue           text,
        seq             integer,
        agent           text NOT NULL,
        conference      text UNIQUE,
        target_kind     text NOT NULL CHECK (target_kind IN ('agent','external')),
        target          text NOT NULL,
        requested_by    bigint,
        username        text NOT NULL,
        started_at      timestamptz NOT NULL DEFAULT now(),
        ended_at        timestamptz,
        end_reason      text
    );
    """,
    """
    CREATE INDEX call_conferences_call ON call_conferences (node, callid);
    """,
    """
    CREATE TABLE call_conference_members (
        conference_id   bigint NOT NULL REFERENCES call_conferences (id) ON DELETE CASCADE,
        uniqueid        text NOT NULL,
        channel         text NOT NULL,
        role            text NOT NULL CHECK (role IN ('caller','leader','party')),
        joined_at       timestamptz NOT NULL,
        left_at         timestamptz,
        PRIMARY KEY (conference_id, uniqueid)
    );
    """,
    "ALTER TABLE callback_attempts ADD COLUMN channel_id text",
    "ALTER TABLE callback_attempts DROP CONSTRAINT IF EXISTS callback_attempts_result_check",
    """
    ALTER TABLE callback_attempts ADD CONSTRAINT callback_attempts_result_check
        CHECK (result IN ('answered','busy','no_answer','invalid','failed','interrupted'))
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "UPDATE callback_attempts SET result = 'failed' WHERE result = 'interrupted'",
    "ALTER TABLE callback_attempts DROP CONSTRAINT IF EXISTS callback_attempts_result_check",
    """
    ALTER TABLE callback_attempts ADD CONSTRAINT callback_attempts_result_check
        CHECK (result IN ('answered','busy','no_answer','invalid','failed'))
    """,
    "ALTER TABLE callback_attempts DROP COLUMN channel_id",
    "DROP TABLE call_conference_members",
    "DROP TABLE call_conferences",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

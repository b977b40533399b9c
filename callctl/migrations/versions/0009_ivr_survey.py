"""IVR and survey facts: survey answers (满意度测评), IVR steps, after-hours callback tasks.

``survey_answers``: one row per answered post-call survey, keyed by the queue
entry it rates (cross-helper contract; no row = no answer). Its writes mark the
entry's 15-minute interval dirty like every fact table (0003), so the rollups'
``survey_by_key`` follow.

``ivr_steps``: a call's path through its line's IVR flow, one row per step
(``step`` counted by the dialplan), with the seconds since the call began; the
step that hands the caller to a queue gives the time from system entry to queue
entry (从系统接入到进入队列).

``callback_tasks``: the base of the callback work (cross-helper contract); the IVR
writes ``source = 'ivr_message'`` rows for messages left after hours.

Revision ID: 0009_ivr
Revises: 0008_qlog
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009_ivr"
down_revision = "0008_qlog"
branch_labels = None
depends_on = None

_BUCKET = "date_bin(interval '15 minutes', qe.entered_at, timestamptz '1970-01-01 00:00:00+00')"


def _mark(rows: str) -> str:
    return f"""
        INSERT INTO kpi_dirty_intervals (interval_start)
        SELECT DISTINCT {_BUCKET} FROM {rows} r
        JOIN queue_entries qe ON qe.node = r.node AND qe.callid = r.callid
            AND qe.queue = r.queue AND qe.seq = r.seq
        ORDER BY 1
        ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now();
    """


def _triggers() -> tuple[str, ...]:
    statements: list[str] = []
    for op_name, event, refs, marks in (
        ("ins", "INSERT", "NEW TABLE AS new_rows", (_mark("new_rows"),)),
        (
            "upd",
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            (_mark("new_rows"), _mark("old_rows")),
        ),
        ("del", "DELETE", "OLD TABLE AS old_rows", (_mark("old_rows"),)),
    ):
        body = "".join(marks)
        statements.append(
            f"""
            CREATE FUNCTION kpi_dirty_survey_answers_{op_name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                {body}
                RETURN NULL;
            END $$;
            """
        )
        statements.append(
            f"""
            CREATE TRIGGER kpi_dirty_{op_name} AFTER {event} ON survey_answers
            REFERENCING {refs} FOR EACH STATEMENT
            EXECUTE FUNCTION kpi_dirty_survey_answers_{op_name}();
            """
        )
    return tuple(statements)


UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS survey_answers (
        node        text NOT NULL,
        callid      text NOT NULL,
        queue       text NOT NULL,
        seq         integer NOT NULL,
        agent       text,
        answer      smallint NOT NULL CHECK (answer BETWEEN 0 AND 9),
        answered_at timestamptz NOT NULL,
        PRIMARY KEY (node, callid, queue, seq)
    );
    """,
    """
    CREATE INDEX IF NOT EXISTS survey_answers_answered ON survey_answers (answered_at);
    """,
    *_triggers(),
    """
    CREATE TABLE ivr_steps (
        node           text NOT NULL,
        callid         text NOT NULL,
        step           integer NOT NULL CHECK (step >= 1),
        line           text NOT NULL,
        flow           text NOT NULL,
        ivr_node       text NOT NULL,
        kind           text NOT NULL,
        digit          text,
        outcome        text,
        at             timestamptz NOT NULL,
        since_start_s  integer NOT NULL CHECK (since_start_s >= 0),
        PRIMARY KEY (node, callid, step)
    );
    """,
    """
    CREATE INDEX ivr_steps_at ON ivr_steps (at);
    """,
    """
    CREATE TABLE IF NOT EXISTS callback_tasks (
        id             bigserial PRIMARY KEY,
        source         text NOT NULL,
        source_ref     text NOT NULL,
        line           text NOT NULL,
        number         text NOT NULL,
        created_at     timestamptz NOT NULL,
        recording_path text,
        work_order     text,
        status         text NOT NULL DEFAULT 'pending',
        UNIQUE (source, source_ref)
    );
    """,
)

DOWNGRADE: tuple[str, ...] = (
    "DROP TABLE ivr_steps",
    "DROP TABLE survey_answers",
    "DROP FUNCTION kpi_dirty_survey_answers_ins()",
    "DROP FUNCTION kpi_dirty_survey_answers_upd()",
    "DROP FUNCTION kpi_dirty_survey_answers_del()",
    "DROP TABLE IF EXISTS callback_tasks",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

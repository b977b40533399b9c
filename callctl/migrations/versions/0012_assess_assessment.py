"""Monthly assessment: schemes versioned by month, external inputs, outage days, reports.

All three input tables are append-only: the figure in force is the latest row, and
every earlier row stays as history with who entered it and when.

- ``assessment_schemes``: a scheme's JSON (``kpi.assessment.scheme.Scheme``) in force
  from ``valid_from`` (``YYYY-MM``) until a later version; none stored: the preset.
- ``assessment_inputs``: figures calls do not give (QA error rate, complaints, ...), per
  month and key; ``value`` NULL withdraws an entry.
- ``outage_days``: days marked as platform outages (系统原因、停电), with reason and who;
  ``active`` false withdraws a mark.
- ``report_files``: reports generated on schedule (or on request) into the report folder.

A partial index serves per-call counting: entries that left a queue without an answer
(timeout, no agents, key, transfer) are the only ones another entry can supersede.
Per-call corrections are cached per day (``assessment_call_cache``) with the generation
of the UTC dates they read (``assessment_day_gen``), which statement triggers on
``queue_entries``, ``acw_intervals`` and ``calls`` bump in the writer's transaction: a
cached day is used only while no fact it depends on has changed.

Revision ID: 0012_assess
Revises: 0011_calls
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012_assess"
down_revision = "0011_calls"
branch_labels = None
depends_on = None

_TOUCHED = (
    ("queue_entries", "entered_at"),
    ("acw_intervals", "started_at"),
    ("calls", "started_at"),
)


def _touch_sql(rows: str, column: str) -> str:
    return f"""
        INSERT INTO assessment_day_gen (day, gen)
        SELECT d, nextval('assessment_day_gen_seq')
        FROM (SELECT DISTINCT ({column} AT TIME ZONE 'UTC')::date AS d FROM {rows}) t
        WHERE d IS NOT NULL ORDER BY d
        ON CONFLICT (day) DO UPDATE SET gen = EXCLUDED.gen;"""


def _touch_triggers(table: str, column: str) -> list[str]:
    statements = []
    for op_name, event, refs, bodies in (
        ("ins", "INSERT", "NEW TABLE AS new_rows", ("new_rows",)),
        ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", ("new_rows", "old_rows")),
        ("del", "DELETE", "OLD TABLE AS old_rows", ("old_rows",)),
    ):
        body = "".join(_touch_sql(rows, column) for rows in bodies)
        statements.append(
            f"""
            CREATE FUNCTION assessment_touch_{table}_{op_name}() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$;
            """
        )
        statements.append(
            f"""
            CREATE TRIGGER assessment_touch_{op_name} AFTER {event} ON {table}
            REFERENCING {refs} FOR EACH STATEMENT
            EXECUTE FUNCTION assessment_touch_{table}_{op_name}();
            """
        )
    return statements


_MONTH = r"CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$')"

UPGRADE: tuple[str, ...] = (
    f"""
    CREATE TABLE assessment_schemes (
        id          bigserial PRIMARY KEY,
        name        text NOT NULL,
        valid_from  text NOT NULL {_MONTH.replace("month", "valid_from")},
        body        jsonb NOT NULL,
        created_by  text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
    "CREATE INDEX assessment_schemes_name ON assessment_schemes (name, valid_from, id);",
    f"""
    CREATE TABLE assessment_inputs (
        id          bigserial PRIMARY KEY,
        month       text NOT NULL {_MONTH},
        key         text NOT NULL,
        value       numeric CHECK (value >= 0),
        entered_by  text NOT NULL,
        entered_at  timestamptz NOT NULL DEFAULT now()
    );
    """,
    "CREATE INDEX assessment_inputs_month ON assessment_inputs (month, key, id);",
    """
    CREATE TABLE outage_days (
        id          bigserial PRIMARY KEY,
        day         date NOT NULL,
        reason      text NOT NULL,
        active      boolean NOT NULL,
        marked_by   text NOT NULL,
        marked_at   timestamptz NOT NULL DEFAULT now()
    );
    """,
    "CREATE INDEX outage_days_day ON outage_days (day, id);",
    """
    CREATE TABLE report_files (
        id            bigserial PRIMARY KEY,
        kind          text NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly', 'yearly')),
        line          text,
        period_start  date NOT NULL,
        format        text NOT NULL CHECK (format IN ('xlsx', 'html')),
        path          text NOT NULL,
        bytes         bigint NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, line, period_start, format)
    );
    """,
    """
    CREATE INDEX queue_entries_left_unanswered ON queue_entries (entered_at)
        WHERE outcome IN ('timeout', 'empty', 'key', 'transfer');
    """,
    "CREATE SEQUENCE assessment_day_gen_seq;",
    """
    CREATE TABLE assessment_day_gen (
        day  date PRIMARY KEY,
        gen  bigint NOT NULL
    );
    """,
    """
    CREATE TABLE assessment_call_cache (
        day   date NOT NULL,
        key   text NOT NULL,
        gen   bigint NOT NULL,
        rows  jsonb NOT NULL,
        PRIMARY KEY (day, key)
    );
    """,
    *(statement for table, column in _TOUCHED for statement in _touch_triggers(table, column)),
)

DOWNGRADE: tuple[str, ...] = (
    *(
        statement
        for table, _ in _TOUCHED
        for op_name in ("ins", "upd", "del")
        for statement in (
            f"DROP TRIGGER IF EXISTS assessment_touch_{op_name} ON {table};",
            f"DROP FUNCTION IF EXISTS assessment_touch_{table}_{op_name}();",
        )
    ),
    "DROP TABLE IF EXISTS assessment_call_cache;",
    "DROP TABLE IF EXISTS assessment_day_gen;",
    "DROP SEQUENCE IF EXISTS assessment_day_gen_seq;",
    "DROP INDEX IF EXISTS queue_entries_left_unanswered;",
    "DROP TABLE IF EXISTS report_files;",
    "DROP TABLE IF EXISTS outage_days;",
    "DROP TABLE IF EXISTS assessment_inputs;",
    "DROP TABLE IF EXISTS assessment_schemes;",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

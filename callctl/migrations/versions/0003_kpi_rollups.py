"""KPI interval rollups (15-minute counters), their dirty marks, and fact indexes for KPIs.

Rollups hold the additive ``kpi.KpiCounters`` per 15-minute interval (aligned to
the Unix epoch, so to every UTC quarter hour):

- ``kpi_queue_rollups``: every entry, per (interval, node, line, queue);
- ``kpi_agent_rollups``: entries with an agent, per (interval, node, line, queue, agent);
- ``kpi_agent_time_rollups``: closed talk and ACW time per (interval, node, agent),
  each span clipped to the interval;
- the same three as ``*_day``: sums over day blocks of 96 intervals starting at
  UTC+8 midnight (China has no DST), so that a month reads ~30 rows per key.

Intervals are attributed by ``entered_at`` for entries; time spans are clipped.
``line`` is ``''`` when unknown (a primary key column cannot be NULL).

Statement-level triggers on the fact tables mark every interval a write touches
as dirty in the writer's own transaction (whoever the writer is: live ingest,
reconcile, a later ``calls`` writer). Each mark carries a generation that every
new touch bumps, so a refresher that read the facts before a concurrent write
cannot clear the mark of that write. ``kpi/`` reads rollups only for clean
intervals and computes dirty ones from the facts.

The ACW cap is applied when rollups are built: ``kpi_rollup_settings.acw_max_s``
is the cap they were built with; a query with another cap reads the facts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Callable

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COUNTER_COLUMNS = """
        answered             integer NOT NULL,
        abandoned            integer NOT NULL,
        timed_out            integer NOT NULL,
        no_agents            integer NOT NULL,
        exited_with_key      integer NOT NULL,
        transferred          integer NOT NULL,
        answered_wait_hist   integer[] NOT NULL,
        abandoned_wait_hist  integer[] NOT NULL,
        sum_wait_answered    bigint NOT NULL,
        n_talk               integer NOT NULL,
        sum_talk             bigint NOT NULL,
        n_acw                integer NOT NULL,
        sum_acw              bigint NOT NULL,
        n_handle             integer NOT NULL,
        sum_handle           bigint NOT NULL,
        survey_by_key        integer[] NOT NULL
"""

# The interval of a timestamp, and every interval a closed span [a, b] touches.
_BUCKET = "date_bin(interval '15 minutes', {ts}, timestamptz '1970-01-01 00:00:00+00')"


def _span(start: str, end: str) -> str:
    return (
        f"SELECT generate_series({_BUCKET.format(ts=start)}, {end}, interval '15 minutes')"
    )


_MARK = """
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT DISTINCT b FROM ({touched}) AS t(b) WHERE b IS NOT NULL
    ORDER BY b
    ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now();
"""


def _entry_touched(rows: str) -> str:
    return f"""
        SELECT {_BUCKET.format(ts="r.entered_at")} FROM {rows} r
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span(
            "r.ended_wait_at", "r.ended_wait_at + r.talk_s * interval '1 second'"
        )}) AS s(b)
        WHERE r.outcome = 'answered' AND r.talk_s IS NOT NULL AND r.ended_wait_at IS NOT NULL
    """


def _acw_touched(rows: str) -> str:
    return f"""
        SELECT {_BUCKET.format(ts="qe.entered_at")} FROM {rows} r
        JOIN queue_entries qe ON qe.node = r.node AND qe.callid = r.callid
            AND qe.queue = r.queue AND qe.seq = r.seq
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span(
            "r.started_at", "r.ended_at"
        )}) AS s(b)
        WHERE r.ended_at IS NOT NULL
    """


def _call_touched(rows: str) -> str:
    return f"""
        SELECT {_BUCKET.format(ts="qe.entered_at")} FROM {rows} r
        JOIN queue_entries qe ON qe.node = r.node AND qe.callid = r.linkedid
        UNION ALL
        SELECT {_BUCKET.format(ts="qe.entered_at")} FROM {rows} r
        JOIN queue_entries qe ON qe.node = r.node AND qe.linkedid = r.linkedid
    """


def _trigger_function(table: str, op_name: str, touched: str) -> str:
    return f"""
    CREATE FUNCTION kpi_dirty_{table}_{op_name}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {_MARK.format(touched=touched)}
        RETURN NULL;
    END $$;
    """


def _triggers(table: str, touched: Callable[[str], str]) -> tuple[str, ...]:
    both = f"{touched('new_rows')} UNION ALL {touched('old_rows')}"
    statements = [
        _trigger_function(table, "ins", touched("new_rows")),
        _trigger_function(table, "upd", both),
        _trigger_function(table, "del", touched("old_rows")),
    ]
    for op_name, event, refs in (
        ("ins", "INSERT", "NEW TABLE AS new_rows"),
        ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("del", "DELETE", "OLD TABLE AS old_rows"),
    ):
        statements.append(
            f"""
            CREATE TRIGGER kpi_dirty_{op_name} AFTER {event} ON {table}
            REFERENCING {refs} FOR EACH STATEMENT
            EXECUTE FUNCTION kpi_dirty_{table}_{op_name}();
            """
        )
    return tuple(statements)


_TRIGGERED = (
    ("queue_entries", _entry_touched),
    ("acw_intervals", _acw_touched),
    ("calls", _call_touched),
)

UPGRADE: tuple[str, ...] = (
    """
    CREATE TABLE kpi_rollup_settings (
        id         boolean PRIMARY KEY DEFAULT true CHECK (id),
        acw_max_s  integer NOT NULL CHECK (acw_max_s >= 0)
    );
    """,
    """
    INSERT INTO kpi_rollup_settings (id, acw_max_s) VALUES (true, 300);
    """,
    """
    CREATE SEQUENCE kpi_dirty_gen;
    """,
    """
    CREATE TABLE kpi_dirty_intervals (
        interval_start  timestamptz PRIMARY KEY,
        gen             bigint NOT NULL DEFAULT nextval('kpi_dirty_gen'),
        marked_at       timestamptz NOT NULL DEFAULT now()
    );
    """,
    f"""
    CREATE TABLE kpi_queue_rollups (
        interval_start  timestamptz NOT NULL,
        node            text NOT NULL,
        line            text NOT NULL,
        queue           text NOT NULL,
        {_COUNTER_COLUMNS},
        PRIMARY KEY (interval_start, node, line, queue)
    );
    """,
    f"""
    CREATE TABLE kpi_agent_rollups (
        interval_start  timestamptz NOT NULL,
        node            text NOT NULL,
        line            text NOT NULL,
        queue           text NOT NULL,
        agent           text NOT NULL,
        {_COUNTER_COLUMNS},
        PRIMARY KEY (interval_start, node, line, queue, agent)
    );
    """,
    """
    CREATE INDEX kpi_agent_rollups_agent ON kpi_agent_rollups (agent, interval_start);
    """,
    """
    CREATE TABLE kpi_agent_time_rollups (
        interval_start  timestamptz NOT NULL,
        node            text NOT NULL,
        agent           text NOT NULL,
        talking_s       bigint NOT NULL,
        acw_s           bigint NOT NULL,
        PRIMARY KEY (interval_start, node, agent)
    );
    """,
    # Day blocks (96 intervals from UTC+8 midnight): the sums of their intervals' rows,
    # rebuilt with them; read only for days with no dirty interval.
    """
    CREATE TABLE kpi_queue_rollups_day (LIKE kpi_queue_rollups INCLUDING ALL);
    """,
    """
    CREATE TABLE kpi_agent_rollups_day (LIKE kpi_agent_rollups INCLUDING ALL);
    """,
    """
    CREATE TABLE kpi_agent_time_rollups_day (LIKE kpi_agent_time_rollups INCLUDING ALL);
    """,
    # Fact indexes the KPI queries need: the ACW of an entry, time spans by start,
    # and the few spans still open.
    """
    CREATE INDEX acw_intervals_entry ON acw_intervals (node, callid, queue, seq, started_at)
        WHERE callid IS NOT NULL;
    """,
    """
    CREATE INDEX acw_intervals_started ON acw_intervals (started_at);
    """,
    """
    CREATE INDEX acw_intervals_open ON acw_intervals (agent) WHERE ended_at IS NULL;
    """,
    """
    CREATE INDEX queue_entries_talk_open ON queue_entries (agent)
        WHERE outcome = 'answered' AND talk_s IS NULL AND completed_at IS NULL;
    """,
    """
    CREATE INDEX queue_entries_linkedid ON queue_entries (node, linkedid)
        WHERE linkedid IS NOT NULL;
    """,
    """
    CREATE INDEX agent_sessions_started ON agent_sessions (started_at);
    """,
    *(statement for table, touched in _TRIGGERED for statement in _triggers(table, touched)),
    # Facts written before this revision: their intervals start dirty.
    f"""
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT DISTINCT {_BUCKET.format(ts="entered_at")} FROM queue_entries
    ON CONFLICT DO NOTHING;
    """,
    f"""
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT DISTINCT s.b FROM acw_intervals r
    CROSS JOIN LATERAL ({_span("r.started_at", "r.ended_at")}) AS s(b)
    WHERE r.ended_at IS NOT NULL
    ON CONFLICT DO NOTHING;
    """,
    f"""
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT DISTINCT s.b FROM queue_entries r
    CROSS JOIN LATERAL ({_span(
        "r.ended_wait_at", "r.ended_wait_at + r.talk_s * interval '1 second'"
    )}) AS s(b)
    WHERE r.outcome = 'answered' AND r.talk_s IS NOT NULL AND r.ended_wait_at IS NOT NULL
    ON CONFLICT DO NOTHING;
    """,
)

DOWNGRADE: tuple[str, ...] = (
    *(
        f"DROP TRIGGER kpi_dirty_{op_name} ON {table};"
        for table, _ in _TRIGGERED
        for op_name in ("ins", "upd", "del")
    ),
    *(
        f"DROP FUNCTION kpi_dirty_{table}_{op_name}();"
        for table, _ in _TRIGGERED
        for op_name in ("ins", "upd", "del")
    ),
    "DROP INDEX agent_sessions_started;",
    "DROP INDEX queue_entries_linkedid;",
    "DROP INDEX queue_entries_talk_open;",
    "DROP INDEX acw_intervals_open;",
    "DROP INDEX acw_intervals_started;",
    "DROP INDEX acw_intervals_entry;",
    "DROP TABLE kpi_agent_time_rollups_day;",
    "DROP TABLE kpi_agent_rollups_day;",
    "DROP TABLE kpi_queue_rollups_day;",
    "DROP TABLE kpi_agent_time_rollups;",
    "DROP TABLE kpi_agent_rollups;",
    "DROP TABLE kpi_queue_rollups;",
    "DROP TABLE kpi_dirty_intervals;",
    "DROP SEQUENCE kpi_dirty_gen;",
    "DROP TABLE kpi_rollup_settings;",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

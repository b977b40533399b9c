"""The 15-second clock from system entry in the rollups; per-call corrections kept by the
rollup refresher.

- ``answered_sys_wait_hist`` on the four entry rollup tables: answered entries by their
  wait from the call's entry into the system (``kpi.sql`` ``SYSTEM_WAIT``: the IVR's
  ``since_start_s`` at the call's first ``queue`` step, plus the time from the call's
  first queue entry to this entry, plus its own wait). NULL in rows built before this
  revision: equal to ``answered_wait_hist`` (no IVR step, no earlier entry), and every
  interval where it is not is marked dirty here.
- ``kpi_call_corrections`` (and ``_day``): per-call counting (Haikou) as a correction
  of the per-entry rollups, for the calls with several queue entries: ``old`` their
  entries, each in its own interval; ``new`` one entry per call in the interval of its
  first entry. Keyed by ``anchor_start``, the interval of the calls' first entries, and
  rebuilt with that interval's rollups.
- Dirty marks reach every entry of a call: a write to one of its queue entries, to the
  ACW or survey of one, or to a ``queue`` step of its IVR path marks the intervals of
  all its entries (a call's per-call record and its system-entry waits depend on all of
  them). The day-generation cache of 0012 (``assessment_call_cache``) is dropped with its
  triggers: the corrections replace it.

Revision ID: 0016_assess_cold
Revises: 0015_rec_ship
Create Date: 2026-12-04
"""

import importlib

from alembic import op

revision = "0016_assess_cold"
down_revision = "0015_rec_ship"
branch_labels = None
depends_on = None

_BUCKET = "date_bin(interval '15 minutes', {ts}, timestamptz '1970-01-01 00:00:00+00')"
_ROLLUPS = (
    "kpi_queue_rollups",
    "kpi_agent_rollups",
    "kpi_queue_rollups_day",
    "kpi_agent_rollups_day",
)

_COUNTER_COLUMNS = """
        answered             integer NOT NULL,
        abandoned            integer NOT NULL,
        timed_out            integer NOT NULL,
        no_agents            integer NOT NULL,
        exited_with_key      integer NOT NULL,
        transferred          integer NOT NULL,
        lost                 integer NOT NULL,
        answered_wait_hist   integer[] NOT NULL,
        abandoned_wait_hist  integer[] NOT NULL,
        sum_wait_answered    bigint NOT NULL,
        n_talk               integer NOT NULL,
        sum_talk             bigint NOT NULL,
        n_acw                integer NOT NULL,
        sum_acw              bigint NOT NULL,
        n_handle             integer NOT NULL,
        sum_handle           bigint NOT NULL,
        survey_by_key        integer[] NOT NULL,
        answered_sys_wait_hist integer[] NOT NULL
"""

_MARK = """
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT DISTINCT b FROM ({touched}) AS t(b) WHERE b IS NOT NULL
    ORDER BY b
    ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now();
"""


def _span(start: str, end: str) -> str:
    return f"SELECT generate_series({_BUCKET.format(ts=start)}, {end}, interval '15 minutes')"


def _siblings(rows: str, where: str = "", other: str = "") -> str:
    """The intervals of the queue entries of the calls of ``rows`` (by node and callid).

    Each row probes the primary key (``OFFSET 0`` keeps the subquery a parameterized
    index scan: a transition table has no statistics, and a hash join would read the
    whole fact table)."""
    return f"""
        SELECT {_BUCKET.format(ts="qe.entered_at")} FROM {rows} r
        CROSS JOIN LATERAL (
            SELECT o.entered_at FROM queue_entries o
            WHERE o.node = r.node AND o.callid = r.callid{other} OFFSET 0
        ) qe{where}"""


def _calls_entries(rows: str, where: str = "") -> str:
    """The intervals of every queue entry of the calls of ``rows``."""
    return _siblings(rows, where)


def _entry_own(rows: str) -> str:
    """0003's marks: the entry's interval and those its talk covers."""
    return f"""
        SELECT {_BUCKET.format(ts="r.entered_at")} FROM {rows} r
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span(
            "r.ended_wait_at", "r.ended_wait_at + r.talk_s * interval '1 second'"
        )}) AS s(b)
        WHERE r.outcome = 'answered' AND r.talk_s IS NOT NULL AND r.ended_wait_at IS NOT NULL
    """


def _entry_siblings(rows: str) -> str:
    return _siblings(rows, other=" AND (o.queue, o.seq) <> (r.queue, r.seq)")


def _entry_touched(rows: str) -> str:
    # 0003's marks, and the entries of the same calls (siblings).
    return f"{_entry_own(rows)} UNION ALL {_entry_siblings(rows)}"


# An update keeps a row's call (node, callid are its key): the siblings of the new rows
# are those of the old ones, except where a row's key itself changed.
_MOVED = """(SELECT * FROM old_rows m WHERE NOT EXISTS (
    SELECT 1 FROM new_rows n WHERE n.node = m.node AND n.callid = m.callid))"""
_ENTRY_UPDATE = (
    f"{_entry_own('new_rows')} UNION ALL {_entry_own('old_rows')} UNION ALL "
    f"{_entry_siblings('new_rows')} UNION ALL {_entry_siblings(_MOVED)}"
)


def _acw_touched(rows: str) -> str:
    return f"""
        {_calls_entries(rows, " WHERE r.callid IS NOT NULL")}
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span("r.started_at", "r.ended_at")}) AS s(b)
        WHERE r.ended_at IS NOT NULL
    """


def _function(table: str, op_name: str, touched: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION kpi_dirty_{table}_{op_name}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {_MARK.format(touched=touched)}
        RETURN NULL;
    END $$;
    """


def _functions(table: str, touched: object, update: str | None = None) -> list[str]:
    assert callable(touched)
    both = update or f"{touched('new_rows')} UNION ALL {touched('old_rows')}"
    return [
        _function(table, "ins", touched("new_rows")),
        _function(table, "upd", both),
        _function(table, "del", touched("old_rows")),
    ]


def _ivr_touched(rows: str) -> str:
    return _calls_entries(rows, " WHERE r.kind = 'queue'")


_REFS = (
    ("ins", "INSERT", "NEW TABLE AS new_rows"),
    ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("del", "DELETE", "OLD TABLE AS old_rows"),
)


def _survey_touched(rows: str) -> str:
    return _calls_entries(rows)


_TOUCH_0012 = ("queue_entries", "acw_intervals", "calls")

UPGRADE: tuple[str, ...] = (
    *(f"ALTER TABLE {table} ADD COLUMN answered_sys_wait_hist integer[];" for table in _ROLLUPS),
    f"""
    CREATE TABLE kpi_call_corrections (
        anchor_start    timestamptz NOT NULL,
        interval_start  timestamptz NOT NULL,
        kind            text NOT NULL CHECK (kind IN ('old', 'new')),
        node            text NOT NULL,
        line            text NOT NULL,
        queue           text NOT NULL,
        {_COUNTER_COLUMNS},
        PRIMARY KEY (anchor_start, interval_start, kind, node, line, queue)
    );
    """,
    # Day blocks of anchors (96 intervals from UTC+8 midnight, as the rollups' ``_day``),
    # with ``interval_start`` the day block of the row's own interval.
    """
    CREATE TABLE kpi_call_corrections_day (LIKE kpi_call_corrections INCLUDING ALL);
    """,
    *_functions("queue_entries", _entry_touched, _ENTRY_UPDATE),
    *_functions("acw_intervals", _acw_touched),
    *_functions("survey_answers", _survey_touched),
    *_functions("ivr_steps", _ivr_touched),
    *(
        f"""
        CREATE TRIGGER kpi_dirty_{op_name} AFTER {event} ON ivr_steps
        REFERENCING {refs} FOR EACH STATEMENT
        EXECUTE FUNCTION kpi_dirty_ivr_steps_{op_name}();
        """
        for op_name, event, refs in _REFS
    ),
    *(
        statement
        for table in _TOUCH_0012
        for op_name, _, _ in _REFS
        for statement in (
            f"DROP TRIGGER IF EXISTS assessment_touch_{op_name} ON {table};",
            f"DROP FUNCTION IF EXISTS assessment_touch_{table}_{op_name}();",
        )
    ),
    "DROP TABLE IF EXISTS assessment_call_cache;",
    "DROP TABLE IF EXISTS assessment_day_gen;",
    "DROP SEQUENCE IF EXISTS assessment_day_gen_seq;",
    # Rollups built before: where a call has an IVR queue step or several entries, the
    # system-entry waits differ and a per-call correction is due; rebuild them.
    f"""
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT {_BUCKET.format(ts="qe.entered_at")} FROM ivr_steps s
    JOIN queue_entries qe ON qe.node = s.node AND qe.callid = s.callid
    WHERE s.kind = 'queue'
    UNION
    SELECT {_BUCKET.format(ts="o.entered_at")} FROM queue_entries o
    WHERE EXISTS (SELECT 1 FROM queue_entries s WHERE s.node = o.node
                  AND s.callid = o.callid AND (s.queue, s.seq) <> (o.queue, o.seq))
    ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now();
    """,
)


def _restore_0003() -> list[str]:
    """0003's and 0009's trigger bodies (exact key, no siblings)."""

    def entry(rows: str) -> str:
        return f"""
        SELECT {_BUCKET.format(ts="r.entered_at")} FROM {rows} r
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span(
            "r.ended_wait_at", "r.ended_wait_at + r.talk_s * interval '1 second'"
        )}) AS s(b)
        WHERE r.outcome = 'answered' AND r.talk_s IS NOT NULL AND r.ended_wait_at IS NOT NULL
        """

    def keyed(rows: str) -> str:
        return f"""
        SELECT {_BUCKET.format(ts="qe.entered_at")} FROM {rows} r
        JOIN queue_entries qe ON qe.node = r.node AND qe.callid = r.callid
            AND qe.queue = r.queue AND qe.seq = r.seq"""

    def acw(rows: str) -> str:
        return f"""
        {keyed(rows)}
        UNION ALL
        SELECT s.b FROM {rows} r CROSS JOIN LATERAL ({_span("r.started_at", "r.ended_at")}) AS s(b)
        WHERE r.ended_at IS NOT NULL
        """

    return [
        *_functions("queue_entries", entry),
        *_functions("acw_intervals", acw),
        *_functions("survey_answers", keyed),
    ]


def _restore_0012() -> list[str]:
    """0012's day-generation cache, its table and triggers."""
    m = importlib.import_module("callctl.migrations.versions.0012_assess_assessment")
    keep = ("assessment_day_gen", "assessment_call_cache", "assessment_touch_")
    return [s for s in m.UPGRADE if any(k in s for k in keep)]


DOWNGRADE: tuple[str, ...] = (
    *(f"DROP TRIGGER kpi_dirty_{op_name} ON ivr_steps;" for op_name, _, _ in _REFS),
    *(f"DROP FUNCTION kpi_dirty_ivr_steps_{op_name}();" for op_name, _, _ in _REFS),
    *_restore_0003(),
    "DROP TABLE kpi_call_corrections_day;",
    "DROP TABLE kpi_call_corrections;",
    *(f"ALTER TABLE {table} DROP COLUMN answered_sys_wait_hist;" for table in _ROLLUPS),
    *_restore_0012(),
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

"""SQL text over the fact tables and rollups (no I/O here: builders only).

Every value travels as a bind parameter; only fixed fragments of this module
are ever spliced into SQL text.

An entry's KPI view follows ``callctl.facts.to_kpi.entry_record``: entries with
no outcome or no wait yet are left out; an answered entry's ACW is the length
of the ACW interval tied to it (the latest, if several), capped at its line's
``acw_max_s``, unknown while that interval is open; with no tied interval it is
0 once the call has completed and unknown before. Its survey is the key of its
row in ``survey_answers`` (answered entries only; no row, no answer). Its line
is the entry's own ``line``, else the line of its call (``calls`` by
``linkedid``, which is the caller channel's ``uniqueid``, i.e. the entry's
``callid``, for an inbound call).
The caps travel as bind parameters (``kpi.inputs.AcwCaps``); an ACW span in
agent time is capped by the line of the entry it is tied to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kpi.counters import WAIT_BUCKETS
from kpi.inputs import MAX_THRESHOLD_S, AcwCaps
from kpi.intervals import INTERVAL, Span

MAX_CALL_SPAN = timedelta(hours=6)
"""Bound on wait + talk of one entry, used to find talk spans that reach into a
window from entries that began before it (there is no immutable expression to
index a talk span's end by). Talk more than 6 h after the entry began would go
uncounted in agent time; entry KPIs do not depend on it."""

BUCKET_SQL = "date_bin(interval '15 minutes', {ts}, timestamptz '1970-01-01 00:00:00+00')"


@dataclass(slots=True)
class SqlParams:
    """Positional bind parameters, numbered as they are added."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def spans(self, spans: tuple[Span, ...] | list[Span]) -> str:
        """A ``w(s, e)`` relation of half-open spans."""
        starts = self.add([s for s, _ in spans])
        ends = self.add([e for _, e in spans])
        return f"unnest({starts}::timestamptz[], {ends}::timestamptz[]) AS w(s, e)"


@dataclass(frozen=True, slots=True)
class EntryFilter:
    node: str | None = None
    line: str | None = None
    queue: str | None = None
    agent: str | None = None
    agent_required: bool = False
    """Only entries with an agent (per-agent figures)."""


def entry_filter_sql(f: EntryFilter, p: SqlParams) -> str:
    clauses = []
    if f.node is not None:
        clauses.append(f"qe.node = {p.add(f.node)}")
    if f.line is not None:
        clauses.append(f"x.line = {p.add(f.line)}")
    if f.queue is not None:
        clauses.append(f"qe.queue = {p.add(f.queue)}")
    if f.agent is not None:
        clauses.append(f"qe.agent = {p.add(f.agent)}")
    elif f.agent_required:
        clauses.append("qe.agent IS NOT NULL")
    return "".join(f" AND {c}" for c in clauses)


def acw_cap_sql(caps: AcwCaps, line_expr: str, p: SqlParams) -> str:
    """The ``acw_max_s`` (integer seconds) of the line ``line_expr``: its own, else the default."""
    lines, values = p.add(caps.lines), p.add(caps.caps)
    default = p.add(caps.default_s)
    return (
        f"COALESCE(({values}::integer[])[array_position({lines}::text[], {line_expr})], "
        f"{default}::integer)"
    )


ACW_LINE_SQL = """
        LEFT JOIN LATERAL (
            SELECT COALESCE(e.line, ec.line) AS line FROM queue_entries e
            LEFT JOIN calls ec ON ec.node = e.node AND ec.linkedid = COALESCE(e.linkedid, e.callid)
            WHERE a.callid IS NOT NULL AND e.node = a.node AND e.callid = a.callid
              AND e.queue = a.queue AND e.seq = a.seq
        ) al ON true"""
"""``al.line``: the line of the entry an ACW interval ``a`` is tied to (NULL: unknown)."""


def acw_span_cap_sql(caps: AcwCaps, p: SqlParams) -> str:
    """The cap of the ACW interval ``a`` (with ``ACW_LINE_SQL`` joined) as an interval."""
    return f"({acw_cap_sql(caps, 'al.line', p)} * interval '1 second')"


SYSTEM_WAIT_JOINS = """
    LEFT JOIN LATERAL (
        SELECT min(o.entered_at) AS first_at FROM queue_entries o
        WHERE qe.outcome = 'answered' AND o.node = qe.node AND o.callid = qe.callid
    ) fe ON true
    LEFT JOIN LATERAL (
        SELECT min(s.since_start_s) AS ivr_s FROM ivr_steps s
        WHERE qe.outcome = 'answered' AND s.node = qe.node AND s.callid = qe.callid
          AND s.kind = 'queue'
    ) iv ON true"""
"""``fe.first_at``: the first queue entry of an answered entry's call; ``iv.ivr_s``: the
seconds from the call's entry into the system to that first queue entry (the IVR's
``since_start_s`` at the call's first ``queue`` step; no IVR step: 0)."""

SYSTEM_WAIT = (
    "CASE WHEN qe.outcome = 'answered' THEN qe.wait_s"
    " + floor(extract(epoch FROM qe.entered_at - fe.first_at))::int"
    " + COALESCE(iv.ivr_s, 0) END"
)
"""An answered entry's wait from the call's entry into the system (从系统接入到人工接听):
the system entry is the call's first queue entry minus the IVR time before it."""

SL_CLOCKS = ("queue", "system")


def entry_source_sql(
    spans_sql: str, caps: AcwCaps, p: SqlParams, *, system_clock: bool = False, joins: str = ""
) -> str:
    """FROM clause of entries with their KPI view in ``x``: line, talk_s, acw_s, and
    (``system_clock``) ``sys_wait``, an answered entry's wait from system entry;
    ``joins``: more of this module's fixed joins on ``qe``."""
    acw_cap = acw_cap_sql(caps, "COALESCE(qe.line, c.line)", p)
    joins = (SYSTEM_WAIT_JOINS if system_clock else "") + joins
    sys_wait = SYSTEM_WAIT if system_clock else "NULL::integer"
    return f"""
    FROM {spans_sql}
    JOIN queue_entries qe ON qe.entered_at >= w.s AND qe.entered_at < w.e
    LEFT JOIN calls c ON c.node = qe.node AND c.linkedid = COALESCE(qe.linkedid, qe.callid)
    LEFT JOIN LATERAL (
        SELECT a.started_at, a.ended_at FROM acw_intervals a
        WHERE qe.outcome = 'answered' AND a.callid IS NOT NULL AND a.node = qe.node
          AND a.callid = qe.callid AND a.queue = qe.queue AND a.seq = qe.seq
        ORDER BY a.started_at DESC LIMIT 1
    ) acw ON true
    LEFT JOIN survey_answers sa ON qe.outcome = 'answered' AND sa.node = qe.node
        AND sa.callid = qe.callid AND sa.queue = qe.queue AND sa.seq = qe.seq{joins}
    CROSS JOIN LATERAL (SELECT
        {sys_wait} AS sys_wait,
        COALESCE(qe.line, c.line) AS line,
        CASE WHEN qe.outcome = 'answered' THEN qe.talk_s END AS talk_s,
        CASE
            WHEN qe.outcome <> 'answered' THEN NULL
            WHEN acw.started_at IS NOT NULL AND acw.ended_at IS NULL THEN NULL
            WHEN acw.started_at IS NOT NULL
                THEN least(extract(epoch FROM acw.ended_at - acw.started_at)::bigint,
                           ({acw_cap})::bigint)
            WHEN qe.completed_at IS NOT NULL THEN 0
        END AS acw_s,
        sa.answer::integer AS survey
    ) x
    WHERE qe.outcome IS NOT NULL AND qe.wait_s IS NOT NULL"""


WAIT_BUCKET = f"least(qe.wait_s, {MAX_THRESHOLD_S + 1})"
SYSTEM_BUCKET = (
    f"CASE WHEN qe.outcome = 'answered' THEN least(x.sys_wait, {MAX_THRESHOLD_S + 1})"
    f" ELSE {WAIT_BUCKET} END"
)
"""The wait bucket with the 15-second clock from system entry: answered entries by
their wait from system entry, the others (abandoned) by their own wait."""

ENTRY_AGGREGATES = f"""
    qe.outcome, {WAIT_BUCKET}, x.survey,
    count(*), sum(qe.wait_s)::bigint,
    count(x.talk_s), coalesce(sum(x.talk_s), 0)::bigint,
    count(x.acw_s), coalesce(sum(x.acw_s), 0)::bigint,
    count(x.talk_s + x.acw_s), coalesce(sum(x.talk_s + x.acw_s), 0)::bigint"""
"""Columns of ``kpi.fold.EntryAggregate``, after the group columns."""


def entry_aggregate_sql(
    group_exprs: list[str], spans: list[Span], caps: AcwCaps, f: EntryFilter, p: SqlParams,
    *, sl_clock: str = "queue", system_bucket_group: bool = False,
) -> str:  # fmt: skip
    """Entries of ``spans`` grouped by ``group_exprs`` + outcome, wait bucket, survey.

    ``sl_clock`` ``system``: answered entries' wait bucket from system entry (their
    summed wait stays the queue's). ``system_bucket_group``: the system-entry bucket of
    answered entries (NULL for the others) as one more group column, after
    ``group_exprs`` (the rollups keep both histograms)."""
    if sl_clock not in SL_CLOCKS:
        raise ValueError(f"sl_clock must be one of {SL_CLOCKS}, got {sl_clock!r}")
    system = sl_clock == "system"
    source = entry_source_sql(p.spans(spans), caps, p, system_clock=system or system_bucket_group)
    where = entry_filter_sql(f, p)
    bucket = SYSTEM_BUCKET if system else WAIT_BUCKET
    extra = [f"least(x.sys_wait, {MAX_THRESHOLD_S + 1})"] if system_bucket_group else []
    groups = [*group_exprs, *extra, "qe.outcome", bucket, "x.survey"]
    positions = ", ".join(str(i + 1) for i in range(len(groups)))
    selected = ", ".join([*group_exprs, *extra])
    aggregates = ENTRY_AGGREGATES.replace(WAIT_BUCKET, bucket, 1)
    return f"SELECT {selected}, {aggregates} {source}{where} GROUP BY {positions}"


COUNTER_SCALARS = (
    "answered",
    "abandoned",
    "timed_out",
    "no_agents",
    "exited_with_key",
    "transferred",
    "lost",
    "sum_wait_answered",
    "n_talk",
    "sum_talk",
    "n_acw",
    "sum_acw",
    "n_handle",
    "sum_handle",
)
COUNTER_ARRAYS = (
    ("answered_wait_hist", WAIT_BUCKETS),
    ("abandoned_wait_hist", WAIT_BUCKETS),
    ("survey_by_key", 10),
)


SYS_HIST = "answered_sys_wait_hist"
"""Rollup column: answered entries by wait from system entry (NULL: ``answered_wait_hist``)."""

ENTRY_ROLLUP_TABLES = (
    "kpi_queue_rollups",
    "kpi_agent_rollups",
    "kpi_queue_rollups_day",
    "kpi_agent_rollups_day",
    "kpi_call_corrections",
    "kpi_call_corrections_day",
)
ROLLUP_KEYS = {
    "kpi_queue_rollups": ("node", "line", "queue"),
    "kpi_agent_rollups": ("node", "line", "queue", "agent"),
    "kpi_agent_time_rollups": ("node", "agent"),
}
CORRECTION_KEYS = ("kind", "node", "line", "queue")
"""``kpi_call_corrections``'s key after ``anchor_start`` and ``interval_start``."""


def day_rebuild_sql(table: str, days: str) -> str:
    """Rebuild the ``{table}_day`` rows of the day blocks starting at ``days``."""
    keys = CORRECTION_KEYS if table == "kpi_call_corrections" else ROLLUP_KEYS[table]
    if table == "kpi_agent_time_rollups":
        values = ["talking_s", "acw_s"]
        sums = ["sum(r.talking_s)", "sum(r.acw_s)"]
    else:
        values = [*COUNTER_SCALARS, *(name for name, _ in COUNTER_ARRAYS), SYS_HIST]
        sums = [f"sum(r.{name})" for name in COUNTER_SCALARS]
        for name, length in [*COUNTER_ARRAYS, (SYS_HIST, WAIT_BUCKETS)]:
            items = ", ".join(f"sum({_array(name)}[{i}])" for i in range(1, length + 1))
            sums.append(f"ARRAY[{items}]::integer[]")
    if table == "kpi_call_corrections":
        # Day blocks of anchors; each row's own interval folded into its day block.
        block = "d.s + floor(extract(epoch FROM r.interval_start - d.s) / 86400) * interval '1 day'"
        columns = ", ".join(["anchor_start", "interval_start", *keys, *values])
        key_list = ", ".join(f"r.{k}" for k in keys)
        return f"""
    INSERT INTO {table}_day ({columns})
    SELECT d.s, {block}, {key_list}, {", ".join(sums)}
    FROM unnest({days}::timestamptz[]) AS d(s)
    JOIN {table} r ON r.anchor_start >= d.s AND r.anchor_start < d.s + interval '1 day'
    GROUP BY d.s, 2, {key_list}"""
    columns = ", ".join(["interval_start", *keys, *values])
    key_list = ", ".join(f"r.{k}" for k in keys)
    return f"""
    INSERT INTO {table}_day ({columns})
    SELECT d.s, {key_list}, {", ".join(sums)}
    FROM unnest({days}::timestamptz[]) AS d(s)
    JOIN {table} r ON r.interval_start >= d.s AND r.interval_start < d.s + interval '1 day'
    GROUP BY d.s, {key_list}"""


def _array(name: str) -> str:
    """A rollup array column; the system-entry histogram of an older row is its queue one."""
    return f"(COALESCE(r.{SYS_HIST}, r.answered_wait_hist))" if name == SYS_HIST else f"r.{name}"


def rollup_sums_sql(sl_clock: str = "queue") -> str:
    """``sum`` of every counter column, array elements one by one (in field order);
    ``sl_clock`` ``system``: the answered histogram from system entry."""
    if sl_clock not in SL_CLOCKS:
        raise ValueError(f"sl_clock must be one of {SL_CLOCKS}, got {sl_clock!r}")
    sums = [f"sum(r.{name})::bigint" for name in COUNTER_SCALARS]
    for name, length in COUNTER_ARRAYS:
        column = _array(SYS_HIST) if name == "answered_wait_hist" and sl_clock == "system" else (
            f"r.{name}"
        )  # fmt: skip
        sums.extend(f"sum({column}[{i}])::bigint" for i in range(1, length + 1))
    return ", ".join(sums)


def rollup_filter_sql(f: EntryFilter, p: SqlParams) -> str:
    clauses = []
    if f.node is not None:
        clauses.append(f"r.node = {p.add(f.node)}")
    if f.line is not None:
        clauses.append(f"r.line = {p.add(f.line)}")
    if f.queue is not None:
        clauses.append(f"r.queue = {p.add(f.queue)}")
    if f.agent is not None:
        clauses.append(f"r.agent = {p.add(f.agent)}")
    return "".join(f" AND {c}" for c in clauses)


def rollup_read_sql(
    group_expr: str, table: str, spans: list[Span], f: EntryFilter, p: SqlParams,
    sl_clock: str = "queue", *, column: str = "interval_start",
) -> str:  # fmt: skip
    """Summed counters per ``group_expr`` of the rows whose ``column`` is in ``spans``."""
    if table not in ENTRY_ROLLUP_TABLES:
        raise ValueError(f"not a rollup table: {table}")
    if column not in ("interval_start", "anchor_start"):
        raise ValueError(f"not a rollup time column: {column}")
    spans_sql = p.spans(spans)
    where = rollup_filter_sql(f, p)
    return (
        f"SELECT {group_expr}, {rollup_sums_sql(sl_clock)} FROM {spans_sql} "
        f"JOIN {table} r ON r.{column} >= w.s AND r.{column} < w.e "
        f"WHERE true{where} GROUP BY 1"
    )


# --- agent time ------------------------------------------------------------------------


def _agent_filter(alias: str, node: str | None, agent: str | None, p: SqlParams) -> str:
    clauses = [f"{alias}.agent IS NOT NULL"]
    if node is not None:
        clauses.append(f"{alias}.node = {p.add(node)}")
    if agent is not None:
        clauses.append(f"{alias}.agent = {p.add(agent)}")
    return "".join(f" AND {c}" for c in clauses)


def closed_time_sql(
    group_exprs: list[str],
    spans: list[Span],
    caps: AcwCaps,
    node: str | None,
    agent: str | None,
    p: SqlParams,
) -> str:
    """Closed talk and ACW spans, clipped to ``spans``: (groups..., talking_s, acw_s).

    Group expressions may use ``w.s`` (the span's start), ``t.node`` and ``t.agent``.
    """
    spans_sql = p.spans(spans)
    cap = acw_span_cap_sql(caps, p)
    longest = f"({p.add(caps.longest_s)}::integer * interval '1 second')"
    max_span = p.add(MAX_CALL_SPAN)
    talk_end = "(qe.ended_wait_at + qe.talk_s * interval '1 second')"
    acw_end = f"least(a.ended_at, a.started_at + {cap})"
    talk_filter = _agent_filter("qe", node, agent, p)
    acw_filter = _agent_filter("a", node, agent, p)
    groups = ", ".join(group_exprs)
    positions = ", ".join(str(i + 1) for i in range(len(group_exprs)))
    return f"""
    SELECT {groups}, sum(t.talking)::bigint, sum(t.acw)::bigint FROM {spans_sql}
    CROSS JOIN LATERAL (
        SELECT qe.node, qe.agent,
               extract(epoch FROM least({talk_end}, w.e)
                                  - greatest(qe.ended_wait_at, w.s))::bigint AS talking,
               0::bigint AS acw
        FROM queue_entries qe
        WHERE qe.entered_at >= w.s - {max_span}::interval AND qe.entered_at < w.e
          AND qe.outcome = 'answered' AND qe.talk_s IS NOT NULL
          AND qe.ended_wait_at < w.e AND {talk_end} > w.s{talk_filter}
        UNION ALL
        SELECT a.node, a.agent, 0::bigint,
               extract(epoch FROM least({acw_end}, w.e) - greatest(a.started_at, w.s))::bigint
        FROM acw_intervals a{ACW_LINE_SQL}
        WHERE a.started_at < w.e AND a.started_at >= w.s - {longest}
          AND a.ended_at IS NOT NULL AND {acw_end} > w.s{acw_filter}
    ) t
    GROUP BY {positions}"""


def open_time_sql(
    group_expr: str,
    span: Span,
    as_of: object,
    caps: AcwCaps,
    node: str | None,
    agent: str | None,
    p: SqlParams,
) -> str:
    """Talk and ACW still open at ``as_of``, clipped to ``span``: (group, talking_s, acw_s)."""
    start, end = p.add(span[0]), p.add(span[1])
    now = f"{p.add(as_of)}::timestamptz"
    cap = acw_span_cap_sql(caps, p)
    talk_filter = _agent_filter("qe", node, agent, p)
    acw_filter = _agent_filter("a", node, agent, p)
    talk_upper = f"least({now}, {end}::timestamptz)"
    acw_upper = f"least({now}, a.started_at + {cap}, {end}::timestamptz)"
    return f"""
    SELECT {group_expr}, sum(t.talking)::bigint, sum(t.acw)::bigint FROM (
        SELECT qe.node, qe.agent,
               extract(epoch FROM {talk_upper}
                                  - greatest(qe.ended_wait_at, {start}::timestamptz))::bigint
                   AS talking,
               0::bigint AS acw
        FROM queue_entries qe
        WHERE qe.outcome = 'answered' AND qe.talk_s IS NULL AND qe.completed_at IS NULL
          AND greatest(qe.ended_wait_at, {start}::timestamptz) < {talk_upper}{talk_filter}
        UNION ALL
        SELECT a.node, a.agent, 0::bigint,
               extract(epoch FROM {acw_upper}
                                  - greatest(a.started_at, {start}::timestamptz))::bigint
        FROM acw_intervals a{ACW_LINE_SQL}
        WHERE a.ended_at IS NULL
          AND greatest(a.started_at, {start}::timestamptz) < {acw_upper}{acw_filter}
    ) t
    GROUP BY 1"""


def logged_in_sql(
    group_expr: str, span: Span, as_of: object, node: str | None, agent: str | None, p: SqlParams
) -> str:
    """Logged-in seconds per group: the union of an agent's sessions (all queues) in ``span``.

    ``group_expr`` may use ``t.agent``; sessions still open count until ``as_of``.
    """
    start, end = p.add(span[0]), p.add(span[1])
    now = f"{p.add(as_of)}::timestamptz"
    lower = f"greatest(s.started_at, {start}::timestamptz)"
    upper = f"least(COALESCE(s.ended_at, {now}), {end}::timestamptz)"
    where = _agent_filter("s", node, agent, p)
    return f"""
    SELECT {group_expr}, coalesce(sum(extract(epoch FROM upper(t.r) - lower(t.r))), 0)::bigint
    FROM (
        SELECT s.agent, unnest(range_agg(tstzrange({lower}, {upper}))) AS r
        FROM agent_sessions s
        WHERE s.started_at < {end}::timestamptz AND {lower} < {upper}{where}
        GROUP BY s.agent
    ) t
    GROUP BY 1"""


def time_rollup_read_sql(
    group_expr: str,
    spans: list[Span],
    node: str | None,
    agent: str | None,
    p: SqlParams,
    table: str = "kpi_agent_time_rollups",
) -> str:
    """Rolled-up closed talk and ACW seconds: (group, talking_s, acw_s); may use ``r.agent``."""
    if table not in ("kpi_agent_time_rollups", "kpi_agent_time_rollups_day"):
        raise ValueError(f"not a time rollup table: {table}")
    spans_sql = p.spans(spans)
    where = _agent_filter("r", node, agent, p)
    return (
        f"SELECT {group_expr}, sum(r.talking_s)::bigint, sum(r.acw_s)::bigint FROM {spans_sql} "
        f"JOIN {table} r ON r.interval_start >= w.s AND r.interval_start < w.e "
        f"WHERE true{where} GROUP BY 1"
    )


def closed_time_by_interval_sql(starts: list[datetime], caps: AcwCaps, p: SqlParams) -> str:
    """Closed talk and ACW per (interval, node, agent) for the 15-minute ``starts``.

    Each span is cut into the intervals it touches (``generate_series``) and
    joined to ``starts`` by equality: linear in the spans of the period, where
    ``closed_time_sql`` would rescan them per interval. Same figures.
    """
    lo, hi = min(starts), max(starts) + INTERVAL
    starts_sql = p.add(list(starts))
    lo_sql, hi_sql = f"{p.add(lo)}::timestamptz", f"{p.add(hi)}::timestamptz"
    cap = acw_span_cap_sql(caps, p)
    longest = f"({p.add(caps.longest_s)}::integer * interval '1 second')"
    max_span = f"{p.add(MAX_CALL_SPAN)}::interval"
    talk_end = "(qe.ended_wait_at + qe.talk_s * interval '1 second')"
    acw_end = f"least(a.ended_at, a.started_at + {cap})"
    quarter = "interval '15 minutes'"
    talk_bucket = BUCKET_SQL.format(ts="qe.ended_wait_at")
    acw_bucket = BUCKET_SQL.format(ts="a.started_at")
    return f"""
    SELECT t.s, t.node, t.agent, sum(t.talking)::bigint, sum(t.acw)::bigint FROM (
        SELECT g.s, qe.node, qe.agent,
               extract(epoch FROM least({talk_end}, g.s + {quarter})
                                  - greatest(qe.ended_wait_at, g.s))::bigint AS talking,
               0::bigint AS acw
        FROM queue_entries qe
        CROSS JOIN LATERAL generate_series({talk_bucket}, {talk_end}, {quarter}) AS g(s)
        WHERE qe.entered_at >= {lo_sql} - {max_span} AND qe.entered_at < {hi_sql}
          AND qe.outcome = 'answered' AND qe.talk_s IS NOT NULL AND qe.agent IS NOT NULL
          AND qe.ended_wait_at < {hi_sql} AND {talk_end} > {lo_sql}
        UNION ALL
        SELECT g.s, a.node, a.agent, 0::bigint,
               extract(epoch FROM least({acw_end}, g.s + {quarter})
                                  - greatest(a.started_at, g.s))::bigint
        FROM acw_intervals a{ACW_LINE_SQL}
        CROSS JOIN LATERAL generate_series({acw_bucket}, {acw_end}, {quarter}) AS g(s)
        WHERE a.started_at >= {lo_sql} - {longest} AND a.started_at < {hi_sql}
          AND a.ended_at IS NOT NULL AND a.agent IS NOT NULL
    ) t
    WHERE t.s = ANY({starts_sql}::timestamptz[])
    GROUP BY 1, 2, 3"""


def cap_change_marks_sql(old: AcwCaps, new: AcwCaps, p: SqlParams) -> str:
    """Mark dirty the intervals whose rollups change when the line caps go from ``old``
    to ``new``: for each closed ACW interval whose line's cap changed and whose length
    exceeds the smaller cap, its entry's interval and the intervals its span covers
    under the larger cap. Other figures do not depend on the caps."""
    old_cap = acw_cap_sql(old, "al.line", p)
    new_cap = acw_cap_sql(new, "al.line", p)
    quarter = "interval '15 minutes'"
    span_end = "least(a.ended_at, a.started_at + greatest(k.old, k.new) * interval '1 second')"
    return f"""
    INSERT INTO kpi_dirty_intervals (interval_start)
    SELECT b.s FROM acw_intervals a
    LEFT JOIN LATERAL (
        SELECT COALESCE(e.line, ec.line) AS line, e.entered_at FROM queue_entries e
        LEFT JOIN calls ec ON ec.node = e.node AND ec.linkedid = COALESCE(e.linkedid, e.callid)
        WHERE a.callid IS NOT NULL AND e.node = a.node AND e.callid = a.callid
          AND e.queue = a.queue AND e.seq = a.seq
    ) al ON true
    CROSS JOIN LATERAL (SELECT {old_cap} AS old, {new_cap} AS new) k
    CROSS JOIN LATERAL (
        SELECT {BUCKET_SQL.format(ts="al.entered_at")} WHERE al.entered_at IS NOT NULL
        UNION
        SELECT generate_series({BUCKET_SQL.format(ts="a.started_at")}, {span_end}, {quarter})
    ) AS b(s)
    WHERE a.ended_at IS NOT NULL AND k.old <> k.new
      AND a.ended_at - a.started_at > least(k.old, k.new) * interval '1 second'
    GROUP BY b.s
    ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now()"""


_PICK_ORDER = (
    "(o.outcome = 'answered') DESC, CASE WHEN o.outcome = 'answered' THEN o.entered_at END,"
    " o.entered_at DESC, o.queue DESC, o.seq DESC"
)
PER_CALL_PICK = f"""
    CROSS JOIN LATERAL (
        SELECT min(o.entered_at) AS first_at,
               (array_agg(o.queue ORDER BY {_PICK_ORDER}))[1] AS pick_queue,
               (array_agg(o.seq ORDER BY {_PICK_ORDER}))[1] AS pick_seq
        FROM queue_entries o
        WHERE o.node = qe.node AND o.callid = qe.callid
          AND o.outcome IS NOT NULL AND o.wait_s IS NOT NULL
    ) pc"""
"""``pc.first_at``: the call's first queue entry; ``pc.pick_*``: queue and seq of the entry
that counts for the call (``kpi.call_corrections``: first answered, else last)."""


def entry_rows_sql(
    span: Span, caps: AcwCaps, f: EntryFilter, outcomes: list[str], p: SqlParams,
    *, system_clock: bool = False, per_call: bool = False,
) -> str:  # fmt: skip
    """The entries of ``span`` one by one, with their KPI view, in arrival order;
    ``sys_wait``: an answered entry's wait from system entry (``system_clock``).

    ``per_call``: one entry per call, the one it counts by, for the calls whose first
    entry is in ``span`` (read a day past its end: a call's chosen entry may be later);
    ``call_wait`` is its wait from the call's first queue entry."""
    start, end = span
    read = (start, end + timedelta(days=1)) if per_call else span
    source = entry_source_sql(p.spans([read]), caps, p, system_clock=system_clock,
                              joins=PER_CALL_PICK if per_call else "")  # fmt: skip
    where = entry_filter_sql(f, p)
    call_wait = "qe.wait_s"
    if per_call:
        lo, hi = p.add(start), p.add(end)
        where += (
            " AND pc.pick_queue = qe.queue AND pc.pick_seq = qe.seq"
            f" AND pc.first_at >= {lo}::timestamptz AND pc.first_at < {hi}::timestamptz"
        )
        call_wait = "qe.wait_s + floor(extract(epoch FROM qe.entered_at - pc.first_at))::int"
    return f"""
    SELECT qe.node, qe.callid, qe.queue, qe.seq, x.line, qe.entered_at, qe.caller_num,
           qe.outcome, qe.wait_s, qe.agent, x.talk_s, x.acw_s, x.survey, qe.hangup_side,
           x.sys_wait, {call_wait} AS call_wait
    {source}{where} AND qe.outcome = ANY({p.add(outcomes)}::text[])
    ORDER BY qe.entered_at, qe.node, qe.callid, qe.queue, qe.seq"""

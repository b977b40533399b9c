"""A month's counters per local day for an assessment (SQL through a caller's connection).

- per queue entry: ``kpi.query.query_kpis`` grouped by day (rollups where clean);
- per call (``Counting.per_call``): each day's counters with the entries of calls that
  had several queue entries replaced by one entry per call: its first answered entry,
  else its last, with its wait counted from the call's first queue entry. Only calls
  with an entry that left a queue unanswered can have several, so the correction reads
  those few through a partial index (migration 0012);
- utilisation: agent time per day (only where a rule needs it);
- surge days: the counters of a day's first N entries in arrival order.

Queue entries belong to the day of their ``entered_at`` (a call to the day of its
first entry); a call's entries are looked for inside the month.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi.agent_time import AgentTimeCounters
from kpi.counters import KpiCounters
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import MAX_THRESHOLD_S, KpiParams
from kpi.query import GroupBy, KpiQuery, query_kpis, snapshot
from kpi.sql import EntryFilter, SqlParams, entry_filter_sql, entry_source_sql

_AGGREGATES = f"""
    outcome, least(wait_s, {MAX_THRESHOLD_S + 1}), survey,
    count(*), sum(wait_s)::bigint,
    count(talk_s), coalesce(sum(talk_s), 0)::bigint,
    count(acw_s), coalesce(sum(acw_s), 0)::bigint,
    count(talk_s + acw_s), coalesce(sum(talk_s + acw_s), 0)::bigint"""
_GROUP = f"1, 2, outcome, least(wait_s, {MAX_THRESHOLD_S + 1}), survey"


def month_window(month: str, tz: str) -> tuple[datetime, datetime]:
    """``[first day 00:00, next month's first day 00:00)`` in ``tz``, as UTC."""
    year, number = int(month[:4]), int(month[5:7])
    zone = ZoneInfo(tz)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_days(start: datetime, end: datetime, tz: str) -> list[date]:
    zone = ZoneInfo(tz)
    first, last = (
        start.astimezone(zone).date(),
        (end - timedelta(seconds=1)).astimezone(zone).date(),
    )
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def per_call_sql(start: datetime, end: datetime, params: KpiParams, f: EntryFilter, tz: str,
                 p: SqlParams, *, one_per_call: bool = True) -> str:  # fmt: skip
    """Rows ``(kind, day, EntryAggregate...)``: ``old`` aggregates every entry of the
    window's multi-entry calls by its own day; ``new`` one entry per such call, by the
    day of the call's first entry, with the wait from that first entry
    (``one_per_call``), or every entry by its own day with the wait from the call's
    first entry (the 15-second clock from system entry, counted per queue entry)."""
    lo, hi = p.add(start), p.add(end)
    zone = p.add(tz)
    source = entry_source_sql(p.spans([(start, end)]), params.acw_caps, p)
    where = entry_filter_sql(f, p)
    return f"""
    WITH multi AS (
        SELECT DISTINCT qe.node, qe.callid FROM queue_entries qe
        WHERE qe.entered_at >= {lo}::timestamptz AND qe.entered_at < {hi}::timestamptz
          AND qe.outcome IN ('timeout', 'empty', 'key', 'transfer')
          AND EXISTS (SELECT 1 FROM queue_entries o WHERE o.node = qe.node
                      AND o.callid = qe.callid AND (o.queue, o.seq) <> (qe.queue, qe.seq))
    ), ent AS (
        SELECT qe.node, qe.callid, qe.queue, qe.seq, qe.entered_at, qe.outcome, qe.wait_s,
               x.talk_s, x.acw_s, x.survey,
               date_trunc('day', qe.entered_at, {zone}::text) AS day
        {source}{where} AND (qe.node, qe.callid) IN (SELECT node, callid FROM multi)
    ), ranked AS (
        SELECT ent.*, min(entered_at) OVER w AS first_at,
               row_number() OVER (PARTITION BY node, callid ORDER BY
                   (outcome = 'answered') DESC,
                   CASE WHEN outcome = 'answered' THEN entered_at END ASC,
                   entered_at DESC, queue DESC, seq DESC) AS pick
        FROM ent WINDOW w AS (PARTITION BY node, callid)
    ), call_entry AS (
        SELECT date_trunc('day', {"first_at" if one_per_call else "entered_at"}, {zone}::text)
                   AS day, outcome,
               wait_s + floor(extract(epoch FROM entered_at - first_at))::int AS wait_s,
               talk_s, acw_s, survey
        FROM ranked WHERE {"pick = 1" if one_per_call else "true"}
    )
    SELECT 'old', day, {_AGGREGATES} FROM ent GROUP BY {_GROUP}
    UNION ALL
    SELECT 'new', day, {_AGGREGATES} FROM call_entry GROUP BY {_GROUP}"""


def surge_sql(day_start: datetime, limit: int, params: KpiParams, f: EntryFilter,
              p: SqlParams) -> str:  # fmt: skip
    """EntryAggregate rows of the first ``limit`` entries of the day from ``day_start``."""
    source = entry_source_sql(p.spans([(day_start, day_start + timedelta(days=1))]),
                              params.acw_caps, p)  # fmt: skip
    where = entry_filter_sql(f, p)
    return f"""
    SELECT 1, 1, {_AGGREGATES} FROM (
        SELECT qe.outcome, qe.wait_s, x.talk_s, x.acw_s, x.survey {source}{where}
        ORDER BY qe.entered_at, qe.node, qe.callid, qe.queue, qe.seq LIMIT {p.add(limit)}
    ) e GROUP BY {_GROUP}"""


def _local_date(value: Any, tz: str) -> date:
    return datetime.fromisoformat(value).astimezone(ZoneInfo(tz)).date()


async def per_call_counters(
    conn: Any, start: datetime, end: datetime, params: KpiParams, f: EntryFilter, tz: str,
    days: dict[date, KpiCounters], *, one_per_call: bool = True,
) -> dict[date, KpiCounters]:  # fmt: skip
    """``days`` (per-entry counters) counted per call instead, or (``one_per_call``
    false) with each entry's wait from its call's first entry."""
    p = SqlParams()
    sql = per_call_sql(start, end, params, f, tz, p, one_per_call=one_per_call)
    rows = await conn.fetch(sql, *p.values)
    folded = fold_aggregates(
        ((r[0], r[1].astimezone(ZoneInfo(tz)).date()), EntryAggregate(*r[2:])) for r in rows
    )
    result = dict(days)
    for day in {d for _, d in folded}:
        old = folded.get(("old", day), KpiCounters())
        new = folded.get(("new", day), KpiCounters())
        result[day] = result.get(day, KpiCounters()).replaced(old, new)
    return result


async def daily_counters(
    conn: Any, start: datetime, end: datetime, params: KpiParams, f: EntryFilter, tz: str,
    *, per_call: bool, from_system_entry: bool = False,
) -> dict[date, KpiCounters]:  # fmt: skip
    """Counters per local day; ``from_system_entry``: waits from the call's first entry
    into the system. The IVR's entry time is not recorded yet, so that is the call's
    first queue entry (it differs from queue entry for an overflowed caller)."""
    q = KpiQuery(start, end, node=f.node, line=f.line, queue=f.queue, group_by=GroupBy.DAY,
                 params=params, tz=tz)  # fmt: skip
    async with snapshot(conn):
        rows = await query_kpis(conn, q)
        days = {_local_date(r.group, tz): r.counters for r in rows if r.group is not None}
        if per_call or from_system_entry:
            days = await per_call_counters(
                conn, start, end, params, f, tz, days, one_per_call=per_call
            )
    return days


async def daily_agent_time(
    conn: Any, days: Sequence[date], params: KpiParams, node: str | None, tz: str
) -> dict[date, AgentTimeCounters]:
    """Logged-in, talking and ACW time of all agents, per local day."""
    zone = ZoneInfo(tz)
    result: dict[date, AgentTimeCounters] = {}
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        q = KpiQuery(start, start + timedelta(days=1), node=node, group_by=GroupBy.AGENT,
                     params=params, tz=tz)  # fmt: skip
        total = AgentTimeCounters()
        for row in await query_kpis(conn, q):
            if row.agent_time is not None:
                total = total + row.agent_time
        result[day] = total
    return result


async def first_entries_counters(
    conn: Any, day: date, limit: int, params: KpiParams, f: EntryFilter, tz: str
) -> KpiCounters:
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    p = SqlParams()
    rows = await conn.fetch(surge_sql(start, limit, params, f, p), *p.values)
    return fold_aggregates((1, EntryAggregate(*r[2:])) for r in rows).get(1, KpiCounters())


def same_day_last_year(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)

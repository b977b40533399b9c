"""A month's counters per local day for an assessment (SQL through a caller's connection).

- per queue entry: ``kpi.query.query_kpis`` grouped by day (rollups where clean), with
  the scheme's 15-second clock (``KpiParams.sl_clock``: from queue entry, or from system
  entry with the IVR's time, kept in the rollups as a second histogram);
- per call (``Counting.per_call``): each day's counters with the entries of calls that
  had several queue entries replaced by one entry per call: its first answered entry,
  else its last, with its wait counted from the call's first queue entry
  (``kpi.call_corrections``, kept by the rollup refresher);
- utilisation: agent time per day (only where a rule needs it);
- surge days: the counters of a day's first N entries in arrival order.

Queue entries belong to the day of their ``entered_at`` (a call to the day of its
first entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callctl.db_types import Connection, Queryable
from kpi.agent_time import AgentTimeCounters
from kpi.call_corrections import read_corrections
from kpi.counters import KpiCounters
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import KpiParams
from kpi.query import (
    GroupBy,
    KpiQuery,
    query_agent_time,
    query_kpis,
    rollup_acw_caps,
    snapshot,
)
from kpi.sql import (
    SYSTEM_BUCKET,
    WAIT_BUCKET,
    EntryFilter,
    SqlParams,
    entry_filter_sql,
    entry_source_sql,
)

_AGGREGATES = """
    outcome, bucket, survey,
    count(*), sum(wait_s)::bigint,
    count(talk_s), coalesce(sum(talk_s), 0)::bigint,
    count(acw_s), coalesce(sum(acw_s), 0)::bigint,
    count(talk_s + acw_s), coalesce(sum(talk_s + acw_s), 0)::bigint"""
_GROUP = "1, 2, outcome, bucket, survey"


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


def surge_sql(day_start: datetime, limit: int, params: KpiParams, f: EntryFilter,
              p: SqlParams) -> str:  # fmt: skip
    """EntryAggregate rows of the first ``limit`` entries of the day from ``day_start``."""
    system = params.sl_clock == "system"
    source = entry_source_sql(p.spans([(day_start, day_start + timedelta(days=1))]),
                              params.acw_caps, p, system_clock=system)  # fmt: skip
    where = entry_filter_sql(f, p)
    wait = SYSTEM_BUCKET if system else WAIT_BUCKET
    return f"""
    SELECT 1, 1, {_AGGREGATES} FROM (
        SELECT qe.outcome, qe.wait_s, {wait} AS bucket, x.talk_s, x.acw_s, x.survey
        {source}{where}
        ORDER BY qe.entered_at, qe.node, qe.callid, qe.queue, qe.seq LIMIT {p.add(limit)}
    ) e GROUP BY {_GROUP}"""


def _local_date(value: Any, tz: str) -> date:
    return datetime.fromisoformat(value).astimezone(ZoneInfo(tz)).date()


async def daily_counters(
    conn: Connection, start: datetime, end: datetime, params: KpiParams, f: EntryFilter, tz: str,
    *, per_call: bool,
) -> dict[date, KpiCounters]:  # fmt: skip
    """Counters per local day, with ``params.sl_clock``; ``per_call``: the calls with
    several queue entries counted once (``kpi.call_corrections``, kept with the rollups;
    only anchors still dirty are computed from the facts)."""
    q = KpiQuery(start, end, node=f.node, line=f.line, queue=f.queue, group_by=GroupBy.DAY,
                 params=params, tz=tz)  # fmt: skip
    async with snapshot(conn):
        rows = await query_kpis(conn, q)
        days = {_local_date(r.group, tz): r.counters for r in rows if r.group is not None}
        if per_call:
            use_stored = await rollup_acw_caps(conn) == params.acw_caps
            corrections = await read_corrections(
                conn, start, end, f, params.acw_caps, params.sl_clock, tz, use_stored=use_stored
            )
            # A row of such a call on a day outside the window (the next month's first
            # day) is left out: the call belongs to the month of its first entry.
            for day in set(corrections) & set(local_days(start, end, tz)):
                old, new = corrections[day]
                days[day] = days.get(day, KpiCounters()).replaced(old, new)
    return days


async def daily_agent_time(
    conn: Connection, days: Sequence[date], params: KpiParams, node: str | None, tz: str
) -> dict[date, AgentTimeCounters]:
    """Logged-in, talking and ACW time of all agents, per local day."""
    zone = ZoneInfo(tz)
    result: dict[date, AgentTimeCounters] = {}
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        q = KpiQuery(start, start + timedelta(days=1), node=node, params=params, tz=tz)
        result[day] = await query_agent_time(conn, q)
    return result


async def month_agent_time(
    conn: Connection, start: datetime, end: datetime, params: KpiParams, node: str | None, tz: str
) -> AgentTimeCounters:
    """The same over the whole window, in one query (no per-day figure needed)."""
    return await query_agent_time(conn, KpiQuery(start, end, node=node, params=params, tz=tz))


async def first_entries_counters(
    conn: Queryable, day: date, limit: int, params: KpiParams, f: EntryFilter, tz: str
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

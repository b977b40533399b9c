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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi.agent_time import AgentTimeCounters
from kpi.counters import KpiCounters
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import MAX_THRESHOLD_S, KpiParams
from kpi.query import GroupBy, KpiQuery, query_agent_time, query_kpis, snapshot
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
    """Rows ``(kind, day, EntryAggregate...)`` for the multi-entry calls first seen in
    ``[start, end)`` (one day): ``old`` aggregates each of their entries by its own day;
    ``new`` one entry per call (``one_per_call``), by the day of the call's first entry,
    with the wait from that first entry, or every entry by its own day with the wait
    from the call's first entry (the 15-second clock from system entry, per entry).

    A call is found by an entry that left a queue unanswered inside the window (partial
    index); its entries are read by primary key up to a day either side."""
    lo, hi = p.add(start), p.add(end)
    zone = p.add(tz)
    calls = f"(SELECT m.node AS call_node, m.callid AS call_id, " \
        f"{lo}::timestamptz - interval '1 day' AS s, " \
        f"{hi}::timestamptz + interval '1 day' AS e FROM multi m) AS w"  # fmt: skip
    source = entry_source_sql(calls, params.acw_caps, p)
    where = entry_filter_sql(f, p)
    new_day = "first_at" if one_per_call else "entered_at"
    return f"""
    WITH multi AS MATERIALIZED (
        SELECT DISTINCT qe.node, qe.callid FROM queue_entries qe
        WHERE qe.entered_at >= {lo}::timestamptz AND qe.entered_at < {hi}::timestamptz
          AND qe.outcome IN ('timeout', 'empty', 'key', 'transfer')
          AND EXISTS (SELECT 1 FROM queue_entries o WHERE o.node = qe.node
                      AND o.callid = qe.callid AND (o.queue, o.seq) <> (qe.queue, qe.seq))
    ), ent AS (
        SELECT qe.node, qe.callid, qe.queue, qe.seq, qe.entered_at, qe.outcome, qe.wait_s,
               x.talk_s, x.acw_s, x.survey
        {source}{where} AND qe.node = w.call_node AND qe.callid = w.call_id
    ), ranked AS (
        SELECT ent.*, min(entered_at) OVER w AS first_at,
               row_number() OVER (PARTITION BY node, callid ORDER BY
                   (outcome = 'answered') DESC,
                   CASE WHEN outcome = 'answered' THEN entered_at END ASC,
                   entered_at DESC, queue DESC, seq DESC) AS pick
        FROM ent WINDOW w AS (PARTITION BY node, callid)
    ), kept AS (
        SELECT * FROM ranked
        WHERE first_at >= {lo}::timestamptz AND first_at < {hi}::timestamptz
    ), call_entry AS (
        SELECT date_trunc('day', {new_day}, {zone}::text) AS day, outcome,
               wait_s + floor(extract(epoch FROM entered_at - first_at))::int AS wait_s,
               talk_s, acw_s, survey
        FROM kept WHERE {"pick = 1" if one_per_call else "true"}
    )
    SELECT 'old', date_trunc('day', entered_at, {zone}::text), {_AGGREGATES}
    FROM kept GROUP BY {_GROUP}
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


@dataclass(slots=True)
class CallCache:
    """Per-call corrections computed in a read-only snapshot, to be stored afterwards
    (``store_call_cache``): the rows of each day, with the generation they were read at."""

    key: str
    pending: list[tuple[date, int, list[list[Any]]]] = field(default_factory=list)


def call_cache_key(params: KpiParams, f: EntryFilter, one_per_call: bool) -> str:
    return json.dumps(
        {"per_call": one_per_call, "caps": params.acw_caps.to_json(), "node": f.node,
         "line": f.line, "queue": f.queue},
        sort_keys=True,
    )  # fmt: skip


def _validity(gens: dict[date, int], day: date) -> int:
    """The generation a local day's corrections depend on: the UTC dates it can read."""
    return max((gens.get(day + timedelta(days=k), 0) for k in range(-1, 3)), default=0)


def _json_row(row: Any) -> list[Any]:
    return [row[0], row[1].isoformat(), *row[2:]]


async def per_call_counters(
    conn: Any, days: dict[date, KpiCounters], local: list[date], params: KpiParams,
    f: EntryFilter, tz: str, cache: CallCache, *, one_per_call: bool = True,
) -> dict[date, KpiCounters]:  # fmt: skip
    """``days`` (per-entry counters) counted per call instead, or (``one_per_call``
    false) with each entry's wait from its call's first entry. Each day's correction
    comes from ``assessment_call_cache`` while still valid, else from the facts."""
    zone = ZoneInfo(tz)
    gens = {
        r[0]: r[1]
        for r in await conn.fetch(
            "SELECT day, gen FROM assessment_day_gen WHERE day >= $1 AND day <= $2",
            local[0] - timedelta(days=1), local[-1] + timedelta(days=2),
        )
    }  # fmt: skip
    cached = {
        r[0]: (r[1], r[2])
        for r in await conn.fetch(
            "SELECT day, gen, rows FROM assessment_call_cache WHERE key = $1 AND day = ANY($2)",
            cache.key, local,
        )
    }  # fmt: skip
    rows: list[list[Any]] = []
    for day in local:
        valid = _validity(gens, day)
        hit = cached.get(day)
        if hit is not None and hit[0] == valid:
            rows.extend(json.loads(hit[1]))
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        end = (datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)).astimezone(
            UTC
        )
        p = SqlParams()
        sql = per_call_sql(start, end, params, f, tz, p, one_per_call=one_per_call)
        # A few thousand calls of a day's millions of entries: look them up by key.
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        try:
            found = [_json_row(r) for r in await conn.fetch(sql, *p.values)]
        finally:
            await conn.execute("RESET enable_hashjoin; RESET enable_mergejoin")
        cache.pending.append((day, valid, found))
        rows.extend(found)
    folded = fold_aggregates(
        ((r[0], datetime.fromisoformat(r[1]).astimezone(zone).date()), EntryAggregate(*r[2:]))
        for r in rows
    )
    result = dict(days)
    # An entry of such a call on a day outside the window (the next month's first day)
    # is not in ``days``: the call belongs to the month of its first entry.
    for day in {d for _, d in folded} & set(local):
        old = folded.get(("old", day), KpiCounters())
        new = folded.get(("new", day), KpiCounters())
        result[day] = result.get(day, KpiCounters()).replaced(old, new)
    return result


async def store_call_cache(conn: Any, cache: CallCache) -> None:
    """Store the corrections computed (outside the read-only snapshot; a cache only)."""
    if not cache.pending:
        return
    await conn.executemany(
        "INSERT INTO assessment_call_cache (day, key, gen, rows) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (day, key) DO UPDATE SET gen = EXCLUDED.gen, rows = EXCLUDED.rows",
        [(day, cache.key, gen, json.dumps(rows)) for day, gen, rows in cache.pending],
    )
    cache.pending.clear()


async def daily_counters(
    conn: Any, start: datetime, end: datetime, params: KpiParams, f: EntryFilter, tz: str,
    *, per_call: bool, from_system_entry: bool = False, cache: CallCache | None = None,
) -> dict[date, KpiCounters]:  # fmt: skip
    """Counters per local day; ``from_system_entry``: waits from the call's first entry
    into the system. The IVR's entry time is not recorded yet, so that is the call's
    first queue entry (it differs from queue entry for an overflowed caller).
    Corrections computed afresh are left in ``cache`` for ``store_call_cache``."""
    q = KpiQuery(start, end, node=f.node, line=f.line, queue=f.queue, group_by=GroupBy.DAY,
                 params=params, tz=tz)  # fmt: skip
    async with snapshot(conn):
        rows = await query_kpis(conn, q)
        days = {_local_date(r.group, tz): r.counters for r in rows if r.group is not None}
        if per_call or from_system_entry:
            cache = cache or CallCache(call_cache_key(params, f, per_call))
            days = await per_call_counters(
                conn, days, local_days(start, end, tz), params, f, tz, cache,
                one_per_call=per_call,
            )  # fmt: skip
    return days


async def daily_agent_time(
    conn: Any, days: Sequence[date], params: KpiParams, node: str | None, tz: str
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
    conn: Any, start: datetime, end: datetime, params: KpiParams, node: str | None, tz: str
) -> AgentTimeCounters:
    """The same over the whole window, in one query (no per-day figure needed)."""
    return await query_agent_time(conn, KpiQuery(start, end, node=node, params=params, tz=tz))


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

"""KPIs for any window, filter and grouping, from the rollups and the facts.

``query_kpis`` reads, in one REPEATABLE READ snapshot, the dirty marks, then the
15-minute rollups of the clean intervals wholly inside the window and the raw
facts of everything else (partial edge intervals, dirty intervals), and adds
the counters: the answer equals ``compute_kpis`` over the same entries, whatever
the refresher's lag. Entries belong to the window by ``entered_at``.

Agent utilisation (工时有效利用率) applies to per-agent figures (grouped by agent,
or one agent's totals) without a line or queue filter: agent time is not a
queue's. Its parts: logged-in time is the union of the agent's sessions (all
queues); talk spans ``[answered, answered + talk_s)`` and ACW spans (capped) are
clipped to the window; spans and sessions still open count until ``as_of``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callctl.db_types import Connection, Queryable
from kpi.agent_time import AgentTimeCounters, agent_utilisation
from kpi.counters import KpiCounters
from kpi.definitions import KpiSet, kpis_from_counters
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import AcwCaps, KpiParams
from kpi.intervals import (
    DAY,
    DAY_ORIGIN,
    Span,
    interval_floor,
    plan_window,
    require_utc_aware,
    split_days,
)
from kpi.sql import (
    BUCKET_SQL,
    COUNTER_ARRAYS,
    COUNTER_SCALARS,
    EntryFilter,
    SqlParams,
    closed_time_sql,
    entry_aggregate_sql,
    logged_in_sql,
    open_time_sql,
    rollup_read_sql,
    time_rollup_read_sql,
)

GroupKey = str | None


class GroupBy(StrEnum):
    NONE = "none"
    LINE = "line"
    QUEUE = "queue"
    AGENT = "agent"
    INTERVAL = "interval"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


CALENDAR_GROUPS = (GroupBy.DAY, GroupBy.WEEK, GroupBy.MONTH, GroupBy.YEAR)
"""Groupings by local calendar period (``date_trunc`` in the query's zone; weeks start Monday)."""


@dataclass(frozen=True, slots=True)
class KpiQuery:
    start: datetime
    """Inclusive, timezone-aware; entries by ``entered_at``."""
    end: datetime
    """Exclusive."""
    node: str | None = None
    line: str | None = None
    queue: str | None = None
    agent: str | None = None
    group_by: GroupBy = GroupBy.NONE
    params: KpiParams = field(default_factory=KpiParams)
    tz: str = "Asia/Shanghai"
    """Time zone of the days of ``GroupBy.DAY``."""
    as_of: datetime | None = None
    """Clock for spans still open (utilisation); default: the database's ``now()``."""

    def __post_init__(self) -> None:
        require_utc_aware(self.start, "start")
        require_utc_aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.as_of is not None:
            require_utc_aware(self.as_of, "as_of")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {self.tz!r}") from err
        object.__setattr__(self, "group_by", GroupBy(self.group_by))

    @property
    def per_agent(self) -> bool:
        return self.agent is not None or self.group_by is GroupBy.AGENT

    @property
    def has_utilisation(self) -> bool:
        return (
            self.group_by in (GroupBy.AGENT, GroupBy.NONE)
            and self.per_agent
            and self.line is None
            and self.queue is None
        )

    @property
    def entry_filter(self) -> EntryFilter:
        return EntryFilter(self.node, self.line, self.queue, self.agent, self.per_agent)


@dataclass(frozen=True, slots=True)
class KpiRow:
    group: str | None
    """Line / queue / agent id, interval or day start (ISO, UTC); ``None`` for
    ``GroupBy.NONE`` (and for entries whose line or agent is unknown)."""
    counters: KpiCounters
    kpis: KpiSet
    utilisation: Fraction | None
    agent_time: AgentTimeCounters | None = None
    """The parts of ``utilisation``, where it applies."""


def _raw_group_expr(q: KpiQuery, p: SqlParams) -> str:
    match q.group_by:
        case GroupBy.NONE:
            return "NULL::text"
        case GroupBy.LINE:
            return "x.line"
        case GroupBy.QUEUE:
            return "qe.queue"
        case GroupBy.AGENT:
            return "qe.agent"
        case GroupBy.INTERVAL:
            return BUCKET_SQL.format(ts="qe.entered_at")
        case GroupBy.DAY | GroupBy.WEEK | GroupBy.MONTH | GroupBy.YEAR:
            return f"date_trunc('{q.group_by.value}', qe.entered_at, {p.add(q.tz)}::text)"


def _rollup_group_expr(q: KpiQuery, p: SqlParams) -> str:
    match q.group_by:
        case GroupBy.NONE:
            return "NULL::text"
        case GroupBy.LINE:
            return "NULLIF(r.line, '')"
        case GroupBy.QUEUE:
            return "r.queue"
        case GroupBy.AGENT:
            return "r.agent"
        case GroupBy.INTERVAL:
            return "r.interval_start"
        case GroupBy.DAY | GroupBy.WEEK | GroupBy.MONTH | GroupBy.YEAR:
            return f"date_trunc('{q.group_by.value}', r.interval_start, {p.add(q.tz)}::text)"


def group_key(value: object) -> GroupKey:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def counters_from_rollup(values: Iterable[Any]) -> KpiCounters:
    """A summed rollup row (``kpi.sql.rollup_sums_sql`` order) as counters."""
    it = iter(values)
    fields: dict[str, Any] = {name: int(next(it)) for name in COUNTER_SCALARS}
    for name, length in COUNTER_ARRAYS:
        fields[name] = tuple(int(next(it)) for _ in range(length))
    return KpiCounters(**fields)


@contextlib.asynccontextmanager
async def snapshot(conn: Connection) -> AsyncIterator[None]:
    """One consistent snapshot for marks, rollups and facts (the caller's, if any)."""
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # Short aggregates over many columns: JIT compilation costs more than it saves.
        await conn.execute("SET LOCAL jit = off")
        yield


async def rollup_acw_caps(conn: Queryable) -> AcwCaps | None:
    """The line caps the rollups were last rebuilt for (``kpi.rollups.rebase_rollups``).

    Not a setting: the caps are the routing config's; this records which caps the
    stored rollups agree with. ``None`` before the first rebase.
    """
    value = await conn.fetchval("SELECT acw_caps FROM kpi_rollup_basis")
    return None if value is None else AcwCaps.from_json(value)


async def _counters(
    conn: Queryable, q: KpiQuery, raw: list[Span], rolled: RolledSpans
) -> dict[GroupKey, KpiCounters]:
    parts: list[tuple[GroupKey, KpiCounters]] = []
    f = q.entry_filter
    if raw:
        p = SqlParams()
        sql = entry_aggregate_sql(
            [_raw_group_expr(q, p)], raw, q.params.acw_caps, f, p, sl_clock=q.params.sl_clock
        )
        rows = await conn.fetch(sql, *p.values)
        folded = fold_aggregates((group_key(r[0]), EntryAggregate(*r[1:])) for r in rows)
        parts.extend(folded.items())
    table = "kpi_agent_rollups" if q.per_agent else "kpi_queue_rollups"
    for suffix, spans in (("", rolled.intervals), ("_day", rolled.days)):
        if not spans:
            continue
        p = SqlParams()
        sql = rollup_read_sql(
            _rollup_group_expr(q, p), table + suffix, list(spans), f, p, q.params.sl_clock
        )
        rows = await conn.fetch(sql, *p.values)
        parts.extend((group_key(r[0]), counters_from_rollup(r[1:])) for r in rows)
    summed: dict[GroupKey, KpiCounters] = {}
    for key, counters in parts:
        previous = summed.get(key)
        summed[key] = counters if previous is None else previous + counters
    return summed


async def _agent_time(
    conn: Queryable, q: KpiQuery, raw: list[Span], rolled: RolledSpans, as_of: datetime
) -> dict[GroupKey, AgentTimeCounters]:
    by_agent = q.group_by is GroupBy.AGENT
    cap = q.params.acw_caps
    window = (q.start, q.end)
    talk_acw: list[tuple[GroupKey, int, int]] = []
    for suffix, spans in (("", rolled.intervals), ("_day", rolled.days)):
        if not spans:
            continue
        p = SqlParams()
        group = "r.agent" if by_agent else "NULL::text"
        table = "kpi_agent_time_rollups" + suffix
        sql = time_rollup_read_sql(group, list(spans), q.node, q.agent, p, table)
        talk_acw.extend((group_key(r[0]), r[1], r[2]) for r in await conn.fetch(sql, *p.values))
    if raw:
        p = SqlParams()
        sql = closed_time_sql(
            ["t.agent" if by_agent else "NULL::text"], raw, cap, q.node, q.agent, p
        )
        talk_acw.extend((group_key(r[0]), r[1], r[2]) for r in await conn.fetch(sql, *p.values))
    p = SqlParams()
    sql = open_time_sql(
        "t.agent" if by_agent else "NULL::text", window, as_of, cap, q.node, q.agent, p
    )
    talk_acw.extend((group_key(r[0]), r[1], r[2]) for r in await conn.fetch(sql, *p.values))
    times: dict[GroupKey, AgentTimeCounters] = {}
    for key, talking, acw in talk_acw:
        part = AgentTimeCounters(talking_s=int(talking), acw_s=int(acw))
        times[key] = times.get(key, AgentTimeCounters()) + part
    p = SqlParams()
    sql = logged_in_sql("t.agent" if by_agent else "NULL::text", window, as_of, q.node, q.agent, p)
    for row in await conn.fetch(sql, *p.values):
        key = group_key(row[0])
        times[key] = times.get(key, AgentTimeCounters()) + AgentTimeCounters(
            logged_in_s=int(row[1])
        )
    return times


@dataclass(frozen=True, slots=True)
class RolledSpans:
    """Clean rollup spans: whole day blocks, and 15-minute intervals."""

    days: tuple[Span, ...]
    intervals: tuple[Span, ...]


def _rolled_spans(q: KpiQuery, spans: tuple[Span, ...]) -> RolledSpans:
    """Use day blocks where the grouping allows: not per interval, and per day only
    where the query's local midnight is the blocks' (UTC+8)."""
    if q.group_by is GroupBy.INTERVAL:
        return RolledSpans((), spans)
    days, rest = split_days(spans)
    if q.group_by in CALENDAR_GROUPS:
        zone = ZoneInfo(q.tz)
        for start, end in days:
            day = start
            while day < end:
                if day.astimezone(zone).utcoffset() != DAY_ORIGIN.utcoffset():
                    return RolledSpans((), spans)
                day += DAY
    return RolledSpans(days, rest)


async def query_kpis(conn: Connection, q: KpiQuery) -> list[KpiRow]:
    """KPI rows of ``q``, one per group (sorted; unknown group first).

    ``conn`` is an asyncpg connection; kpi/ opens none itself.
    """
    async with snapshot(conn):
        # Rollups built for other line caps than the query's (the routing config
        # changed a cap and the refresher has not rebased them yet): facts only.
        use_rollups = await rollup_acw_caps(conn) == q.params.acw_caps
        dirty_rows = await conn.fetch(
            "SELECT interval_start FROM kpi_dirty_intervals "
            "WHERE interval_start >= $1 AND interval_start < $2",
            interval_floor(q.start),
            q.end,
        )
        plan = plan_window(q.start, q.end, {r[0] for r in dirty_rows}, use_rollups=use_rollups)
        raw, rolled = list(plan.raw), _rolled_spans(q, plan.rollup)
        counters = await _counters(conn, q, raw, rolled)
        times: dict[GroupKey, AgentTimeCounters] = {}
        if q.has_utilisation:
            as_of = q.as_of or await conn.fetchval("SELECT now()")
            times = await _agent_time(conn, q, raw, rolled, as_of)
    keys = set(counters) | set(times)
    if q.group_by is GroupBy.NONE:
        keys.add(None)
    rows = []
    for key in sorted(keys, key=lambda k: (k is not None, k or "")):
        c = counters.get(key, KpiCounters())
        time = times.get(key) if q.has_utilisation else None
        if q.has_utilisation and time is None:
            time = AgentTimeCounters()
        rows.append(
            KpiRow(
                group=key,
                counters=c,
                kpis=kpis_from_counters(c, q.params),
                utilisation=None if time is None else agent_utilisation(time),
                agent_time=time,
            )
        )
    return rows


async def query_agent_time(conn: Connection, q: KpiQuery) -> AgentTimeCounters:
    """All agents' logged-in, talking and ACW time in ``q``'s window (utilisation's
    parts, the sum of ``query_kpis``'s per-agent rows) without the entry counters."""
    async with snapshot(conn):
        use_rollups = await rollup_acw_caps(conn) == q.params.acw_caps
        dirty_rows = await conn.fetch(
            "SELECT interval_start FROM kpi_dirty_intervals "
            "WHERE interval_start >= $1 AND interval_start < $2",
            interval_floor(q.start),
            q.end,
        )
        plan = plan_window(q.start, q.end, {r[0] for r in dirty_rows}, use_rollups=use_rollups)
        whole = KpiQuery(q.start, q.end, node=q.node, params=q.params, tz=q.tz, as_of=q.as_of)
        as_of = q.as_of or await conn.fetchval("SELECT now()")
        times = await _agent_time(
            conn, whole, list(plan.raw), _rolled_spans(whole, plan.rollup), as_of
        )
    return sum(times.values(), AgentTimeCounters())

"""Per-call counting as a correction of the per-entry counters, kept with the rollups.

Counted per call (Haikou: 呼入总量 is callers who entered the queue), a call with several
queue entries (timed out of one queue, answered in its overflow queue) counts once: its
first answered entry, else its last, in the interval (so on the day) of its first entry,
with its wait counted from its first queue entry. A correction holds, for the calls
whose first entry is in one 15-minute interval (the *anchor*):

- ``old``: each of their entries, in its own interval, as the per-entry rollups count it;
- ``new``: one entry per call, in the anchor interval.

Per-call counters are the per-entry counters with ``old`` replaced by ``new``
(``KpiCounters.replaced``). Both carry the histogram from system entry as well
(``kpi.sql.SYSTEM_WAIT``), so either 15-second clock can be read.

The rollup refresher (``kpi.rollups.refresh_intervals``) rebuilds the corrections
anchored in the intervals it refreshes, in the same transaction; the dirty-marking
triggers (migration 0016) mark every interval of a call when one of its entries, their
ACW or survey, or its IVR queue step changes, so an anchor stays dirty until its
correction is rebuilt. A reader takes clean anchors from ``kpi_call_corrections`` (whole
day blocks from ``_day``) and computes dirty ones from the facts (``corrections_sql``).

Calls are found by an entry of the anchor's interval that has another entry; the
ranking considers all the call's entries; each row carries the node, line and queue of
its entry (``old``) or of the call's chosen entry (``new``), so a filter on line or
queue counts a call on the line or queue where it was answered (or last left).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callctl.db_types import Queryable
from kpi.counters import WAIT_BUCKETS, KpiCounters
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import MAX_THRESHOLD_S, AcwCaps, SlClock
from kpi.intervals import DAY, DAY_ORIGIN, Span, plan_window, split_days
from kpi.query import counters_from_rollup
from kpi.sql import (
    BUCKET_SQL,
    EntryFilter,
    SqlParams,
    entry_source_sql,
    rollup_filter_sql,
    rollup_sums_sql,
)

_AGGREGATES = f"""
    outcome, least(wait_s, {MAX_THRESHOLD_S + 1}), survey,
    count(*), sum(wait_s)::bigint,
    count(talk_s), coalesce(sum(talk_s), 0)::bigint,
    count(acw_s), coalesce(sum(acw_s), 0)::bigint,
    count(talk_s + acw_s), coalesce(sum(talk_s + acw_s), 0)::bigint"""
_KEYS = "kind, anchor, at, node, line, queue"
_GROUP = f"1, 2, 3, 4, 5, 6, 7, outcome, least(wait_s, {MAX_THRESHOLD_S + 1}), survey"

CorrectionKey = tuple[str, datetime, datetime, str, str, str]
"""(kind, anchor interval, own interval, node, line, queue)."""


def corrections_sql(spans: list[Span], caps: AcwCaps, p: SqlParams) -> str:
    """Rows ``(kind, anchor, at, node, line, queue, system bucket, EntryAggregate...)`` of
    the calls with several queue entries whose first entry is in ``spans``.

    A call is found by an entry in ``spans`` with another entry; its entries are read by
    key, wherever they are. ``OFFSET 0`` and ``LIMIT 1`` keep each of these a
    parameterized index scan (the ``entered_at`` index, the primary key's prefix): the
    planner, misled by the spans' row estimates, would otherwise hash the whole table."""
    found = p.spans(spans)
    kept = p.spans(spans)
    call = (
        "(SELECT m.node AS call_node, m.callid AS call_id, "
        "'-infinity'::timestamptz AS s, 'infinity'::timestamptz AS e) AS w"
    )
    source = entry_source_sql(call, caps, p, system_clock=True)
    sys_bucket = f"least(sys_wait, {MAX_THRESHOLD_S + 1})"
    return f"""
    WITH multi AS MATERIALIZED (
        SELECT DISTINCT qe.node, qe.callid FROM {found}
        CROSS JOIN LATERAL (
            SELECT e.node, e.callid, e.queue, e.seq FROM queue_entries e
            WHERE e.entered_at >= w.s AND e.entered_at < w.e OFFSET 0
        ) qe
        CROSS JOIN LATERAL (
            SELECT 1 FROM queue_entries o WHERE o.node = qe.node AND o.callid = qe.callid
              AND (o.queue, o.seq) <> (qe.queue, qe.seq) LIMIT 1
        ) other
    ), ent AS (
        SELECT t.* FROM multi m CROSS JOIN LATERAL (
            SELECT qe.node, qe.callid, qe.queue, qe.seq, COALESCE(x.line, '') AS line,
                   qe.entered_at, qe.outcome, qe.wait_s, x.sys_wait, x.talk_s, x.acw_s,
                   x.survey
            {source} AND qe.node = w.call_node AND qe.callid = w.call_id OFFSET 0
        ) t
    ), ranked AS (
        SELECT ent.*, min(entered_at) OVER c AS first_at,
               row_number() OVER (PARTITION BY node, callid ORDER BY
                   (outcome = 'answered') DESC,
                   CASE WHEN outcome = 'answered' THEN entered_at END ASC,
                   entered_at DESC, queue DESC, seq DESC) AS pick
        FROM ent WINDOW c AS (PARTITION BY node, callid)
    ), kept AS (
        SELECT ranked.*, {BUCKET_SQL.format(ts="first_at")} AS anchor FROM ranked
        WHERE EXISTS (SELECT 1 FROM {kept} WHERE first_at >= w.s AND first_at < w.e)
    ), rows AS (
        SELECT 'old' AS kind, anchor, {BUCKET_SQL.format(ts="entered_at")} AS at, node, line,
               queue, {sys_bucket} AS sys_bucket, outcome, wait_s, talk_s, acw_s, survey
        FROM kept
        UNION ALL
        SELECT 'new', anchor, anchor, node, line, queue, {sys_bucket}, outcome,
               wait_s + floor(extract(epoch FROM entered_at - first_at))::int,
               talk_s, acw_s, survey
        FROM kept WHERE pick = 1
    )
    SELECT {_KEYS}, sys_bucket, {_AGGREGATES} FROM rows GROUP BY {_GROUP}"""


@dataclass(slots=True)
class Folded:
    """Counters per key, and each key's answered histogram from system entry."""

    counters: dict[Any, KpiCounters]
    system_hist: dict[Any, list[int]]


def fold_with_system(rows: Iterable[tuple[Any, int | None, EntryAggregate]]) -> Folded:
    """``(key, system bucket, aggregate)`` rows → counters and system histograms."""
    listed = list(rows)
    counters = fold_aggregates((key, agg) for key, _, agg in listed)
    hists: dict[Any, list[int]] = {key: [0] * WAIT_BUCKETS for key in counters}
    for key, bucket, agg in listed:
        if agg.outcome == "answered":
            if bucket is None or not 0 <= bucket < WAIT_BUCKETS:
                raise ValueError(f"system wait bucket out of range: {bucket}")
            hists[key][bucket] += agg.entries
    return Folded(counters, hists)


async def compute_corrections(conn: Queryable, spans: list[Span], caps: AcwCaps) -> Folded:
    """The corrections anchored in ``spans``, from the facts, keyed by ``CorrectionKey``."""
    p = SqlParams()
    sql = corrections_sql(spans, caps, p)
    rows = await conn.fetch(sql, *p.values)
    return fold_with_system(
        ((r[0], r[1], r[2], r[3], r[4], r[5]), r[6], EntryAggregate(*r[7:])) for r in rows
    )


def _with_system(counters: KpiCounters, hist: list[int], sl_clock: SlClock) -> KpiCounters:
    if sl_clock == "queue":
        return counters
    return replace(counters, answered_wait_hist=tuple(hist))


DayCorrection = dict[date, tuple[KpiCounters, KpiCounters]]
"""Per local day: (old, new) counters."""


async def read_corrections(
    conn: Queryable, start: datetime, end: datetime, f: EntryFilter, caps: AcwCaps,
    sl_clock: SlClock, tz: str, *, use_stored: bool,
) -> DayCorrection:  # fmt: skip
    """The corrections of the calls first seen in ``[start, end)`` per local day of
    their rows (inside the caller's snapshot). ``use_stored`` false (the stored ones
    were built with other line caps): all from the facts."""
    if f.agent is not None or f.agent_required:
        raise ValueError("per-call corrections have no agent: filter by node, line or queue")
    zone = ZoneInfo(tz)
    dirty = {
        r[0]
        for r in await conn.fetch(
            "SELECT interval_start FROM kpi_dirty_intervals "
            "WHERE interval_start >= $1 AND interval_start < $2",
            start,
            end,
        )
    }
    plan = plan_window(start, end, dirty, use_rollups=use_stored)
    parts: list[tuple[tuple[str, date], KpiCounters]] = []
    if plan.raw:
        folded = await compute_corrections(conn, list(plan.raw), caps)
        for key, counters in folded.counters.items():
            kind, _, at, node, line, queue = key
            if not _matches(f, node, line, queue):
                continue
            day = at.astimezone(zone).date()
            parts.append(((kind, day), _with_system(counters, folded.system_hist[key], sl_clock)))
    days, intervals = split_days(tuple(plan.rollup))
    if any(_offset_differs(span, zone) for span in days):
        days, intervals = (), tuple(plan.rollup)
    for table, spans in (("kpi_call_corrections_day", days), ("kpi_call_corrections", intervals)):
        if not spans:
            continue
        p = SqlParams()
        zone_sql = p.add(tz)
        spans_sql = p.spans(list(spans))
        where = rollup_filter_sql(f, p)
        sql = (
            f"SELECT r.kind, date_trunc('day', r.interval_start, {zone_sql}::text), "
            f"{rollup_sums_sql(sl_clock)} FROM {spans_sql} "
            f"JOIN {table} r ON r.anchor_start >= w.s AND r.anchor_start < w.e "
            f"WHERE true{where} GROUP BY 1, 2"
        )
        for r in await conn.fetch(sql, *p.values):
            parts.append(((r[0], r[1].astimezone(zone).date()), counters_from_rollup(r[2:])))
    summed: dict[tuple[str, date], KpiCounters] = {}
    for key, counters in parts:
        summed[key] = summed[key] + counters if key in summed else counters
    result: DayCorrection = {}
    for _, day in summed:
        old = summed.get(("old", day), KpiCounters())
        new = summed.get(("new", day), KpiCounters())
        result[day] = (old, new)
    return result


def _matches(f: EntryFilter, node: str, line: str, queue: str) -> bool:
    return (
        (f.node is None or f.node == node)
        and (f.line is None or f.line == line)
        and (f.queue is None or f.queue == queue)
    )


def _offset_differs(span: Span, zone: ZoneInfo) -> bool:
    day = span[0]
    while day < span[1]:
        if day.astimezone(zone).utcoffset() != DAY_ORIGIN.utcoffset():
            return True
        day += DAY
    return False

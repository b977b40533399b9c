"""Recompute dirty 15-minute rollups from the facts (idempotent, exact).

The fact tables' triggers (migration 0003) mark every interval a write touches;
``refresh_dirty`` takes the oldest marks, recomputes those intervals' rollups
from the facts with the same SQL and fold as the raw path of
``kpi.query.query_kpis``, replaces them, and clears each mark only if its
generation is still the one it read: a fact written meanwhile bumped the
generation, so its interval stays dirty and is refreshed again.

Rollups are built with each line's ``acw_max_s`` from the routing config in
force (``kpi.inputs.AcwCaps``, passed in: kpi/ reads no config). When those caps
change, the first refresh with the new caps *rebases* the rollups in its own
transaction: it marks dirty every interval whose figures depend on a changed
cap (the entry and the span buckets of each closed ACW interval longer than the
smaller of its old and new cap) and records the new caps in
``kpi_rollup_basis``; the marked intervals are then rebuilt like any dirty one.
Until the rebase commits, ``kpi.query`` sees caps that differ from the basis
and reads the facts only, so no answer mixes two caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from callctl.db_types import Connection, Queryable
from kpi.call_corrections import Folded, compute_corrections, fold_with_system
from kpi.counters import KpiCounters
from kpi.fold import EntryAggregate
from kpi.inputs import AcwCaps
from kpi.intervals import INTERVAL, Span, day_floor
from kpi.sql import (
    COUNTER_ARRAYS,
    COUNTER_SCALARS,
    ROLLUP_KEYS,
    SYS_HIST,
    EntryFilter,
    SqlParams,
    cap_change_marks_sql,
    closed_time_by_interval_sql,
    day_rebuild_sql,
    entry_aggregate_sql,
)

_COUNTER_COLUMNS = [*COUNTER_SCALARS, *(name for name, _ in COUNTER_ARRAYS)]

_CLEAR_MARKS = """
DELETE FROM kpi_dirty_intervals d
USING unnest($1::timestamptz[], $2::bigint[]) AS m(s, g)
WHERE d.interval_start = m.s AND d.gen = m.g
"""


def counter_values(c: KpiCounters) -> list[Any]:
    return [
        *(getattr(c, name) for name in COUNTER_SCALARS),
        *(list(getattr(c, name)) for name, _ in COUNTER_ARRAYS),
    ]


def _by_day(starts: Sequence[datetime]) -> list[list[datetime]]:
    """Interval starts grouped by UTC day, so each time query scans a bounded period."""
    days: dict[date, list[datetime]] = {}
    for start in starts:
        days.setdefault(start.astimezone(UTC).date(), []).append(start)
    return list(days.values())


async def rebase_rollups(conn: Queryable, caps: AcwCaps) -> int:
    """Make ``caps`` the rollups' basis; returns how many intervals it marked dirty.

    Call it inside a transaction: the basis row is locked until it ends, so that
    the marks, the new basis and the rebuilt rollups commit together.
    """
    basis = await conn.fetchval("SELECT acw_caps FROM kpi_rollup_basis FOR UPDATE")
    old = None if basis is None else AcwCaps.from_json(basis)
    if old == caps:
        return 0
    marked = 0
    if old is not None:
        p = SqlParams()
        status = await conn.execute(cap_change_marks_sql(old, caps, p), *p.values)
        marked = int(status.split()[-1])
    else:
        # No record of what the rollups were built with: rebuild every one.
        status = await conn.execute(
            """
            INSERT INTO kpi_dirty_intervals (interval_start)
            SELECT interval_start FROM kpi_queue_rollups
            UNION SELECT interval_start FROM kpi_agent_time_rollups
            ON CONFLICT (interval_start) DO UPDATE SET gen = EXCLUDED.gen, marked_at = now()
            """
        )
        marked = int(status.split()[-1])
    await conn.execute(
        """
        INSERT INTO kpi_rollup_basis (id, acw_caps) VALUES (true, $1::jsonb)
        ON CONFLICT (id) DO UPDATE SET acw_caps = EXCLUDED.acw_caps
        """,
        caps.to_json(),
    )
    return marked


async def refresh_intervals(conn: Connection, starts: Sequence[datetime], caps: AcwCaps) -> None:
    """Rebuild the rollups of the intervals starting at ``starts`` with the line caps
    ``caps`` (in one transaction, rebasing the rollups on ``caps`` first)."""
    if not starts:
        return
    spans: list[Span] = [(s, s + INTERVAL) for s in starts]
    async with conn.transaction():
        await rebase_rollups(conn, caps)
        await conn.execute("SET LOCAL jit = off")  # compiling costs more than it saves here
        p = SqlParams()
        sql = entry_aggregate_sql(
            ["w.s", "qe.node", "COALESCE(x.line, '')", "qe.queue", "qe.agent"],
            spans,
            caps,
            EntryFilter(),
            p,
            system_bucket_group=True,
        )
        rows = await conn.fetch(sql, *p.values)
        per_queue = fold_with_system(
            ((r[0], r[1], r[2], r[3]), r[5], EntryAggregate(*r[6:])) for r in rows
        )
        per_agent = fold_with_system(
            ((r[0], r[1], r[2], r[3], r[4]), r[5], EntryAggregate(*r[6:])) for r in rows if r[4]
        )
        corrections = await compute_corrections(conn, spans, caps)
        time_rows = []
        for day in _by_day(starts):
            p = SqlParams()
            sql = closed_time_by_interval_sql(day, caps, p)
            time_rows.extend(await conn.fetch(sql, *p.values))

        for table in ("kpi_queue_rollups", "kpi_agent_rollups", "kpi_agent_time_rollups"):
            await conn.execute(
                f"DELETE FROM {table} WHERE interval_start = ANY($1::timestamptz[])", list(starts)
            )
        await conn.execute(
            "DELETE FROM kpi_call_corrections WHERE anchor_start = ANY($1::timestamptz[])",
            list(starts),
        )
        await conn.copy_records_to_table(
            "kpi_queue_rollups",
            records=_records(per_queue),
            columns=["interval_start", "node", "line", "queue", *_COUNTER_COLUMNS, SYS_HIST],
        )
        await conn.copy_records_to_table(
            "kpi_agent_rollups",
            records=_records(per_agent),
            columns=[
                "interval_start", "node", "line", "queue", "agent", *_COUNTER_COLUMNS, SYS_HIST
            ],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "kpi_call_corrections", records=_correction_records(corrections),
            columns=[*_CORRECTION_KEYS, *_COUNTER_COLUMNS, SYS_HIST],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "kpi_agent_time_rollups",
            records=[tuple(r) for r in time_rows],
            columns=["interval_start", "node", "agent", "talking_s", "acw_s"],
        )
        days = sorted({day_floor(s) for s in starts})
        for table in ROLLUP_KEYS:
            await conn.execute(
                f"DELETE FROM {table}_day WHERE interval_start = ANY($1::timestamptz[])", days
            )
            await conn.execute(day_rebuild_sql(table, "$1"), days)
        await conn.execute(
            "DELETE FROM kpi_call_corrections_day WHERE anchor_start = ANY($1::timestamptz[])",
            days,
        )
        await conn.execute(day_rebuild_sql("kpi_call_corrections", "$1"), days)


_CORRECTION_KEYS = ["anchor_start", "interval_start", "kind", "node", "line", "queue"]


def _correction_records(folded: Folded) -> list[tuple[Any, ...]]:
    """Keys ``(kind, anchor, at, node, line, queue)`` in the table's column order."""
    return [
        (anchor, at, kind, node, line, queue, *counter_values(c), folded.system_hist[key])
        for key, c in folded.counters.items()
        for kind, anchor, at, node, line, queue in (key,)
    ]


def _records(folded: Folded) -> list[tuple[Any, ...]]:
    return [
        (*key, *counter_values(c), folded.system_hist[key]) for key, c in folded.counters.items()
    ]


async def refresh_dirty(
    conn: Connection, caps: AcwCaps, *, limit: int = 96, quiet_s: float = 0.0
) -> int:
    """Refresh up to ``limit`` dirty intervals (oldest first) with the line caps ``caps``;
    returns how many. ``quiet_s``: only intervals not marked again for that long (one
    that calls still land in would be rebuilt, all of it, on every pass, and be dirty
    again a moment later; queries read it from the facts meanwhile either way)."""
    async with conn.transaction():
        await rebase_rollups(conn, caps)
        marks = await conn.fetch(
            "SELECT interval_start, gen FROM kpi_dirty_intervals"
            " WHERE marked_at <= now() - make_interval(secs => $2)"
            " ORDER BY interval_start LIMIT $1",
            limit,
            quiet_s,
        )
        if not marks:
            return 0
        starts = [m[0] for m in marks]
        await refresh_intervals(conn, starts, caps)
        await conn.execute(_CLEAR_MARKS, starts, [m[1] for m in marks])
    return len(marks)


async def refresh_all(conn: Connection, caps: AcwCaps, *, batch: int = 96) -> int:
    """Refresh until no interval is dirty (e.g. after a bulk load); returns how many."""
    total = 0
    while done := await refresh_dirty(conn, caps, limit=batch):
        total += done
    return total

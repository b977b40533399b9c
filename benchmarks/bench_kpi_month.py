"""Benchmark KPI queries over a month of queue entries, from the 15-minute rollups.

    .venv/bin/python benchmarks/bench_kpi_month.py [--entries 10000000] [--repeats 10]

Generates, in a scratch database (``kpibench_<hex>``, dropped afterwards), one
Asia/Shanghai month of queue entries with a daily profile (80 % of calls 08:00-20:00),
3 lines, 12 queues, 340 agents, outcomes 85 % answered / 10 % abandoned /
3 % timeout / 1 % no agents / 1 % key, exponential waits and talks, ACW for
80 % of answered calls (some over the cap), and agent sessions. Rows are
generated inside PostgreSQL (``INSERT ... SELECT generate_series``, one day
per transaction, fact triggers on), which loads faster than COPY from Python.
Then the rollups are built (``refresh_all``), and each query runs ``--repeats``
times after one warm-up: median and p95 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.settings import Settings
from kpi.inputs import KpiParams
from kpi.query import GroupBy, KpiQuery, query_kpis
from kpi.rollups import refresh_all

MONTH_START = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01 00:00 Asia/Shanghai
DAYS = 31
AGENTS = 340
PER_QUEUE = AGENTS // 12

_ENTRIES_OF_DAY = f"""
INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, outcome, wait_s,
                           ended_wait_at, agent, ring_attempts, talk_s, hangup_side,
                           completed_at, source)
SELECT 'n1', 'd' || $2::text || '-' || i, 'q' || (l * 4 + (i % 4)), 1,
       (ARRAY['12345', '12333', '12320'])[l + 1], entered, outcome, wait,
       entered + wait * interval '1 second',
       CASE WHEN outcome = 'answered'
            THEN 'agent' || ((l * 4 + (i % 4)) * {PER_QUEUE} + (i::bigint * 7919 % {PER_QUEUE}))
       END,
       CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END,
       CASE WHEN outcome = 'answered' THEN talk END,
       CASE WHEN outcome = 'answered' THEN 'caller' END,
       CASE WHEN outcome = 'answered'
            THEN entered + (wait + talk) * interval '1 second' END,
       'ami'
FROM (
    SELECT i,
           CASE WHEN r1 < 0.7 THEN 0 WHEN r1 < 0.9 THEN 1 ELSE 2 END AS l,
           $1::timestamptz + (CASE WHEN r2 < 0.8 THEN r3 * 43200 ELSE 43200 + r3 * 43200 END)
               * interval '1 second' AS entered,
           CASE WHEN r4 < 0.85 THEN 'answered' WHEN r4 < 0.95 THEN 'abandoned'
                WHEN r4 < 0.98 THEN 'timeout' WHEN r4 < 0.99 THEN 'empty' ELSE 'key' END
               AS outcome,
           floor(-ln(1 - r5) * CASE WHEN r4 < 0.85 THEN 12 ELSE 40 END)::int AS wait,
           (30 + floor(-ln(1 - r6) * 180))::int AS talk
    FROM (SELECT i, random() r1, random() r2, random() r3, random() r4, random() r5,
                 random() r6
          FROM generate_series(1, $3::int) AS i) AS g
) AS e
"""

_ACW_OF_DAY = """
INSERT INTO acw_intervals (node, agent, started_at, ended_at, ended_by, callid, queue, seq)
SELECT node, agent, completed_at,
       completed_at + floor(-ln(1 - random()) * 90) * interval '1 second',
       'unpause', callid, queue, seq
FROM queue_entries
WHERE entered_at >= $1 AND entered_at < $2 AND outcome = 'answered' AND random() < 0.8
ON CONFLICT DO NOTHING
"""

_SESSIONS_OF_DAY = f"""
INSERT INTO agent_sessions (node, agent, queue, started_at, ended_at)
SELECT 'n1', 'agent' || a, 'q' || (a / {AGENTS // 12}),
       $1::timestamptz + (a % 3) * interval '4 hours',
       $1::timestamptz + (a % 3) * interval '4 hours' + interval '9 hours'
FROM generate_series(0, {AGENTS // 12 * 12 - 1}) AS a
"""


async def load(conn: asyncpg.Connection, entries: int) -> None:
    per_day = entries // DAYS
    started = time.perf_counter()
    for day in range(DAYS):
        start = MONTH_START + timedelta(days=day)
        async with conn.transaction():
            await conn.execute(_ENTRIES_OF_DAY, start, str(day), per_day)
            await conn.execute(_ACW_OF_DAY, start, start + timedelta(days=1))
            await conn.execute(_SESSIONS_OF_DAY, start)
        print(f"  day {day + 1}/{DAYS} loaded ({time.perf_counter() - started:.0f} s)", flush=True)
    await conn.execute("ANALYZE")
    n = await conn.fetchval("SELECT count(*) FROM queue_entries")
    acw = await conn.fetchval("SELECT count(*) FROM acw_intervals")
    print(f"loaded {n:,} entries, {acw:,} ACW intervals in {time.perf_counter() - started:.0f} s")


def _window(days: float, offset: timedelta = timedelta()) -> tuple[datetime, datetime]:
    return MONTH_START + offset, MONTH_START + offset + timedelta(days=days)


def cases() -> list[tuple[str, KpiQuery]]:
    start, end = _window(DAYS)
    odd_start = MONTH_START + timedelta(days=2, hours=8, minutes=7, seconds=13)
    odd_end = MONTH_START + timedelta(days=27, hours=17, minutes=52, seconds=41)
    return [
        ("month, whole hotline", KpiQuery(start, end)),
        ("month, per line", KpiQuery(start, end, group_by=GroupBy.LINE)),
        ("month, per queue", KpiQuery(start, end, group_by=GroupBy.QUEUE)),
        ("month, per agent (+utilisation)", KpiQuery(start, end, group_by=GroupBy.AGENT)),
        ("month, one agent (+utilisation)", KpiQuery(start, end, agent="agent17")),
        ("month, one line by day", KpiQuery(start, end, line="12345", group_by=GroupBy.DAY)),
        ("month, by day", KpiQuery(start, end, group_by=GroupBy.DAY)),
        ("month, by 15-min interval", KpiQuery(start, end, group_by=GroupBy.INTERVAL)),
        ("unaligned window (25 days)", KpiQuery(odd_start, odd_end)),
        ("one day, whole hotline", KpiQuery(*_window(1, timedelta(days=10)))),
    ]


async def time_query(conn: asyncpg.Connection, q: KpiQuery, repeats: int) -> list[float]:
    await query_kpis(conn, q)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        await query_kpis(conn, q)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def run(url: str, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await load(conn, args.entries)
        started = time.perf_counter()
        # The queries' default caps (KpiParams()): the rollups serve them.
        refreshed = await refresh_all(conn, KpiParams().acw_caps, batch=96)
        print(f"rollups built: {refreshed:,} intervals in {time.perf_counter() - started:.0f} s")
        for table in ("kpi_queue_rollups", "kpi_agent_rollups", "kpi_agent_time_rollups"):
            rows = await conn.fetchval(f"SELECT count(*) FROM {table}")
            print(f"  {table}: {rows:,} rows")
        await conn.execute("ANALYZE")
        print(f"\n{'query':40} {'rows':>6} {'median ms':>10} {'p95 ms':>8}")
        for name, q in cases():
            timings = await time_query(conn, q, args.repeats)
            rows = len(await query_kpis(conn, q))
            print(f"{name:40} {rows:>6} {statistics.median(timings):>10.1f} {p95(timings):>8.1f}")
        # The same month with the last day's intervals dirty (live ingest lagging).
        await conn.execute(
            "INSERT INTO kpi_dirty_intervals (interval_start) SELECT generate_series("
            "$1::timestamptz, $2::timestamptz, interval '15 minutes') ON CONFLICT DO NOTHING",
            MONTH_START + timedelta(days=DAYS - 1),
            MONTH_START + timedelta(days=DAYS) - timedelta(minutes=15),
        )
        q = KpiQuery(*_window(DAYS))
        timings = await time_query(conn, q, args.repeats)
        print(
            f"{'month, last day dirty (from facts)':40} {1:>6} "
            f"{statistics.median(timings):>10.1f} {p95(timings):>8.1f}"
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL of any database on the server")
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    server_url = args.database_url or resolve_database_url(Settings())
    with scratch_database(server_url, "kpibench") as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()

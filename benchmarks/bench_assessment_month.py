"""Benchmark a month's assessment (考核) over 10M queue entries, per preset.

    .venv/bin/python benchmarks/bench_assessment_month.py [--entries 10000000] [--repeats 5]

Loads one Asia/Shanghai month (March 2026) exactly as ``bench_kpi_month.py`` does
(3 lines, 12 queues, 340 agents, 85 % answered, 3 % timeout ...), then gives every
timed-out entry a second entry in an overflow queue 31 s later (answered within
5 s): the calls Haikou counts once. Every call went through the IVR first: an
``ivr_steps`` ``queue`` step 2-20 s after it began (so the 15-second clock from system
entry differs from queue entry for every call). Rollups are built (the refresher's
work, per-call corrections and system-entry histograms included; its time is printed),
two outage days are marked, and each preset's month is assessed
(``callctl.assessment.service.assess_month``, the work behind
``GET /api/v1/assessments/{scheme}/{month}``): the first run after the rollups
(``first``), then ``--repeats`` runs (median and p95 in ms), then one run with the
month's last day dirty (``day dirty``: 96 intervals computed from the facts, as
while that day's facts are being written).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import date

import asyncpg
from bench_kpi_month import load, p95

from callctl.assessment.service import assess_month
from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.settings import Settings
from kpi.inputs import KpiParams
from kpi.rollups import refresh_all

MONTH = "2026-03"
TZ = "Asia/Shanghai"

_OVERFLOW = """
INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, outcome, wait_s,
                           ended_wait_at, agent, ring_attempts, talk_s, hangup_side,
                           completed_at, source)
SELECT node, callid, 'overflow-' || queue, 1, line,
       entered_at + (wait_s + 1) * interval '1 second', 'answered', 3,
       entered_at + (wait_s + 4) * interval '1 second', 'agent' || (hashtext(callid) & 255),
       1, 90, 'caller', entered_at + (wait_s + 94) * interval '1 second', 'ami'
FROM queue_entries WHERE outcome = 'timeout'
"""


_IVR = """
INSERT INTO ivr_steps (node, callid, step, line, flow, ivr_node, kind, outcome, at,
                       since_start_s)
SELECT node, callid, 1, COALESCE(line, ''), 'main', 'q', 'queue', queue, entered_at,
       2 + (hashtext(callid) & 15) + (hashtext(callid) >> 8 & 3)
FROM queue_entries WHERE queue NOT LIKE 'overflow-%'
"""


async def prepare(conn: asyncpg.Connection, entries: int) -> None:
    await load(conn, entries)
    started = time.perf_counter()
    added = await conn.execute(_OVERFLOW)
    print(f"overflow entries: {added.split()[-1]} in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    steps = await conn.execute(_IVR)
    print(f"IVR queue steps: {steps.split()[-1]} in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    refreshed = await refresh_all(conn, KpiParams().acw_caps, batch=96)
    print(f"rollups built: {refreshed:,} intervals in {time.perf_counter() - started:.0f} s")
    for day in (date(2026, 3, 9), date(2026, 3, 20)):
        await conn.execute(
            "INSERT INTO outage_days (day, reason, active, marked_by) "
            "VALUES ($1, '停电', true, 'bench')",
            day,
        )
    await conn.execute("ANALYZE")


_DIRTY_DAY = """
INSERT INTO kpi_dirty_intervals (interval_start)
SELECT generate_series(timestamptz '2026-03-31 00:00+08', timestamptz '2026-03-31 23:45+08',
                       interval '15 minutes')
ON CONFLICT DO NOTHING
"""


async def run(url: str, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    caps = KpiParams().acw_caps
    try:
        if not args.use_database:
            await prepare(conn, args.entries)
        total = await conn.fetchval("SELECT count(*) FROM queue_entries")
        print(f"\n{total:,} entries in the month")
        header = f"{'scheme':10} {'counting':34} {'first ms':>8} {'median ms':>10} {'p95 ms':>8}"
        print(f"{header} {'day dirty ms':>12}")
        for scheme in args.schemes:
            started = time.perf_counter()
            result = await assess_month(conn, scheme, MONTH, line=None, acw_caps=caps, tz=TZ)
            cold = (time.perf_counter() - started) * 1000
            counting = result.version.scheme.counting
            how = (
                "per call" if counting.per_call else "per entry"
            ) + f", clock {counting.sl_clock}"
            timings = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                await assess_month(conn, scheme, MONTH, line=None, acw_caps=caps, tz=TZ)
                timings.append((time.perf_counter() - started) * 1000)
            median, slow = statistics.median(timings), p95(timings)
            await conn.execute(_DIRTY_DAY)
            started = time.perf_counter()
            await assess_month(conn, scheme, MONTH, line=None, acw_caps=caps, tz=TZ)
            dirty = (time.perf_counter() - started) * 1000
            await conn.execute("DELETE FROM kpi_dirty_intervals")
            print(f"{scheme:10} {how:34} {cold:>8.0f} {median:>10.1f} {slow:>8.1f} {dirty:>12.0f}")
            answer = next((r for r in result.assessment.rules if r.kpi == "answer_rate"), None)
            if answer is not None:
                parts = f"{answer.numerator}/{answer.denominator}"
                print(f"{'':10} answer rate {answer.figure}% = {parts}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL of any database on the server")
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument(
        "--use-database",
        metavar="URL",
        help="time an already loaded database (a kept run of this script) instead",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--schemes", nargs="+", default=["xiaoshan", "haikou", "shenyang", "sichuan"]
    )
    args = parser.parse_args()
    if args.use_database:
        asyncio.run(run(args.use_database, args))
        return
    server_url = args.database_url or resolve_database_url(Settings())
    with scratch_database(server_url, "assessbench") as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()

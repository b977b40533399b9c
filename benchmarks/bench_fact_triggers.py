"""The dirty-marking triggers' cost per batch of fact writes, before and after migration 0016.

    .venv/bin/python benchmarks/bench_fact_triggers.py --use-database URL [--rows 2000]

On a loaded database (e.g. one ``bench_assessment_month.py``'s ``prepare`` filled), each
trial opens a transaction, installs one variant of the trigger functions, and writes a
batch the way the fact writer does: ``--rows`` new queue entries (INSERT, as they join;
one in 30 a second entry of an earlier call), the same rows closed (UPDATE), and two IVR
steps per call (INSERT); then rolls everything back (and vacuums it away before the
next trial). ``EXPLAIN ANALYZE`` reports each
statement's time and its triggers' time. Variants alternate, so that the load of a
shared machine falls on both alike; the medians are printed:

- ``before``: 0003/0009's marks (the entry's own intervals) and 0012's day-generation
  triggers on queue_entries, acw_intervals and calls;
- ``after``: 0016's marks (also the intervals of the call's other entries; IVR queue
  steps mark their call's entries), no day-generation triggers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import re
import statistics
from typing import Any

import asyncpg

from callctl.db import asyncpg_dsn

M16 = importlib.import_module("callctl.migrations.versions.0016_assess_cold")
M12 = importlib.import_module("callctl.migrations.versions.0012_assess_assessment")

_ENTRIES = """
INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, source)
SELECT node, CASE WHEN g % 30 = 0 THEN callid ELSE 'trig-' || $3 || '-' || g END,
       CASE WHEN g % 30 = 0 THEN 'overflow2-' || queue ELSE queue END, 1, line,
       entered_at + interval '40 seconds', 'ami'
FROM (SELECT *, row_number() OVER (ORDER BY entered_at) AS g FROM queue_entries
      WHERE entered_at >= $1 ORDER BY entered_at LIMIT $2) s
"""
_CLOSE = """
UPDATE queue_entries SET outcome = 'answered', wait_s = 6, ended_wait_at = entered_at
    + interval '6 seconds', agent = 'agent1', talk_s = 90, completed_at = entered_at
    + interval '96 seconds'
WHERE entered_at >= $1 AND (callid LIKE 'trig-%' OR queue LIKE 'overflow2-%')
"""
_IVR = """
INSERT INTO ivr_steps (node, callid, step, line, flow, ivr_node, kind, outcome, at,
                       since_start_s)
SELECT qe.node, qe.callid, s.step, '12345', 'main', 'n' || s.step, s.kind, 'x',
       qe.entered_at, 4 * s.step
FROM queue_entries qe CROSS JOIN (VALUES (11, 'play'), (12, 'queue')) AS s(step, kind)
WHERE qe.entered_at >= $1 AND (qe.callid LIKE 'trig-%' OR qe.queue LIKE 'overflow2-%')
"""


def _before() -> list[str]:
    keep = ("assessment_day_gen", "assessment_call_cache", "assessment_touch_")
    return [
        *(f"DROP TRIGGER kpi_dirty_{op} ON ivr_steps" for op in ("ins", "upd", "del")),
        *M16._restore_0003(),
        *(s for s in M12.UPGRADE if any(k in s for k in keep)),
    ]


async def trial(conn: Any, variant: str, since: Any, rows: int, number: int) -> dict[str, float]:
    times: dict[str, float] = {}
    tx = conn.transaction()
    await tx.start()
    try:
        if variant == "before":
            for statement in _before():
                await conn.execute(statement)
        for name, sql in (("entries joined", _ENTRIES), ("entries closed", _CLOSE),
                          ("ivr steps", _IVR)):  # fmt: skip
            args = (since, rows, str(number)) if sql is _ENTRIES else (since,)
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN ANALYZE {sql}", *args))
            total = float(re.search(r"Execution Time: ([\d.]+)", plan).group(1))  # type: ignore[union-attr]
            triggers = sum(float(t) for t in re.findall(r"Trigger .*?time=([\d.]+)", plan))
            times[f"{name} total"] = total
            times[f"{name} triggers"] = triggers
    finally:
        await tx.rollback()
    return times


async def run(url: str, rows: int, trials: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SET jit = off")
        since = await conn.fetchval(
            "SELECT entered_at FROM queue_entries ORDER BY entered_at DESC OFFSET $1 LIMIT 1",
            rows * 2,
        )
        results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for number in range(trials):
            for variant in ("before", "after"):
                # Each trial's rows are rolled back: vacuum them away, so that no probe
                # meets the dead rows of an earlier trial.
                await conn.execute("VACUUM queue_entries, ivr_steps, kpi_dirty_intervals")
                results[variant].append(await trial(conn, variant, since, rows, number))
        print(f"{rows:,} entries a batch (1 in 30 a second entry of a call), median of {trials}")
        print(f"{'ms':28} {'before':>9} {'after':>9}")
        for key in results["before"][0]:
            b = statistics.median(t[key] for t in results["before"])
            a = statistics.median(t[key] for t in results["after"])
            print(f"{key:28} {b:>9.1f} {a:>9.1f}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-database", required=True, metavar="URL")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.use_database, args.rows, args.trials))


if __name__ == "__main__":
    main()

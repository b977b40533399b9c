"""Benchmark the fact writer against a real PostgreSQL, in a scratch database.

    .venv/bin/python benchmarks/bench_writer.py [--database-url URL]

(a) throughput: QueueEntryFacts submitted as fast as the writer takes them
    (half new entries, half later snapshots of the same entries, i.e. updates);
(b) latency: a steady rate (default 1,000 facts/s) for 10 s, p50/p99 of the
    delay from ``submit`` to the commit of the fact's batch;
(a2) with ``--ivr``: the same throughput for whole calls as the IVR writes them:
    two ``ivr_steps`` (a prompt, then the queue step), the entry as it joins, the
    entry closed; one call in 30 times out of its queue into a second entry (the
    dirty-marking triggers then reach the call's other entry);
(c) outage: the same steady load while the database is unreachable (the
    writer's target is a closed port) for ``--outage-seconds``, then reachable
    again: how long until the spool is drained, and whether every fact arrived.

The scratch database (``bench_<hex>``) is created on the server of
``--database-url`` (default: CALLCTL_DATABASE_URL, else the lab's), migrated,
and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.facts.models import Fact, HangupSide, IvrStepFact, QueueEntryFact
from callctl.ingest.writer import FactWriter, WriterConfig
from callctl.settings import Settings
from kpi.outcome import Outcome

UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/none"


def queue_entries(count: int, *, prefix: str) -> Iterator[QueueEntryFact]:
    """``count`` facts: ``count // 2`` entries as they join, then the same ones closed."""
    entries = count // 2
    base = 1_790_000_000
    for i in range(entries):
        yield QueueEntryFact(
            node="bench", callid=f"{prefix}{i}", queue=f"q{i % 20}", seq=1,
            entered_at=base + i, caller_num=f"1380000{i % 10_000:04d}", position=1 + i % 7,
        )  # fmt: skip
    for i in range(count - entries):
        yield QueueEntryFact(
            node="bench", callid=f"{prefix}{i}", queue=f"q{i % 20}", seq=1,
            entered_at=base + i, outcome=Outcome.ANSWERED, ended_wait_at=base + i + 12,
            wait_s=12, agent=f"agent{i % 300}", ring_attempts=1 + i % 3, talk_s=95,
            hangup_side=HangupSide.CALLER, completed_at=base + i + 107,
        )  # fmt: skip


def ivr_calls(count: int, *, prefix: str) -> Iterator[Fact]:
    """About ``count`` facts: calls through the IVR into a queue (see (a2))."""
    base = 1_790_000_000
    i = 0
    made = 0
    while made < count:
        callid, at = f"{prefix}{i}", base + i
        for step, kind in ((1, "play"), (2, "queue")):
            yield IvrStepFact(
                node="bench", callid=callid, step=step, line="12345", flow="main",
                ivr_node=f"n{step}", kind=kind, at=at + 4 * step, since_start_s=4 * step,
                outcome="q1" if kind == "queue" else "played",
            )  # fmt: skip
        entered = at + 8
        queues = ["q1", "q2"] if i % 30 == 0 else ["q1"]
        for n, queue in enumerate(queues):
            yield QueueEntryFact(node="bench", callid=callid, queue=queue, seq=1,
                                 entered_at=entered, position=1)  # fmt: skip
            if n + 1 < len(queues):
                yield QueueEntryFact(
                    node="bench", callid=callid, queue=queue, seq=1, entered_at=entered,
                    outcome=Outcome.TIMEOUT, ended_wait_at=entered + 30, wait_s=30,
                )  # fmt: skip
                entered += 31
                made += 1
                continue
            yield QueueEntryFact(
                node="bench", callid=callid, queue=queue, seq=1, entered_at=entered,
                outcome=Outcome.ANSWERED, ended_wait_at=entered + 6, wait_s=6,
                agent=f"agent{i % 300}", ring_attempts=1, talk_s=95,
                hangup_side=HangupSide.CALLER, completed_at=entered + 101,
            )  # fmt: skip
        made += 4 + 2 * (len(queues) - 1)
        i += 1


async def poll_until(condition: Callable[[], bool], interval_s: float) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(interval_s)


async def count_rows(dsn: str, node_prefix: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        value = await connection.fetchval(
            "SELECT count(*) FROM queue_entries WHERE callid LIKE $1", node_prefix + "%"
        )
        return int(value)
    finally:
        await connection.close()


async def bench_throughput(url: str, spool_dir: Path, count: int, *, ivr: bool = False) -> None:
    facts = list(ivr_calls(count, prefix="i") if ivr else queue_entries(count, prefix="t"))
    count = len(facts)
    async with FactWriter(url, spool_dir / ("ivr" if ivr else "throughput")) as writer:
        high_water = 4 * writer.config.batch_size
        started = time.perf_counter()
        for i, fact in enumerate(facts):
            writer.submit(fact)
            if i % 1_000 == 999:
                # Yield like a socket reader does; hold back only if the writer
                # lags far behind, so this measures the writer, not the spool.
                await asyncio.sleep(0)
                await poll_until(lambda: writer.metrics.queue_depth <= high_water, 0.001)
        await writer.flush()
        elapsed = time.perf_counter() - started
        metrics = writer.metrics
    rate = count / elapsed
    print(
        f"throughput{' (calls through the IVR)' if ivr else ''}: {rate:,.0f} facts/s "
        f"({count:,} facts in {elapsed:.2f} s, "
        f"{metrics.batches_committed} batches, {metrics.spooled_records} spooled)"
    )


async def steady_load(writer: FactWriter, rate: int, seconds: float, prefix: str) -> int:
    """Submit ``rate`` facts/s for ``seconds`` in 10 ms ticks; returns how many."""
    per_tick = max(1, rate // 100)
    ticks = int(seconds * 100)
    facts = queue_entries(per_tick * ticks, prefix=prefix)
    started = time.perf_counter()
    submitted = 0
    for tick in range(ticks):
        delay = started + tick / 100 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for _ in range(per_tick):
            writer.submit(next(facts))
            submitted += 1
    return submitted


async def bench_latency(url: str, spool_dir: Path, rate: int, seconds: float) -> None:
    config = WriterConfig(latency_samples=rate * int(seconds) + 1)
    async with FactWriter(url, spool_dir / "latency", config) as writer:
        await steady_load(writer, rate, seconds, prefix="l")
        await writer.flush()
        metrics = writer.metrics
    p50, p99, worst = (metrics.latency_ms(q) or 0.0 for q in (50, 99, 100))
    print(
        f"latency @{rate}/s: p50 {p50:.0f} ms p99 {p99:.0f} ms max {worst:.0f} ms "
        f"({len(metrics.latency):,} facts, {metrics.batches_committed} batches)"
    )


async def bench_outage(url: str, spool_dir: Path, rate: int, seconds: float) -> None:
    target = {"url": UNREACHABLE_URL}
    async with FactWriter(lambda: target["url"], spool_dir / "outage") as writer:
        submitted = await steady_load(writer, rate, seconds, prefix="o")
        spooled = writer.metrics.spooled_records
        target["url"] = url  # the database is back
        returned = time.perf_counter()
        load = asyncio.create_task(steady_load(writer, rate, 3, prefix="p"))
        await poll_until(lambda: writer.metrics.spool_pending == 0, 0.01)
        drained_after = time.perf_counter() - returned
        submitted += await load
        await writer.flush()
    rows = await count_rows(asyncpg_dsn(url), "o") + await count_rows(asyncpg_dsn(url), "p")
    # Each entry is submitted twice (join, then closed): one row per two facts.
    lost = submitted // 2 - rows
    print(
        f"outage {seconds:.0f} s @{rate}/s: {spooled:,} facts spooled, spool drained "
        f"{drained_after:.1f} s after the database returned, lost {lost}"
    )


async def run_all(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        await bench_throughput(url, Path(spool), args.facts)
        if args.ivr:
            await bench_throughput(url, Path(spool), args.facts, ivr=True)
        await bench_latency(url, Path(spool), args.rate, args.seconds)
        if args.outage_seconds > 0:
            await bench_outage(url, Path(spool), args.rate, args.outage_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="SQLAlchemy URL of any database on the server")
    parser.add_argument("--facts", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1_000, help="facts/s for (b) and (c)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--outage-seconds", type=float, default=30.0, help="0 skips (c)")
    parser.add_argument("--ivr", action="store_true", help="also (a2): calls through the IVR")
    args = parser.parse_args()
    server_url = args.database_url or resolve_database_url(Settings())
    with scratch_database(server_url, "bench") as url:
        asyncio.run(run_all(url, args))


if __name__ == "__main__":
    main()

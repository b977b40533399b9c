"""Recorded AMI stream → parser → typed events → normalizer → writer → PostgreSQL.

Prints (a) events/s at full speed until every fact is committed, and (b) the delay
from an event's arrival to the commit of the facts it produced (p50/p99) under a
steady 1,000 events/s. Uses a scratch database on the lab's (or the given) server.

    .venv/bin/python -m benchmarks.bench_pipeline [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from ami.events import parse_event
from ami.frames import FrameParser
from benchmarks.bench_normalizer import build_stream, chunks
from callctl.db import resolve_database_url, scratch_database
from callctl.ingest.normalizer import AmiNormalizer
from callctl.ingest.writer import FactWriter
from callctl.settings import Settings


def feed(parser: FrameParser, normalizer: AmiNormalizer, writer: FactWriter, data: bytes) -> int:
    now = time.time()
    count = 0
    for frame in parser.feed(data):
        count += 1
        for fact in normalizer.feed(parse_event(frame, "bench", now)):
            writer.submit(fact, "ami")
    return count


async def throughput(url: str, spool: Path, events: int) -> None:
    stream, total = build_stream(events)
    reads = chunks(stream, 65536)
    parser, normalizer = FrameParser(), AmiNormalizer("bench")
    async with FactWriter(url, spool) as writer:
        started = time.perf_counter()
        for i, data in enumerate(reads):
            feed(parser, normalizer, writer, data)
            if i % 8 == 0:
                await asyncio.sleep(0)  # let the writer run, as the reader's loop would
        await writer.flush()
        elapsed = time.perf_counter() - started
        facts = writer.metrics.facts_committed
    print(
        f"throughput: {total / elapsed:,.0f} events/s end to end "
        f"({total:,} events → {facts:,} facts committed in {elapsed:.2f} s)"
    )


async def latency(url: str, spool: Path, rate: int, seconds: float) -> None:
    stream, _ = build_stream(int(rate * seconds) + 1000)
    frames_per_tick = max(1, rate // 100)
    # Split on frame boundaries so each tick delivers whole events, like AMI reads.
    frames = stream.split(b"\r\n\r\n")
    parser, normalizer = FrameParser(), AmiNormalizer("bench")
    async with FactWriter(url, spool) as writer:
        writer.metrics.latency.clear()
        sent = 0
        started = time.monotonic()
        tick = 0
        while time.monotonic() - started < seconds:
            batch = frames[sent : sent + frames_per_tick]
            data = b"".join(f + b"\r\n\r\n" for f in batch)
            sent += len(batch)
            feed(parser, normalizer, writer, data)
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * 0.01 - time.monotonic()))
        await writer.flush()
        p50, p99 = writer.metrics.latency_ms(50), writer.metrics.latency_ms(99)
    print(
        f"latency @{rate:,} events/s: event arrival → commit p50 {p50:.0f} ms p99 {p99:.0f} ms "
        f"({sent:,} events in {seconds:.0f} s)"
    )


async def run(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as spool:
        await throughput(url, Path(spool), args.events)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as spool:
        await latency(url, Path(spool), args.rate, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    server_url = args.database_url or resolve_database_url(Settings())
    with scratch_database(server_url, "bench") as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()

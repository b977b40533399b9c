"""callctl's CPU per collected recording: the collector's scans, sox included.

Fills a spool with ``--recordings`` finished raw files (``--seconds`` of call-like
stereo each, ended by a settled ``.end`` marker, as the dialplan leaves them) and runs
``Collector.scan_once`` on it against a scratch database, ``--batch`` files per scan as
the periodic scan meets them (20 calls/s and a 2 s interval: 40). Prints, per recording,
the CPU of the event-loop thread, of the whole process (worker threads included) and
of the children (sox), plus the cost of an idle scan (nothing ready).

    .venv/bin/python -m benchmarks.bench_collector [--recordings 200] [--batch 40]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import resource
import tempfile
import time
from array import array
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn, resolve_database_url, scratch_database
from callctl.settings import Settings
from recording.collector import Collector

RATE = 8000


def call_audio(seconds: float, seed: int) -> bytes:
    """Agent left, caller right: a tone on one side, line noise on the other."""
    rng = random.Random(seed)
    samples = array("h")
    for i in range(int(seconds * RATE)):
        speech = int(6000 * math.sin(2 * math.pi * 440 * i / RATE))
        samples.append(speech + rng.randint(-40, 40))
        samples.append(rng.randint(-40, 40))
    return samples.tobytes()


def fill_spool(spool: Path, count: int, seconds: float, first: int) -> None:
    spool.mkdir(parents=True, exist_ok=True)
    audio = call_audio(seconds, first)
    old = time.time() - 60
    for n in range(first, first + count):
        stem = f"1795000000.{n}+hotline+12345+1001+1795000000.{n + 1}"
        raw = spool / f"{stem}.raw"
        raw.write_bytes(audio)
        marker = spool / f"{stem}.end"
        marker.touch()
        for path in (raw, marker):
            os.utime(path, (old, old))


def cpu() -> tuple[float, float, float]:
    """(this thread, this process, reaped children) CPU seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.thread_time(),
        own.ru_utime + own.ru_stime,
        kids.ru_utime + kids.ru_stime,
    )


async def run(url: str, args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=4)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp:
            spool, store = Path(tmp) / "spool", Path(tmp) / "store"
            spool.mkdir()
            collector = Collector(pool, store, {"lab": spool})
            await collector.scan_once()  # warm: statements prepared, pool filled
            total = [0.0, 0.0, 0.0]
            wall = 0.0
            collected = 0
            for first in range(0, args.recordings, args.batch):
                count = min(args.batch, args.recordings - first)
                fill_spool(spool, count, args.seconds, first * 2)
                before, started = cpu(), time.monotonic()
                report = await collector.scan_once()
                after = cpu()
                wall += time.monotonic() - started
                collected += report.collected
                total = [t + a - b for t, a, b in zip(total, after, before, strict=True)]
            before = cpu()
            for _ in range(args.idle_scans):
                await collector.scan_once()
            idle = [(a - b) / args.idle_scans for a, b in zip(cpu(), before, strict=True)]
    finally:
        await pool.close()
    per = [1000 * t / collected for t in total]
    print(
        f"{collected} recordings of {args.seconds:g} s, {args.batch} per scan: per recording "
        f"loop thread {per[0]:.2f} ms, process {per[1]:.2f} ms, children (sox) {per[2]:.2f} ms,"
        f" wall {1000 * wall / collected:.1f} ms"
    )
    print(
        f"idle scan (nothing ready): loop thread {1000 * idle[0]:.2f} ms, "
        f"process {1000 * idle[1]:.2f} ms, children {1000 * idle[2]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--idle-scans", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    settings = Settings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    with scratch_database(resolve_database_url(settings), "bench_collector") as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()

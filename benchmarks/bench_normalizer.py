"""AMI → facts speed on one core: bytes -> frames -> typed events -> AmiNormalizer.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_normalizer [--events 200000] [--chunk 65536]

The stream is the lab recordings (``tests/fixtures/ami_recorded/*.ami``: an answered
call, an abandon while ringing, a ring-no-answer then abandon, a pause/unpause) played
one after the other and repeated to ``--events`` events, every epoch in copy ``k``
shifted by ``100 * k`` seconds so that each copy is a new set of calls with new
Uniqueids. The pipeline target is >= 30,000 events/s for normalizer + writer, so the
normalizer's share must stay small next to parsing.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

from ami.events import AmiEvent, parse_event
from ami.frames import FrameParser, parse_frames
from ami.testing import load_transcript
from callctl.ingest.normalizer import AmiNormalizer

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami_recorded"
TARGET_EVENTS_PER_S = 30_000
_EPOCH = re.compile(rb"\b1795\d{6}\b")


def build_stream(events: int) -> tuple[bytes, int]:
    # Only real events: the login response and FullyBooted happen once per session.
    one_copy = b"".join(
        frame.to_text().encode()
        for path in sorted(FIXTURES.glob("*.ami"))
        for frame in parse_frames(load_transcript(path))
        if "Timestamp" in frame.headers
    )
    per_copy = one_copy.count(b"\r\n\r\n")
    copies = max(1, events // per_copy)
    stream = b"".join(_shifted(one_copy, 100 * k) for k in range(copies))
    return stream, per_copy * copies


def _shifted(transcript: bytes, seconds: int) -> bytes:
    """Every epoch (Timestamp, Uniqueid, LoginTime ...) moved ``seconds`` later."""
    return _EPOCH.sub(lambda match: str(int(match[0]) + seconds).encode(), transcript)


def chunks(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def bench_parse(reads: list[bytes]) -> float:
    parser = FrameParser()
    started = time.perf_counter()
    for data in reads:
        now = time.time()
        for frame in parser.feed(data):
            parse_event(frame, "bench", now)
    return time.perf_counter() - started


def bench_parse_normalize(reads: list[bytes]) -> tuple[float, AmiNormalizer, int]:
    parser = FrameParser()
    normalizer = AmiNormalizer("bench")
    feed = normalizer.feed
    facts = 0
    started = time.perf_counter()
    for data in reads:
        now = time.time()
        for frame in parser.feed(data):
            facts += len(feed(parse_event(frame, "bench", now)))
    return time.perf_counter() - started, normalizer, facts


def bench_normalize_only(events: list[AmiEvent]) -> float:
    feed = AmiNormalizer("bench").feed
    started = time.perf_counter()
    for event in events:
        feed(event)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=65_536)
    parser.add_argument("--rounds", type=int, default=3, help="best of N")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    stream, count = build_stream(args.events)
    reads = chunks(stream, args.chunk)
    events = [parse_event(frame, "bench", 0.0) for frame in parse_frames(stream)]
    print(f"recorded transcripts: {count} events, {len(stream) / 1e6:.1f} MB,", end=" ")
    print(f"{len(reads)} reads of {args.chunk} B")

    def report(label: str, seconds: float) -> float:
        rate = count / seconds
        print(f"  {label:<44} {rate:>10,.0f} events/s  ({seconds * 1e6 / count:.2f} µs/event)")
        return rate

    report("parse + typed event (no normalizer)", min(bench_parse(reads) for _ in range(3)))
    runs = [bench_parse_normalize(reads) for _ in range(args.rounds)]
    seconds, normalizer, facts = min(runs, key=lambda run: run[0])
    rate = report("parse + typed event + AmiNormalizer.feed", seconds)
    report("AmiNormalizer.feed alone", min(bench_normalize_only(events) for _ in range(3)))
    stats = normalizer.stats
    print(f"  {facts:,} fact snapshots emitted; {stats}")
    assert stats.illegal_transitions == stats.unknown_calls == stats.lost_entries == 0
    verdict = "meets" if rate >= TARGET_EVENTS_PER_S else "MISSES"
    print(f"parse + normalizer {verdict} the {TARGET_EVENTS_PER_S:,} events/s pipeline target")


if __name__ == "__main__":
    main()

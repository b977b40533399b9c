"""AMI ingest speed on one core: bytes -> frames -> typed events -> dispatch table.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_ami [--events 200000] [--chunk 65536]

The stream is a transcript's event frames (default: the answered-call fixture; try
``--transcript tests/fixtures/ami_recorded/answered.ami`` for one recorded from the lab's
Asterisk) repeated to ``--events`` events, fed in ``--chunk``-byte reads as a socket
would deliver them. Target: >= 40,000 events/s for
parse + typed event + dispatch. panoramisk's ``Message`` parser is timed for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from panoramisk.message import Message

from ami import events as ev
from ami.frames import FrameParser
from ami.protocol import AmiProtocol
from ami.testing import load_transcript, transcript_frames

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami" / "answered_call.txt"
TARGET_EVENTS_PER_S = 40_000
# CPU time of this process, not wall time: on a shared machine the benchmark is often
# descheduled, and events per CPU-second on one core is what the target is about.
_clock = time.process_time


def build_stream(transcript: Path, events: int) -> tuple[bytes, int]:
    # Events only: a recorded session also holds the banner and the Login response.
    frames = [frame for frame in transcript_frames(load_transcript(transcript)) if frame.event]
    one_copy = "".join(frame.to_text() for frame in frames).encode("utf-8")
    copies = max(1, events // len(frames))
    return one_copy * copies, len(frames) * copies


def chunks(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def make_dispatch() -> tuple[Callable[[ev.AmiEvent], None], Counter[str]]:
    """A dispatch table like ingest's: event class -> small handler."""
    seen: Counter[str] = Counter()

    def count(event: ev.AmiEvent) -> None:
        seen[event.name] += 1

    def queue_call(event: ev.AmiEvent) -> None:
        if isinstance(event, ev.QueueCallerJoin | ev.QueueCallerLeave):
            seen[event.queue] += 1

    def agent(event: ev.AmiEvent) -> None:
        if isinstance(event, ev.AgentEvent) and event.dest_uniqueid is not None:
            seen["agent-leg"] += 1

    table: dict[type[ev.AmiEvent], Callable[[ev.AmiEvent], None]] = {
        ev.QueueCallerJoin: queue_call,
        ev.QueueCallerLeave: queue_call,
        ev.AgentCalled: agent,
        ev.AgentConnect: agent,
        ev.AgentComplete: agent,
    }

    def dispatch(event: ev.AmiEvent) -> None:
        table.get(type(event), count)(event)

    return dispatch, seen


def bench_parse_only(reads: list[bytes]) -> float:
    parser = FrameParser()
    started = _clock()
    for data in reads:
        parser.feed(data)
    return _clock() - started


def bench_parse_type_dispatch(reads: list[bytes]) -> float:
    parser = FrameParser()
    dispatch, _ = make_dispatch()
    parse_event = ev.parse_event
    started = _clock()
    for data in reads:
        now = time.time()
        for frame in parser.feed(data):
            dispatch(parse_event(frame, "bench", now))
    return _clock() - started


class _NullTransport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


async def bench_protocol(reads: list[bytes]) -> float:
    """The real reader path: AmiProtocol.data_received -> parse_event -> sink."""
    dispatch, _ = make_dispatch()
    protocol = AmiProtocol("bench", dispatch)
    protocol.connection_made(_NullTransport())
    started = _clock()
    for data in reads:
        protocol.data_received(data)
    return _clock() - started


def bench_panoramisk(stream: bytes) -> float:
    started = _clock()
    # panoramisk's own loop: decode, split on blank lines, Message.from_line per frame.
    for block in stream.decode("utf-8", "ignore").split("\r\n\r\n"):
        Message.from_line(block.strip())
    return _clock() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transcript", type=Path, default=FIXTURE)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=65_536)
    parser.add_argument("--rounds", type=int, default=3, help="best of N")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    stream, count = build_stream(args.transcript, args.events)
    reads = chunks(stream, args.chunk)
    print(f"{args.transcript.name}: {count} events, {len(stream) / 1e6:.1f} MB,", end=" ")
    print(f"{len(reads)} reads of {args.chunk} B; rates per CPU-second, best of {args.rounds}")

    def report(label: str, seconds: float) -> float:
        rate = count / seconds
        print(f"  {label:<44} {rate:>10,.0f} events/s")
        return rate

    best = lambda run: min(run() for _ in range(args.rounds))  # noqa: E731
    report("FrameParser only", best(lambda: bench_parse_only(reads)))
    typed = report(
        "parse + typed event + dispatch table", best(lambda: bench_parse_type_dispatch(reads))
    )
    report(
        "AmiProtocol.data_received (reader path)",
        best(lambda: asyncio.run(bench_protocol(reads))),
    )
    report("panoramisk Message.from_line (comparison)", best(lambda: bench_panoramisk(stream)))
    verdict = "meets" if typed >= TARGET_EVENTS_PER_S else "MISSES"
    print(f"parse + typed + dispatch {verdict} the {TARGET_EVENTS_PER_S:,} events/s target")


if __name__ == "__main__":
    main()

"""Record a live AMI event stream to a transcript file that ``ami.testing`` replays.

    python -m ami.record --host 127.0.0.1 --port 5038 --user callctl --secret ... \\
        --out tests/fixtures/ami/lab_calls.txt --seconds 60

Every event frame is written as received (responses to the recorder's own actions are
left out), in the transcript format described in :mod:`ami.testing`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ami import actions
from ami.actions import DEFAULT_EVENT_MASK
from ami.frames import FrameParser

_PING_EVERY_S = 5.0


async def record(
    *,
    host: str,
    port: int,
    username: str,
    secret: str,
    out: Path,
    seconds: float,
    event_mask: Sequence[str] = DEFAULT_EVENT_MASK,
) -> int:
    """Record ``seconds`` of events into ``out``; returns how many were written."""
    reader, writer = await asyncio.open_connection(host, port)
    parser = FrameParser()
    written = 0
    try:
        writer.write(actions.login(username, secret, event_mask).to_wire("record-login"))
        deadline = time.monotonic() + seconds
        next_ping = time.monotonic() + _PING_EVERY_S
        with out.open("w", encoding="utf-8", newline="") as transcript:
            started = datetime.now(UTC).isoformat(timespec="seconds")
            transcript.write(f"# recorded by ami.record from {host}:{port} at {started}\n")
            while (left := deadline - time.monotonic()) > 0:
                if time.monotonic() >= next_ping:
                    # Keeps NAT/firewall state alive on long recordings; reply is skipped.
                    writer.write(actions.ping().to_wire("record-ping"))
                    next_ping += _PING_EVERY_S
                try:
                    data = await asyncio.wait_for(reader.read(65536), min(left, _PING_EVERY_S))
                except TimeoutError:
                    continue
                if not data:
                    break
                for frame in parser.feed(data):
                    if frame.response is not None:
                        if frame.action_id == "record-login" and frame.response != "Success":
                            raise PermissionError(f"login refused: {frame.get('Message')}")
                        continue
                    transcript.write(frame.to_text())
                    written += 1
        writer.write(actions.logoff().to_wire("record-logoff"))
        await writer.drain()
    finally:
        writer.close()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ami.record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--user", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument(
        "--events",
        default=",".join(DEFAULT_EVENT_MASK),
        help="event classes, comma-separated (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        count = asyncio.run(
            record(
                host=args.host,
                port=args.port,
                username=args.user,
                secret=args.secret,
                out=args.out,
                seconds=args.seconds,
                event_mask=tuple(args.events.split(",")),
            )
        )
    except (OSError, ValueError) as exc:  # PermissionError is an OSError
        print(f"ami.record: {exc}", file=sys.stderr)
        return 1
    print(f"ami.record: {count} events written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

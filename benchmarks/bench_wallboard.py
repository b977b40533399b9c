"""AMI event arrival at the reader → websocket frame at a wallboard client, under load.

A fake AMI server (this process) replays the recorded lab calls (answered, abandoned,
ring-no-answer; each call's events at their recorded offsets, with fresh ids and
today's times) at ``--calls-per-s`` into a real callctl (a subprocess: uvicorn, the
ingest pipeline writing to a scratch PostgreSQL database, the live state and the
websocket), and a websocket client here takes every frame. Each delta carries ``at``,
the time its event arrived at callctl's AMI reader (same machine clock), so the lag
of a frame is its arrival here minus ``at``. Prints p50/p95/p99/max and frames/s.

    .venv/bin/python -m benchmarks.bench_wallboard [--calls-per-s 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
import websockets

from ami.connection import AmiNode
from ami.frames import parse_frames
from ami.testing import FakeAmiServer, load_transcript
from callctl.app import create_app
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import resolve_database_url, scratch_database
from callctl.runtime import build_runtime
from callctl.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami_recorded"
CALLS = ("answered", "abandoned", "ring_no_answer")
SECRET = "bench-secret"
TARGET_P99_MS = 100.0
_ID = re.compile(rb"\b(1795\d{6})\.(\d{1,4})\b")
_EPOCH = re.compile(rb"\b1795\d{6}\b")


# --- the load: recorded calls, re-timed -----------------------------------------------------


def recorded_call(name: str) -> list[tuple[float, bytes]]:
    """(seconds after the call's first event, frame bytes) of one recorded call."""
    frames = [
        frame
        for frame in parse_frames(load_transcript(FIXTURES / f"{name}.ami"))
        if "Timestamp" in frame.headers
    ]
    first = float(frames[0].headers["Timestamp"])
    return [(float(f.headers["Timestamp"]) - first, f.to_text().encode()) for f in frames]


def one_call(template: list[tuple[float, bytes]], number: int, shift_s: int) -> list[bytes]:
    """The call's frames with ids of its own and every epoch moved by ``shift_s``."""

    def fresh_id(match: re.Match[bytes]) -> bytes:
        return b"%s.%d" % (match[1], number * 1000 + int(match[2]))

    out = []
    for _, frame in template:
        frame = _ID.sub(fresh_id, frame)
        out.append(_EPOCH.sub(lambda m: str(int(m[0]) + shift_s).encode(), frame))
    return out


def schedule(calls_per_s: float, seconds: float, start: float) -> list[tuple[float, bytes]]:
    templates = [recorded_call(name) for name in CALLS]
    base = int(_EPOCH.findall(templates[0][0][1])[0])
    plan: list[tuple[float, bytes]] = []
    for number in range(int(calls_per_s * seconds)):
        begins = start + number / calls_per_s
        template = templates[number % len(templates)]
        frames = one_call(template, number, int(begins) - base)
        plan += [
            (begins + offset, frame) for (offset, _), frame in zip(template, frames, strict=True)
        ]
    plan.sort(key=lambda item: item[0])
    return plan


async def replay(server: FakeAmiServer, plan: list[tuple[float, bytes]]) -> int:
    sent = 0
    while sent < len(plan):
        now = time.time()
        due = []
        while sent < len(plan) and plan[sent][0] <= now:
            due.append(plan[sent][1])
            sent += 1
        if due:
            await server.send(b"".join(due))
        if sent < len(plan):
            await asyncio.sleep(min(0.005, max(0.0, plan[sent][0] - time.time())))
    return sent


# --- the callctl under test (a subprocess) -----------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    settings = Settings(
        http_port=args.http_port,
        queue_log_path=Path(args.queue_log),
        spool_dir=Path(args.spool),
        node_id="lab",
    )
    app = create_app(settings, ingest=False, database_url=args.database_url)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.http_port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(600):  # uvicorn offers no event for "started"
        if server.started:
            break
        await asyncio.sleep(0.05)
    # The real runtime (pipeline, writer, live state) against the fake AMI node.
    runtime = build_runtime(settings, args.database_url, acw_caps=app.state.acw_caps)
    app.state.runtime = runtime
    assert runtime.live is not None
    app.state.live = runtime.live.hub
    node = AmiNode(
        node_id="lab", host="127.0.0.1", port=args.ami_port, username="callctl", secret=SECRET
    )
    await runtime.start([node])
    try:
        await serving
    finally:
        await runtime.stop()


# --- the measurement -------------------------------------------------------------------------


async def make_token(url: str) -> str:
    return await provision_user(url, "bench-wallboard", Role.SUPERVISOR, label="bench")


async def wait_ready(http: str, token: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline:
            try:
                health = (await client.get(f"{http}/health")).json()
                live = (await client.get(f"{http}/api/v1/live")).json()
                if health["status"] == "ok" and live["today"]["seeded"]:
                    return
            except (httpx.HTTPError, KeyError):
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("callctl did not come up")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def measure(url: str, args: argparse.Namespace) -> None:
    token = await make_token(url)
    http_port = int(os.environ.get("CALLCTL_TEST_HTTP_PORT", "18345"))
    async with FakeAmiServer(secret=SECRET) as ami:
        with tempfile.TemporaryDirectory(prefix="bench-wallboard-") as work:
            queue_log = Path(work) / "queue_log"
            queue_log.touch()
            log = Path(work) / "callctl.log"
            command = [
                sys.executable, "-m", "benchmarks.bench_wallboard", "--serve",
                "--ami-port", str(ami.port), "--http-port", str(http_port),
                "--database-url", url, "--queue-log", str(queue_log),
                "--spool", str(Path(work) / "spool"),
            ]  # fmt: skip
            out = await asyncio.to_thread(log.open, "ab")
            try:
                callctl = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
            finally:
                out.close()
            try:
                await wait_ready(f"http://127.0.0.1:{http_port}", token)
                await run_load(ami, http_port, token, args)
            finally:
                callctl.send_signal(signal.SIGTERM)
                await asyncio.wait_for(callctl.wait(), 30)
                tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-1500:]
                if "Traceback" in tail:
                    print(tail)


async def run_load(
    ami: FakeAmiServer, http_port: int, token: str, args: argparse.Namespace
) -> None:
    lags: list[float] = []
    gaps = snapshots = 0
    async with websockets.connect(f"ws://127.0.0.1:{http_port}/ws/wallboard", max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        seq = json.loads(await ws.recv())["seq"]

        async def read() -> None:
            nonlocal seq, gaps, snapshots
            async for text in ws:
                arrived = time.time()
                frame = json.loads(text)
                if frame["type"] == "snapshot":
                    snapshots += 1
                elif frame["seq"] != seq + 1:
                    gaps += 1
                seq = frame["seq"]
                if "at" in frame:
                    lags.append(arrived - frame["at"])

        reader = asyncio.create_task(read())
        start = time.time() + 0.5
        plan = schedule(args.calls_per_s, args.seconds, start)
        sent = await replay(ami, plan)
        elapsed = time.time() - start
        await asyncio.sleep(2)  # the last calls' frames
        reader.cancel()
    ms = [lag * 1000 for lag in lags]
    p99 = percentile(ms, 99)
    print(
        f"load: {args.calls_per_s:g} calls/s for {args.seconds:g} s "
        f"({int(args.calls_per_s * args.seconds)} calls, {sent:,} AMI events, "
        f"{sent / args.seconds:,.0f} events/s)"
    )
    print(
        f"AMI event at the reader → websocket frame at the client: "
        f"p50 {percentile(ms, 50):.1f} ms  p95 {percentile(ms, 95):.1f} ms  "
        f"p99 {p99:.1f} ms  max {max(ms):.1f} ms"
    )
    print(
        f"frames: {len(lags):,} deltas, {len(lags) / elapsed:,.0f} frames/s; "
        f"seq gaps {gaps}, resync snapshots {snapshots}"
    )
    verdict = "meets" if p99 <= TARGET_P99_MS else "MISSES"
    print(f"target p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict}")
    await agreement(http_port, token, int(args.calls_per_s * args.seconds))


async def agreement(http_port: int, token: str, calls: int) -> None:
    """Today's live figures after the load, against the calls sent."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers) as client:
        live = (await client.get(f"http://127.0.0.1:{http_port}/api/v1/live")).json()
    total = live["today"]["total"]
    print(
        f"live today: offered {total['offered']} (calls sent {calls}), answered "
        f"{total['answered']}, abandoned {total['abandoned']}, "
        f"answer rate {total['answer_rate']}%, waiting now {live['summary']['waiting']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--calls-per-s", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    # The callctl side, run by the benchmark itself.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ami-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--queue-log", help=argparse.SUPPRESS)
    parser.add_argument("--spool", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
        return
    server_url = args.database_url or resolve_database_url(Settings())
    with scratch_database(server_url, "bench_wallboard") as url:
        asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()

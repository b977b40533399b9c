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

from ami.frames import parse_frames
from ami.testing import FakeAmiServer, load_transcript
from benchmarks.lab_harness import SCRAPE_TOKEN, free_tcp_port, metric, scrape
from callctl.app import create_app
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import resolve_database_url, scratch_database
from callctl.nodes import parse_nodes
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


def recorded_queue_log(name: str, first_event_at: float) -> list[tuple[float, bytes]]:
    """(seconds after the call's first AMI event, line) of the call's queue_log lines."""
    text = (FIXTURES / f"{name}.queue_log").read_bytes()
    return [
        (max(0.0, int(line.split(b"|", 1)[0]) - first_event_at), line + b"\n")
        for line in text.splitlines()
        if line
    ]


def first_timestamp(name: str) -> float:
    frames = parse_frames(load_transcript(FIXTURES / f"{name}.ami"))
    return min(float(f.headers["Timestamp"]) for f in frames if "Timestamp" in f.headers)


Plan = list[tuple[float, bytes]]


def schedule(
    calls_per_s: float, seconds: float, start: float, *, queue_log: Plan | None = None
) -> Plan:
    """The AMI frames of ``calls_per_s`` × ``seconds`` recorded calls, by send time; with
    ``queue_log``, that list gets the calls' queue_log lines (same ids and times)."""
    templates = [recorded_call(name) for name in CALLS]
    lines = [recorded_queue_log(name, first_timestamp(name)) for name in CALLS]
    base = int(_EPOCH.findall(templates[0][0][1])[0])
    plan: Plan = []
    for number in range(int(calls_per_s * seconds)):
        begins = start + number / calls_per_s
        template = templates[number % len(templates)]
        frames = one_call(template, number, int(begins) - base)
        plan += [
            (begins + offset, frame) for (offset, _), frame in zip(template, frames, strict=True)
        ]
        if queue_log is not None:
            call_lines = lines[number % len(lines)]
            moved = one_call(call_lines, number, int(begins) - base)
            queue_log += [
                (begins + offset, line) for (offset, _), line in zip(call_lines, moved, strict=True)
            ]
    plan.sort(key=lambda item: item[0])
    if queue_log is not None:
        queue_log.sort(key=lambda item: item[0])
    return plan


async def replay(
    server: FakeAmiServer,
    plan: Plan,
    queue_log: Plan | None = None,
    queue_log_file: Path | None = None,
) -> int:
    """Send each frame at its time; append each queue_log line at its time, as Asterisk
    writes them (the service's shipper and follower then fold them)."""
    sent = written = 0
    queue_log = queue_log or []
    out = None if queue_log_file is None else queue_log_file.open("ab")
    try:
        while sent < len(plan) or written < len(queue_log):
            now = time.time()
            due = []
            while sent < len(plan) and plan[sent][0] <= now:
                due.append(plan[sent][1])
                sent += 1
            if due:
                await server.send(b"".join(due))
            lines = []
            while written < len(queue_log) and queue_log[written][0] <= now:
                lines.append(queue_log[written][1])
                written += 1
            if lines and out is not None:
                out.write(b"".join(lines))
                out.flush()
            upcoming = [
                p[0] for p in (plan[sent : sent + 1] + list(queue_log[written : written + 1]))
            ]
            if upcoming:
                await asyncio.sleep(min(0.005, max(0.0, min(upcoming) - time.time())))
    finally:
        if out is not None:
            out.close()
    return sent


# --- the callctl under test (a subprocess) -----------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    """callctl as ``callctl serve`` runs it (API, ingest, live view, queue_log follower),
    watching one node: the fake AMI server, with the queue_log file the bench appends to."""
    settings = Settings(
        http_port=args.http_port,
        queue_log_path=Path(args.queue_log),
        spool_dir=Path(args.spool),
        node_id="lab",
    )
    nodes = parse_nodes(
        f"""
        [[node]]
        id = "lab"
        ami_host = "127.0.0.1"
        ami_port = {args.ami_port}
        ami_user = "callctl"
        secret_env = "BENCH_AMI_SECRET"
        queue_log = {{ mode = "file", path = "{args.queue_log}" }}
        """,
        read_text=Path.read_text,
        environ={"BENCH_AMI_SECRET": SECRET},
        base_dir=Path(args.spool),
    )
    app = create_app(settings, ingest=True, database_url=args.database_url, nodes=nodes)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.http_port, log_level="warning")
    )
    await server.serve()


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
    # A port of its own: 18345 is the integration tests' (CALLCTL_TEST_HTTP_PORT).
    http_port = free_tcp_port()
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
                callctl = await asyncio.create_subprocess_exec(
                    *command,
                    stdout=out,
                    stderr=out,
                    env={**os.environ, "CALLCTL_METRICS_TOKEN": SCRAPE_TOKEN},
                )
            finally:
                out.close()
            try:
                await wait_ready(f"http://127.0.0.1:{http_port}", token)
                await run_load(ami, http_port, token, args, queue_log)
            finally:
                callctl.send_signal(signal.SIGTERM)
                await asyncio.wait_for(callctl.wait(), 30)
                tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-1500:]
                if "Traceback" in tail:
                    print(tail)


async def run_load(
    ami: FakeAmiServer,
    http_port: int,
    token: str,
    args: argparse.Namespace,
    queue_log_file: Path,
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
        lines: Plan = []
        plan = schedule(
            args.calls_per_s, args.seconds, start, queue_log=None if args.no_queue_log else lines
        )
        load_before = os.getloadavg()[0]
        sent = await replay(ami, plan, lines, queue_log_file)
        elapsed = time.time() - start
        load_after = os.getloadavg()[0]
        await asyncio.sleep(2)  # the last calls' frames
        reader.cancel()
    async with httpx.AsyncClient() as client:
        metrics = await scrape(client, f"http://127.0.0.1:{http_port}")
    fact_p50, fact_p99 = (1000 * v for v in metric(metrics, "callctl_fact_commit_seconds"))
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
    rollbacks = sum(metric(metrics, "callctl_writer_rollback_retries_total"))
    spooled = sum(metric(metrics, "callctl_spooled_records_total"))
    print(
        f"event → fact commit (the writer's latest facts): p50 {fact_p50:.0f} ms  "
        f"p99 {fact_p99:.0f} ms; spooled {spooled:.0f}"
        f", batches rolled back and retried {rollbacks:.0f}; queue_log lines {len(lines):,}"
    )
    print(f"load average {load_before:.2f} → {load_after:.2f} on {os.cpu_count()} cores")
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
    parser.add_argument(
        "--no-queue-log", action="store_true", help="AMI only (no queue_log lines, no follower)"
    )
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

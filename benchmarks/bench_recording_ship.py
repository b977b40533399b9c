"""Shipping throughput of recordings: ``callctl recordings ship``'s code (HttpUploader,
SpoolShipper, in a thread) against callctl's upload endpoint (uvicorn, real PostgreSQL,
real sox) on loopback, one process. No Asterisk: call-like raw files (SIPp's speech
sample, parties taking turns; as bench_recording_storage.py) are written into a spool.

Prints:
- sox's cost per call-hour (what converting costs wherever it runs: node or server);
- end to end (hash, PUT, stream to disk, sox, hash, metadata, link): files/s, raw MB/s,
  call-hours shipped per hour;
- replays (same files again, callctl answers "already"): the transfer alone;
- one large file (``--big-mb`` of raw) uploaded: the process's peak RSS growth, to show
  the body is streamed, not held.

    .venv/bin/python benchmarks/bench_recording_ship.py [--files 40] [--seconds 240]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import hashlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recording_storage import channel, speech_samples

from callctl.app import create_app
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import resolve_database_url, scratch_database
from callctl.settings import Settings
from recording.audio import sox_binary, sox_command
from recording.shipper import HttpUploader, SpoolShipper, Target

RATE = 8000


def call_audio(seconds: int, rng: random.Random) -> bytes:
    speech = speech_samples()
    agent = channel(speech, seconds, 6.0, True, rng)
    caller = channel(speech[len(speech) // 2 :], seconds, 6.0, False, rng)
    pcm = array.array("h")
    for a, b in zip(agent, caller, strict=True):
        pcm.extend((a, b))
    return pcm.tobytes()


def fill_spool(spool: Path, files: int, audio: bytes, base: int) -> None:
    spool.mkdir(parents=True, exist_ok=True)
    end = time.time() - 60
    for n in range(files):
        callid = f"{base}.{n}"
        path = spool / f"{callid}+hotline+12345+1001+{callid}0.done"
        path.write_bytes(audio)
        os.utime(path, (end, end))


def sox_cost_per_call_hour(audio: bytes, work: Path) -> tuple[float, int]:
    raw, out = work / "one.raw", work / "one.flac"
    raw.write_bytes(audio)
    started = time.process_time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(sox_command(sox_binary(), raw, out), check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    del started
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    hours = len(audio) / (RATE * 4) / 3600
    return cpu / hours, out.stat().st_size


def ship_all(url: str, token: str, spool: Path) -> tuple[float, SpoolShipper]:
    uploader = HttpUploader(Target.parse(url), token, timeout_s=120)
    shipper = SpoolShipper("bench", spool, uploader)
    started = time.monotonic()
    try:
        while not shipper.ship_once() or any(spool.iterdir()):
            pass
    finally:
        uploader.close()
    return time.monotonic() - started, shipper


async def run(args: argparse.Namespace, settings: Settings, db: str, work: Path) -> None:
    rng = random.Random(14)
    audio = call_audio(args.seconds, rng)
    raw_mb = len(audio) / 1e6
    if True:
        cpu_per_h, flac_size = sox_cost_per_call_hour(audio, work)
        print(
            f"call: {args.seconds} s, raw {raw_mb:.2f} MB, FLAC {flac_size / 1e6:.2f} MB; "
            f"sox: {cpu_per_h:.1f} CPU-s per call-hour"
        )
        own = settings.model_copy(update={"recordings_store": work / "store"})
        app = create_app(own, ingest=False, database_url=db)
        token = await provision_user(db, "ship-bench", Role.OPS, label="bench")
        async with app.router.lifespan_context(app):
            config = uvicorn.Config(
                app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            for _ in range(1000):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"
            spool = work / "spool"
            try:
                fill_spool(spool, args.files, audio, 1_790_000_000)
                seconds, shipper = await asyncio.to_thread(ship_all, url, token, spool)
                total_mb = shipper.stats.bytes / 1e6
                call_h = args.files * args.seconds / 3600
                print(
                    f"end to end: {shipper.stats.shipped} files in {seconds:.2f} s = "
                    f"{shipper.stats.shipped / seconds:.1f} files/s, {total_mb / seconds:.1f} "
                    f"MB/s raw, {call_h / seconds * 3600:,.0f} call-hours per hour"
                )
                fill_spool(spool, args.files, audio, 1_790_000_000)  # the same names again
                seconds, shipper = await asyncio.to_thread(ship_all, url, token, spool)
                print(
                    f"replays (already stored, transfer + hashes only): "
                    f"{shipper.stats.replays} files in {seconds:.2f} s = "
                    f"{shipper.stats.bytes / 1e6 / seconds:.1f} MB/s raw"
                )
                big = spool / "1790000001.1+hotline+12345+1001+1790000001.2.done"
                block = audio * max(1, (8 << 20) // len(audio))
                with big.open("wb") as out:
                    while out.tell() < args.big_mb * 1_000_000:
                        out.write(block)
                big_mb = big.stat().st_size / 1e6
                digest = hashlib.sha256(big.read_bytes()).hexdigest()
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                seconds, shipper = await asyncio.to_thread(ship_all, url, token, spool)
                rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(
                    f"one large file: {big_mb:.0f} MB raw ({big_mb / 115.2:.1f} call-hours) "
                    f"in {seconds:.1f} s; peak RSS {rss_before:.0f} -> {rss_after:.0f} MB "
                    f"(+{rss_after - rss_before:.0f} MB); sha {digest[:12]}"
                )
            finally:
                server.should_exit = True
                await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=240, help="length of each call")
    parser.add_argument("--big-mb", type=int, default=300, help="raw MB of the large file")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    settings = Settings()
    server_url = args.database_url or resolve_database_url(settings)
    with tempfile.TemporaryDirectory() as tmp, scratch_database(server_url, "shipbench") as db:
        asyncio.run(run(args, settings, db, Path(tmp)))


if __name__ == "__main__":
    main()

"""``callctl recordings scan|expire|scrub|backup|restore-drill``."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn, resolve_database_url
from callctl.nodes import load_nodes
from callctl.settings import Settings
from recording.backup import backup, restore_drill
from recording.collector import Collector, register_kept
from recording.retention import expire, scrub


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def _with_pool(settings: Settings, run: Callable[[asyncpg.Pool], Awaitable[int]]) -> int:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(resolve_database_url(settings)), min_size=1, max_size=2
    )
    try:
        return await run(pool)
    finally:
        await pool.close()


def _scan(args: argparse.Namespace, settings: Settings) -> int:
    nodes = load_nodes(settings.nodes_file)
    spools = {n.node_id: n.recordings_dir for n in nodes.nodes if n.recordings_dir is not None}

    async def run(pool: asyncpg.Pool) -> int:
        collector = Collector(
            pool, settings.recordings_root, spools, orphan_after_s=args.orphan_after_s
        )
        if args.store:
            added = await register_kept(pool, settings.recordings_root)
            print(f"kept files registered again: {added}")
        report = await collector.scan_once()
        print(
            f"collected {report.collected}, linked {report.linked}, "
            f"still recording {report.in_progress}, failed {len(report.failed)}"
        )
        return 1 if report.failed else 0

    return asyncio.run(_with_pool(settings, run))


def _expire(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: asyncpg.Pool) -> int:
        deleted = await expire(pool, settings.recordings_root, args.now or datetime.now(UTC))
        for d in deleted:
            print(f"deleted {d.recording_id} (expired {d.expires_at.isoformat()}) {d.location}")
        print(f"{len(deleted)} recordings deleted")
        return 0

    return asyncio.run(_with_pool(settings, run))


def _scrub(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: asyncpg.Pool) -> int:
        report = await scrub(pool, settings.recordings_root, sample=args.sample)
        print(
            f"checked {report.checked}; mismatched {report.mismatched or 'none'}; "
            f"missing {report.missing or 'none'}"
        )
        return 0 if report.ok else 1

    return asyncio.run(_with_pool(settings, run))


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: asyncpg.Pool) -> int:
        report = await backup(pool, settings.recordings_root, args.to, full=args.full)
        print(
            f"{'full' if args.full else 'incremental'} backup to {args.to}: copied "
            f"{report.copied} ({report.bytes_copied} bytes), unchanged {report.unchanged}, "
            f"failed {len(report.failed)}"
        )
        for location in report.failed:
            print(f"  failed: {location}")
        return 1 if report.failed else 0

    return asyncio.run(_with_pool(settings, run))


def _drill(args: argparse.Namespace, settings: Settings) -> int:
    async def run(pool: asyncpg.Pool) -> int:
        report = await restore_drill(pool, args.source)
        print(
            f"restore drill {args.source}: checked {report.checked}, missing "
            f"{len(report.missing)}, bad hash {len(report.bad_hash)}, undecodable "
            f"{len(report.undecodable)}: {'OK' if report.ok else 'FAILED'}"
        )
        return 0 if report.ok else 1

    return asyncio.run(_with_pool(settings, run))


def _ship(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import ssl
    import sys
    import threading

    from recording.shipper import (
        Backoff,
        HttpUploader,
        ShipConfigError,
        SpoolShipper,
        Target,
        read_token,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        target = Target.parse(args.to)
        token = read_token(args.token_file)
        context = None
        if target.scheme == "https":
            context = ssl.create_default_context(cafile=str(args.ca_file) if args.ca_file else None)
        uploader = HttpUploader(target, token, ssl_context=context, timeout_s=args.timeout_s)
        shipper = SpoolShipper(args.node, args.spool, uploader, orphan_after_s=args.orphan_after_s)
    except (ShipConfigError, OSError, ssl.SSLError) as exc:
        print(f"callctl recordings ship: {exc}", file=sys.stderr)
        return 2
    if target.scheme == "http" and target.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("recording").warning(
            "shipping to %s over plain HTTP: the token and the audio cross the network in clear",
            target.host,
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        shipper.run(stop, poll_s=args.poll_interval, backoff=Backoff(max_s=args.max_backoff_s))
    finally:
        uploader.close()
    s = shipper.stats
    print(
        f"shipped {s.shipped} recordings ({s.bytes} bytes, {s.replays} already stored), "
        f"{s.transient_failures} failed attempts, {s.refused} refused"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rec = sub.add_parser("recordings", help="recordings (录音): collect, expire, scrub, backup")
    rec_sub = rec.add_subparsers(dest="recordings_command", required=True)
    scan = rec_sub.add_parser(
        "scan", help="collect finished recordings from the nodes' spools and link them (reconcile)"
    )
    scan.add_argument("--orphan-after-s", type=float, default=4 * 3600 + 600)
    scan.add_argument(
        "--store", action="store_true", help="also register kept files that have no metadata"
    )
    scan.set_defaults(handler=_scan)
    exp = rec_sub.add_parser("expire", help="delete expired recordings (not held, not permanent)")
    exp.add_argument("--now", type=_when, default=None, help="ISO time (tests); default now")
    exp.set_defaults(handler=_expire)
    scr = rec_sub.add_parser("scrub", help="re-hash a random sample; exit 1 on any problem")
    scr.add_argument("--sample", type=int, default=100)
    scr.set_defaults(handler=_scrub)
    bak = rec_sub.add_parser("backup", help="copy recordings (incremental by hash, or --full)")
    bak.add_argument("--to", type=Path, required=True)
    bak.add_argument("--full", action="store_true")
    bak.set_defaults(handler=_backup)
    drill = rec_sub.add_parser("restore-drill", help="check a backup: present, hashes, decodes")
    drill.add_argument("--from", dest="source", type=Path, required=True)
    drill.set_defaults(handler=_drill)
    ship = rec_sub.add_parser(
        "ship",
        help="beside an Asterisk: send its finished recordings to callctl over HTTP(S)",
    )
    ship.add_argument("--node", required=True, help="this Asterisk node's id (nodes file)")
    ship.add_argument(
        "--spool", type=Path, required=True, help="its MixMonitor spool (.../monitor/callctl)"
    )
    ship.add_argument("--to", required=True, help="callctl's base URL, e.g. https://callctl:8345")
    ship.add_argument(
        "--token-file", type=Path, required=True, help="file holding an ops token of callctl"
    )
    ship.add_argument("--ca-file", type=Path, default=None, help="CA of callctl's certificate")
    ship.add_argument("--poll-interval", type=float, default=1.0, help="seconds between looks")
    ship.add_argument(
        "--max-backoff-s", type=float, default=60.0, help="longest wait between retries"
    )
    ship.add_argument("--timeout-s", type=float, default=300.0, help="per HTTP read/write")
    ship.add_argument(
        "--orphan-after-s",
        type=float,
        default=4 * 3600 + 600,
        help=".raw without an end marker (Asterisk died mid-call) shipped after this age",
    )
    ship.set_defaults(handler=_ship)
    logging.getLogger("recording").setLevel(logging.INFO)

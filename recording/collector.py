"""Collect finished recordings from the nodes' spools: convert, hash, store metadata.

The spool is the durable source, as queue_log is for call facts: a raw file stays
where MixMonitor left it until its FLAC is in the store and its metadata row is
committed, and only then is it removed (with its end marker). So a scan after
callctl (or PostgreSQL) was down finds every recording it missed, and a scan repeated
after a crash anywhere in between converts the same file to the same place and writes
the same row again (``ON CONFLICT``). Which files are finished is ``recording.spool``'s
call: ended (marker settled, or renamed ``.done``), or orphaned after
``orphan_after_s`` (Asterisk died during the call) and collected as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from recording.audio import (
    CODEC,
    RAW_CHANNELS,
    RAW_RATE,
    ConversionError,
    sha256_file,
    sox_binary,
)
from recording.naming import KEPT_SUFFIX, NODE_ID, RawName, parse_stem
from recording.qa_sampling import sample_recordings
from recording.repository import (
    RecordingRow,
    link_entries,
    upsert_recording,
    upsert_recordings,
)
from recording.spool import SpoolFile, remove_stale_markers, scan_spool
from recording.store import convert_into_store, sweep_incoming
from recording.survey_keys import DissatisfiedKeys, no_surveys

log = logging.getLogger(__name__)
# A file or the database not there right now: the next scan retries.
DB_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
COMMIT_EVERY = 50
"""Recordings stored per transaction: one commit for a scan's worth at 20 calls/s, while
a spool that filled up while callctl was down is not held back until all of it is in."""


@dataclass
class ScanReport:
    collected: int = 0
    linked: int = 0
    failed: list[str] = field(default_factory=list)
    in_progress: int = 0
    sampled: int = 0


class Collector:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: Path,
        spools: Mapping[str, Path],
        *,
        orphan_after_s: float = 4 * 3600 + 600,
        source: str = "scan",
        link_within: timedelta | None = None,
        dissatisfied_keys: DissatisfiedKeys = no_surveys,
    ) -> None:
        self._pool = pool
        self._store = store
        self._spools = dict(spools)
        self._orphan_after_s = orphan_after_s
        self._source = source
        self._link_within = link_within
        self._dissatisfied_keys = dissatisfied_keys

    async def scan_once(self) -> ScanReport:
        report = ScanReport()
        await asyncio.to_thread(sweep_incoming, self._store, now=time.time())
        for node, spool in self._spools.items():
            scan = await asyncio.to_thread(
                scan_spool, node, spool, now=time.time(), orphan_after_s=self._orphan_after_s
            )
            report.in_progress += scan.busy
            await asyncio.to_thread(remove_stale_markers, scan)
            for start in range(0, len(scan.ready), COMMIT_EVERY):
                await self._collect_batch(scan.ready[start : start + COMMIT_EVERY], report)
        by_line = await self._dissatisfied_keys()
        async with self._pool.acquire() as conn, conn.transaction():
            report.linked = await link_entries(conn, self._link_within)
            report.sampled = len(await sample_recordings(conn, dissatisfied_by_line=by_line))
        return report

    async def _collect_batch(self, spool_files: list[SpoolFile], report: ScanReport) -> None:
        """Convert each file, store their rows in one transaction, then remove them from
        the spool: a file whose conversion or row failed stays for the next scan."""
        converted: list[tuple[SpoolFile, RecordingRow]] = []
        for spool_file in spool_files:
            name = parse_stem(spool_file.stem)
            try:
                row = await asyncio.to_thread(self._convert, spool_file, name)
            except (ConversionError, *DB_DOWN) as exc:
                log.warning("recording %s not collected yet: %s", spool_file.path.name, exc)
                report.failed.append(spool_file.path.name)
                continue
            converted.append((spool_file, row))
        if not converted:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await upsert_recordings(conn, [row for _, row in converted])
        except DB_DOWN as exc:
            for spool_file, _ in converted:
                log.warning("recording %s not collected yet: %s", spool_file.path.name, exc)
                report.failed.append(spool_file.path.name)
            return
        await asyncio.to_thread(_remove_all, [spool_file for spool_file, _ in converted])
        report.collected += len(converted)

    def _convert(self, spool_file: SpoolFile, name: RawName) -> RecordingRow:
        """The file converted into the store, and its row (blocks: a worker thread's)."""
        row, _ = convert_into_store(
            self._store,
            spool_file.node,
            name,
            spool_file.path,
            mtime=spool_file.path.stat().st_mtime,
            source=self._source,
        )
        return row


def _remove_all(spool_files: list[SpoolFile]) -> None:
    for spool_file in spool_files:
        spool_file.remove()


async def flac_duration_s(path: Path) -> float:
    proc = await asyncio.create_subprocess_exec(
        sox_binary(),
        "--i",
        "-D",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise ConversionError(f"sox cannot read {path.name}")
    return float(out.decode().strip())


def kept_files(store: Path) -> list[tuple[str, Path]]:
    """(node, path) of every kept recording in the store."""
    found: list[tuple[str, Path]] = []
    if not store.is_dir():
        return found
    for node_dir in sorted(store.iterdir()):
        if node_dir.is_dir() and NODE_ID.fullmatch(node_dir.name):
            found.extend((node_dir.name, p) for p in sorted(node_dir.glob("*/*/*/*" + KEPT_SUFFIX)))
    return found


async def register_kept(pool: asyncpg.Pool, store: Path) -> int:
    """Metadata for kept files that have none (the database restored from an older
    backup, say): read back from the file, its name and its time. How many were added."""
    added = 0
    files = await asyncio.to_thread(kept_files, store)
    async with pool.acquire() as conn:
        known = {
            (r["node"], r["file_key"])
            for r in await conn.fetch("SELECT node, file_key FROM recordings")
        }
    for node, path in files:
        stem = path.name.removesuffix(KEPT_SUFFIX)
        if (node, stem) in known:
            continue
        name = parse_stem(stem)
        duration = await flac_duration_s(path)
        st = await asyncio.to_thread(path.stat)
        started_at = datetime.fromtimestamp(st.st_mtime, UTC) - timedelta(seconds=duration)
        row = RecordingRow(
            node=node,
            file_key=stem,
            callid=name.callid,
            queue=name.queue,
            line=name.line,
            agent=name.agent,
            agent_uniqueid=name.agent_uniqueid,
            started_at=started_at,
            duration_s=duration,
            channels=RAW_CHANNELS,
            sample_rate=RAW_RATE,
            codec=CODEC,
            size_bytes=st.st_size,
            sha256=await asyncio.to_thread(sha256_file, path),
            location=str(path.relative_to(store)),
            source="scan",
        )
        async with pool.acquire() as conn, conn.transaction():
            await upsert_recording(conn, row)
        added += 1
    return added


class CollectorTask:
    """Scans every ``interval_s`` in its own task; failures are logged, never fatal."""

    def __init__(self, collector: Collector, interval_s: float) -> None:
        self._collector = collector
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recording-collector")

    def nudge(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await self._collector.scan_once()
                if report.collected or report.linked:
                    log.info("recordings: %d collected, %d linked", report.collected, report.linked)
            except DB_DOWN as exc:
                log.warning("recording scan failed (retrying): %s", exc)
            except Exception:  # never let one bad scan stop collecting: log it, go on
                log.exception("recording scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            self._wake.clear()

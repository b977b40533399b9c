"""One raw MixMonitor file into the store: convert, hash, write its metadata row.

The one path every recording takes, whether callctl read it from a spool it sees
(``collector``) or a node's shipper delivered it over HTTP (``upload_api``): the same
sox conversion (stereo FLAC, caller on channel 1, agent on channel 2), the same place
in the store, the same idempotent upsert on ``(node, file_key)``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from recording.audio import Converted, convert_blocking, raw_duration_s
from recording.naming import RawName, kept_location
from recording.repository import RecordingRow, upsert_recording, write_audit

INCOMING = ".incoming"
"""The store's directory for uploads being received (not a node id: never listed as kept)."""
INCOMING_MAX_AGE_S = 3600.0


def sweep_incoming(store: Path, *, now: float, max_age_s: float = INCOMING_MAX_AGE_S) -> int:
    """Remove uploads left half-received (callctl killed during one): files in
    ``.incoming`` not written for ``max_age_s``; an upload under way writes every moment.
    How many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(store / INCOMING))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.is_file() and now - entry.stat().st_mtime > max_age_s:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass(frozen=True, slots=True)
class IngestAudit:
    """Who delivered a shipped recording, for its ``ingest`` audit row."""

    actor: str
    actor_role: str
    remote_addr: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stored:
    recording_id: int | None
    """None: a recording of that name was stored and deleted (expired) already."""
    converted: Converted
    location: str
    started_at: datetime


def started_at_of(mtime: float, raw_size: int) -> datetime:
    """MixMonitor's last write (a rename keeps it) less the recording's length."""
    return datetime.fromtimestamp(mtime, UTC) - timedelta(seconds=raw_duration_s(raw_size))


def convert_into_store(
    store: Path,
    node: str,
    name: RawName,
    raw: Path,
    *,
    mtime: float,
    source: str,
    raw_sha256: str | None = None,
) -> tuple[RecordingRow, Converted]:
    """Convert ``raw`` to its kept place in ``store`` (file times from ``mtime``): the
    row to upsert for it. Blocks (sox, fsync, hashing): run it in a worker thread."""
    started_at = started_at_of(mtime, raw.stat().st_size)
    location = kept_location(node, name, started_at)
    target = store / location
    converted = convert_blocking(raw, target)
    os.utime(target, (mtime, mtime))
    row = RecordingRow(
        node=node,
        file_key=name.file_key,
        callid=name.callid,
        queue=name.queue,
        line=name.line,
        agent=name.agent,
        agent_uniqueid=name.agent_uniqueid,
        started_at=started_at,
        duration_s=converted.duration_s,
        channels=converted.channels,
        sample_rate=converted.sample_rate,
        codec=converted.codec,
        size_bytes=converted.size_bytes,
        sha256=converted.sha256,
        location=str(location),
        source=source,
        raw_sha256=raw_sha256,
    )
    return row, converted


async def store_raw(
    pool: asyncpg.Pool,
    store: Path,
    node: str,
    name: RawName,
    raw: Path,
    *,
    mtime: float,
    source: str,
    raw_sha256: str | None = None,
    audit: IngestAudit | None = None,
) -> Stored:
    """Convert ``raw`` into the store and upsert its row (with an ``ingest`` audit row in
    the same transaction when ``audit`` is given and the row is live). The raw file is
    left where it is: its owner removes it once this returned."""
    row, converted = await asyncio.to_thread(
        convert_into_store,
        store,
        node,
        name,
        raw,
        mtime=mtime,
        source=source,
        raw_sha256=raw_sha256,
    )
    async with pool.acquire() as conn, conn.transaction():
        recording_id = await upsert_recording(conn, row)
        if audit is not None and recording_id is not None:
            await write_audit(
                conn,
                actor=audit.actor,
                actor_role=audit.actor_role,
                action="ingest",
                recording_id=recording_id,
                remote_addr=audit.remote_addr,
                detail=audit.detail,
            )
    return Stored(recording_id, converted, row.location, row.started_at)

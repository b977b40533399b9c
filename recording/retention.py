"""Retention (保存期限): delete expired recordings unless held or permanent; scrub.

A deletion is committed first (``deleted_at`` and an audit row by
``system:retention`` in one transaction) and the file removed after: a crash in
between leaves a file the next run removes, never a row pointing at nothing that
claims to be there. Each deletion is logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from recording.audio import sha256_file
from recording.naming import is_safe_location
from recording.repository import write_audit

log = logging.getLogger(__name__)
RETENTION_ACTOR = "system:retention"


@dataclass(frozen=True, slots=True)
class Deleted:
    recording_id: int
    location: str
    expires_at: datetime


_DUE = """
SELECT id, location, expires_at FROM recordings
WHERE deleted_at IS NULL AND expires_at <= $1 AND NOT legal_hold AND NOT permanent
ORDER BY expires_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""


def _remove(store: Path, location: str) -> None:
    if is_safe_location(location):
        (store / location).unlink(missing_ok=True)


async def expire(
    pool: asyncpg.Pool, store: Path, now: datetime, *, batch: int = 500
) -> list[Deleted]:
    """Delete every recording expired at ``now`` (not held, not permanent)."""
    deleted: list[Deleted] = []
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_DUE, now, batch)
            for row in rows:
                await conn.execute(
                    "UPDATE recordings SET deleted_at = $2 WHERE id = $1", row["id"], now
                )
                await write_audit(
                    conn,
                    actor=RETENTION_ACTOR,
                    actor_role="system",
                    action="delete",
                    recording_id=row["id"],
                    remote_addr=None,
                    detail={"expires_at": row["expires_at"].isoformat(), "reason": "expired"},
                )
        for row in rows:
            await asyncio.to_thread(_remove, store, row["location"])
            log.info(
                "recording %d deleted: expired %s (%s)",
                row["id"],
                row["expires_at"].isoformat(),
                row["location"],
            )
            deleted.append(Deleted(row["id"], row["location"], row["expires_at"]))
        if len(rows) < batch:
            return deleted


@dataclass
class ScrubReport:
    checked: int = 0
    mismatched: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing


def _check(store: Path, location: str, sha256: str) -> str:
    """``ok``, ``missing`` or ``mismatch``."""
    if not is_safe_location(location):
        return "missing"
    path = store / location
    try:
        return "ok" if sha256_file(path) == sha256 else "mismatch"
    except FileNotFoundError:
        return "missing"


async def scrub(pool: asyncpg.Pool, store: Path, *, sample: int) -> ScrubReport:
    """Re-hash ``sample`` kept recordings picked at random (by PostgreSQL: years of
    recordings are not fetched to pick a hundred); report mismatches and missing files
    (each also logged as an error)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, location, sha256 FROM recordings WHERE deleted_at IS NULL"
            " ORDER BY random() LIMIT $1",
            sample,
        )
    report = ScrubReport()
    for row in sorted(rows, key=lambda r: r["id"]):
        result = await asyncio.to_thread(_check, store, row["location"], row["sha256"])
        report.checked += 1
        if result == "mismatch":
            log.error("recording %d: hash mismatch (%s)", row["id"], row["location"])
            report.mismatched.append(row["id"])
        elif result == "missing":
            log.error("recording %d: file missing (%s)", row["id"], row["location"])
            report.missing.append(row["id"])
    return report

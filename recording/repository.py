"""Recording metadata in PostgreSQL: idempotent writes, the link to queue entries,
retention, holds, the audit trail. Functions take a connection; the caller owns the
transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

DEFAULT_CLASS = "standard"


@dataclass(frozen=True, slots=True)
class RecordingRow:
    node: str
    file_key: str
    callid: str
    queue: str
    line: str | None
    agent: str | None
    agent_uniqueid: str
    started_at: datetime
    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    size_bytes: int
    sha256: str
    location: str
    source: str
    raw_sha256: str | None = None
    """The raw MixMonitor file's SHA-256, when it was taken (shipped recordings)."""


_UPSERT = """
WITH retention AS (
    SELECT c.name, c.days
    FROM recording_retention_classes c
    WHERE c.name = COALESCE(
        (SELECT class FROM recording_line_retention WHERE line = $5), $17)
)
INSERT INTO recordings (
    node, file_key, callid, queue, line, agent, agent_uniqueid, started_at, duration_s,
    channels, sample_rate, codec, size_bytes, sha256, location, source,
    retention_class, expires_at, raw_sha256)
SELECT $1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9, $10, $11, $12, $13, $14, $15, $16,
       retention.name, $8::timestamptz + make_interval(days => retention.days), $18
FROM retention
ON CONFLICT (node, file_key) DO UPDATE SET
    duration_s = EXCLUDED.duration_s,
    size_bytes = EXCLUDED.size_bytes,
    sha256 = EXCLUDED.sha256,
    location = EXCLUDED.location,
    raw_sha256 = COALESCE(EXCLUDED.raw_sha256, recordings.raw_sha256)
WHERE recordings.deleted_at IS NULL
RETURNING id
"""


def _upsert_args(row: RecordingRow) -> tuple[Any, ...]:
    return (
        row.node,
        row.file_key,
        row.callid,
        row.queue,
        row.line,
        row.agent,
        row.agent_uniqueid,
        row.started_at,
        row.duration_s,
        row.channels,
        row.sample_rate,
        row.codec,
        row.size_bytes,
        row.sha256,
        row.location,
        row.source,
        DEFAULT_CLASS,
        row.raw_sha256,
    )


async def upsert_recording(conn: asyncpg.Connection, row: RecordingRow) -> int | None:
    """Insert or refresh a recording's file facts (never its hold, permanence or
    deletion); its id, or None when it was deleted already."""
    value: int | None = await conn.fetchval(_UPSERT, *_upsert_args(row))
    return value


async def upsert_recordings(conn: asyncpg.Connection, rows: Sequence[RecordingRow]) -> None:
    """:func:`upsert_recording` for each row, sent as one pipelined batch."""
    if rows:
        await conn.executemany(_UPSERT, [_upsert_args(row) for row in rows])


_LINK = """
UPDATE recordings r SET seq = m.seq, line = COALESCE(r.line, m.line)
FROM (
    -- One recording per entry, also within this statement: of several unlinked
    -- recordings that would take one entry, the nearest takes it, the others wait.
    SELECT DISTINCT ON (u.node, u.callid, u.queue, e.seq) u.id, e.seq, e.line
    FROM recordings u
    CROSS JOIN LATERAL (
        SELECT q.seq, q.line, abs(extract(epoch FROM
                     COALESCE(q.ended_wait_at, q.entered_at) - u.started_at)) AS distance
        FROM queue_entries q
        WHERE q.node = u.node AND q.callid = u.callid AND q.queue = u.queue
          AND q.outcome IN ('answered', 'transfer')
          AND (u.agent IS NULL OR q.agent IS NULL
               OR q.agent = u.agent OR q.agent = 'PJSIP/' || u.agent)
          -- an entry that ended before the recording began is not its own (the start
          -- is the end less the audio's length: never later than the true start's end)
          AND (q.completed_at IS NULL OR q.completed_at >= u.started_at - interval '30 s')
          -- an entry another recording is linked to is not this one's: a recording
          -- whose own entry is not stored yet waits for it (a later scan)
          AND NOT EXISTS (
              SELECT 1 FROM recordings o
              WHERE o.node = q.node AND o.callid = q.callid AND o.queue = q.queue
                AND o.seq = q.seq AND o.id <> u.id)
        ORDER BY distance
        LIMIT 1
    ) e
    WHERE u.seq IS NULL AND ($1::interval IS NULL OR u.created_at > now() - $1::interval)
    ORDER BY u.node, u.callid, u.queue, e.seq, e.distance
) m
WHERE r.id = m.id
"""


async def link_entries(conn: asyncpg.Connection, within: timedelta | None = None) -> int:
    """Link recordings not yet linked to their answered queue entry (the one of the
    same call, queue and agent answered nearest the recording's start, and not the
    entry of another recording: one recording per entry); only those
    stored ``within`` that long ago, when given (the periodic scan: a recording whose
    entry never comes is not looked at for ever)."""
    status: str = await conn.execute(_LINK, within)
    return int(status.split()[-1])


async def known_keys(conn: asyncpg.Connection, node: str) -> set[str]:
    rows = await conn.fetch("SELECT file_key FROM recordings WHERE node = $1", node)
    return {r["file_key"] for r in rows}


async def write_audit(
    conn: asyncpg.Connection,
    *,
    actor: str,
    actor_role: str,
    action: str,
    recording_id: int,
    remote_addr: str | None,
    detail: dict[str, Any] | None = None,
) -> int:
    value: int = await conn.fetchval(
        "INSERT INTO recording_audit (actor, actor_role, action, recording_id, remote_addr,"
        " detail) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id",
        actor,
        actor_role,
        action,
        recording_id,
        remote_addr,
        json.dumps(detail or {}, ensure_ascii=False),
    )
    return value

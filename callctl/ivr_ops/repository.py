"""Queries of the IVR's stored facts: messages (callback tasks) and call paths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callctl.db_types import Queryable
from callctl.facts.ivr import MESSAGE_SOURCE

_MESSAGES = """
SELECT id, source_ref, line, number, created_at, recording_path, status
FROM callback_tasks
WHERE source = $1 AND created_at >= $2 AND created_at < $3
ORDER BY created_at DESC, id DESC
LIMIT $4
"""

_PATH = """
SELECT step, line, flow, ivr_node, kind, digit, outcome, at, since_start_s
FROM ivr_steps WHERE node = $1 AND callid = $2 ORDER BY step
"""


async def messages(
    conn: Queryable, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(_MESSAGES, MESSAGE_SOURCE, start, end, limit)
    return [dict(r) for r in rows]


async def call_path(conn: Queryable, node: str, callid: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(_PATH, node, callid)]

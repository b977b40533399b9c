"""Queries of call control: the call a command acts on, the monitoring audit, transfers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callctl.db_types import Pool, Queryable


@dataclass(frozen=True, slots=True)
class ConnectedEntry:
    """The queue entry of a call that an agent is talking on now (per the facts)."""

    queue: str
    seq: int
    agent: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class CallState:
    known: bool
    connected: ConnectedEntry | None


async def call_state(pool: Pool, node: str, callid: str) -> CallState:
    """Whether the call is known, and its answered entry still in talk, if any."""
    rows = await pool.fetch(
        "SELECT e.queue, e.seq, e.agent, e.outcome, e.completed_at, "
        "       COALESCE(e.linkedid, e.callid) AS linkedid, c.ended_at AS call_ended "
        "FROM queue_entries e LEFT JOIN calls c "
        "  ON c.node = e.node AND c.linkedid = COALESCE(e.linkedid, e.callid) "
        "WHERE e.node = $1 AND (e.callid = $2 OR e.linkedid = $2) "
        "ORDER BY e.entered_at DESC, e.seq DESC",
        node,
        callid,
    )
    if not rows:
        return CallState(known=False, connected=None)
    for row in rows:
        talking = row["outcome"] == "answered" and row["completed_at"] is None
        if talking and row["agent"] and row["call_ended"] is None:
            return CallState(
                True, ConnectedEntry(row["queue"], row["seq"], row["agent"], row["linkedid"])
            )
    return CallState(known=True, connected=None)


async def open_monitor(
    conn: Queryable,
    *,
    user_id: int,
    username: str,
    node: str,
    callid: str,
    agent: str,
    agent_channel: str,
    mode: str,
    endpoint: str,
    spy_uniqueid: str,
) -> int:
    session_id: int = await conn.fetchval(
        "INSERT INTO monitor_sessions (user_id, username, node, callid, agent, agent_channel, "
        "mode, endpoint, spy_uniqueid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        user_id,
        username,
        node,
        callid,
        agent,
        agent_channel,
        mode,
        endpoint,
        spy_uniqueid,
    )
    return session_id


async def close_monitor(pool: Pool, spy_uniqueid: str, reason: str) -> None:
    await pool.execute(
        "UPDATE monitor_sessions SET ended_at = now(), end_reason = $2 "
        "WHERE spy_uniqueid = $1 AND ended_at IS NULL",
        spy_uniqueid,
        reason,
    )


async def open_monitors_of(pool: Pool, user_id: int, node: str, callid: str) -> list[str]:
    """Spy channel ids of ``user_id``'s sessions on this call that have not ended."""
    rows = await pool.fetch(
        "SELECT spy_uniqueid FROM monitor_sessions "
        "WHERE user_id = $1 AND node = $2 AND callid = $3 AND ended_at IS NULL",
        user_id,
        node,
        callid,
    )
    return [r["spy_uniqueid"] for r in rows]


async def active_monitors(pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, username, node, callid, agent, mode, endpoint, started_at "
        "FROM monitor_sessions WHERE ended_at IS NULL ORDER BY started_at"
    )
    return [dict(r) for r in rows]


async def monitor_session(pool: Pool, session_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM monitor_sessions WHERE id = $1", session_id)
    return None if row is None else dict(row)


async def record_transfer(
    pool: Pool,
    *,
    node: str,
    callid: str,
    entry: ConnectedEntry,
    kind: str,
    target_kind: str,
    target: str,
    requested_by: int,
) -> int:
    transfer_id: int = await pool.fetchval(
        "INSERT INTO call_transfers (node, callid, queue, seq, agent, kind, target_kind, "
        "target, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        node,
        callid,
        entry.queue,
        entry.seq,
        entry.agent,
        kind,
        target_kind,
        target,
        requested_by,
    )
    return transfer_id


async def open_conference_of(pool: Pool, node: str, callid: str) -> int | None:
    """The id of a three-way call on this call that has not ended, if any."""
    found: int | None = await pool.fetchval(
        "SELECT id FROM call_conferences WHERE node = $1 AND callid = $2 AND ended_at IS NULL",
        node,
        callid,
    )
    return found


async def open_conference(
    conn: Queryable,
    *,
    node: str,
    callid: str,
    entry: ConnectedEntry,
    target_kind: str,
    target: str,
    requested_by: int,
    username: str,
) -> int:
    """A conference's audit row; its ConfBridge name is made from the id it gets."""
    conference_id: int = await conn.fetchval(
        "INSERT INTO call_conferences (node, callid, queue, seq, agent, target_kind, target, "
        "requested_by, username) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        node,
        callid,
        entry.queue,
        entry.seq,
        entry.agent,
        target_kind,
        target,
        requested_by,
        username,
    )
    await conn.execute(
        "UPDATE call_conferences SET conference = 'callctl-conf-' || id::text WHERE id = $1",
        conference_id,
    )
    return conference_id


async def close_conference(pool: Pool, conference_id: int, reason: str, at: datetime) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE call_conferences SET ended_at = $2, end_reason = $3 "
            "WHERE id = $1 AND ended_at IS NULL",
            conference_id,
            at,
            reason,
        )
        await conn.execute(
            "UPDATE call_conference_members SET left_at = $2 "
            "WHERE conference_id = $1 AND left_at IS NULL",
            conference_id,
            at,
        )


async def conference_joined(
    pool: Pool, conference_id: int, uniqueid: str, channel: str, role: str, at: datetime
) -> None:
    await pool.execute(
        "INSERT INTO call_conference_members (conference_id, uniqueid, channel, role, joined_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conference_id, uniqueid) DO NOTHING",
        conference_id,
        uniqueid,
        channel,
        role,
        at,
    )


async def conference_left(pool: Pool, conference_id: int, uniqueid: str, at: datetime) -> None:
    await pool.execute(
        "UPDATE call_conference_members SET left_at = $3 "
        "WHERE conference_id = $1 AND uniqueid = $2 AND left_at IS NULL",
        conference_id,
        uniqueid,
        at,
    )


async def conference(pool: Pool, conference_id: int) -> dict[str, Any] | None:
    """A conference's audit row and its members (for ``GET .../conferences/{id}``)."""
    row = await pool.fetchrow("SELECT * FROM call_conferences WHERE id = $1", conference_id)
    if row is None:
        return None
    members = await pool.fetch(
        "SELECT uniqueid, channel, role, joined_at, left_at FROM call_conference_members "
        "WHERE conference_id = $1 ORDER BY joined_at, uniqueid",
        conference_id,
    )
    return {**dict(row), "members": [dict(m) for m in members]}

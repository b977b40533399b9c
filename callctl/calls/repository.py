"""Queries of call control: the call a command acts on, the monitoring audit, transfers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


async def call_state(pool: Any, node: str, callid: str) -> CallState:
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
    conn: Any,
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


async def close_monitor(pool: Any, spy_uniqueid: str, reason: str) -> None:
    await pool.execute(
        "UPDATE monitor_sessions SET ended_at = now(), end_reason = $2 "
        "WHERE spy_uniqueid = $1 AND ended_at IS NULL",
        spy_uniqueid,
        reason,
    )


async def open_monitors_of(pool: Any, user_id: int, node: str, callid: str) -> list[str]:
    """Spy channel ids of ``user_id``'s sessions on this call that have not ended."""
    rows = await pool.fetch(
        "SELECT spy_uniqueid FROM monitor_sessions "
        "WHERE user_id = $1 AND node = $2 AND callid = $3 AND ended_at IS NULL",
        user_id,
        node,
        callid,
    )
    return [r["spy_uniqueid"] for r in rows]


async def active_monitors(pool: Any) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, username, node, callid, agent, mode, endpoint, started_at "
        "FROM monitor_sessions WHERE ended_at IS NULL ORDER BY started_at"
    )
    return [dict(r) for r in rows]


async def monitor_session(pool: Any, session_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM monitor_sessions WHERE id = $1", session_id)
    return None if row is None else dict(row)


async def record_transfer(
    pool: Any,
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

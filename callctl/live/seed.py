"""Today's stored facts, to seed the live state at start (the database edge)."""

from __future__ import annotations

from typing import Any

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.facts.models import AcwEnd, AcwInterval, Fact, HangupSide, QueueEntryFact
from callctl.live.window import DayWindow
from kpi.outcome import Outcome

_ENTRIES = """
SELECT node, callid, queue, seq,
       floor(extract(epoch FROM entered_at))::bigint AS entered_at,
       caller_num, position, outcome,
       floor(extract(epoch FROM ended_wait_at))::bigint AS ended_wait_at,
       wait_s, agent, ring_attempts, talk_s, hangup_side,
       floor(extract(epoch FROM completed_at))::bigint AS completed_at
FROM queue_entries
WHERE entered_at >= to_timestamp($1) AND entered_at < to_timestamp($2)
"""
_ACW = """
SELECT node, agent,
       floor(extract(epoch FROM started_at))::bigint AS started_at,
       floor(extract(epoch FROM ended_at))::bigint AS ended_at,
       ended_by, callid, queue, seq
FROM acw_intervals
WHERE started_at >= to_timestamp($1)
"""


def _entry(row: Any) -> QueueEntryFact:
    return QueueEntryFact(
        node=row["node"],
        callid=row["callid"],
        queue=row["queue"],
        seq=row["seq"],
        entered_at=row["entered_at"],
        caller_num=row["caller_num"],
        position=row["position"],
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        ended_wait_at=row["ended_wait_at"],
        wait_s=row["wait_s"],
        agent=row["agent"],
        ring_attempts=row["ring_attempts"],
        talk_s=row["talk_s"],
        hangup_side=None if row["hangup_side"] is None else HangupSide(row["hangup_side"]),
        completed_at=row["completed_at"],
    )


def _acw(row: Any) -> AcwInterval:
    return AcwInterval(
        node=row["node"],
        agent=row["agent"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        ended_by=None if row["ended_by"] is None else AcwEnd(row["ended_by"]),
        callid=row["callid"],
        queue=row["queue"],
        seq=row["seq"],
    )


async def load_today(database_url: str, window: DayWindow, timeout_s: float = 5.0) -> list[Fact]:
    """Queue entries that entered in ``window`` and ACW intervals that started in it."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=timeout_s)
    try:
        entries = await conn.fetch(_ENTRIES, window.start, window.end, timeout=timeout_s)
        acws = await conn.fetch(_ACW, window.start, timeout=timeout_s)
    finally:
        await conn.close()
    return [*(_entry(row) for row in entries), *(_acw(row) for row in acws)]

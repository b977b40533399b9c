"""Today's stored facts, to seed the live state at start (the database edge)."""

from __future__ import annotations

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.facts.models import Fact
from callctl.ingest.stored import ACW_COLUMNS, ENTRY_COLUMNS, acw_from_row, entry_from_row
from callctl.live.window import DayWindow

_ENTRIES = f"""
SELECT {ENTRY_COLUMNS}
FROM queue_entries
WHERE entered_at >= to_timestamp($1) AND entered_at < to_timestamp($2)
"""
_ACW = f"""
SELECT {ACW_COLUMNS}
FROM acw_intervals
WHERE started_at >= to_timestamp($1)
"""


async def load_today(database_url: str, window: DayWindow, timeout_s: float = 5.0) -> list[Fact]:
    """Queue entries that entered in ``window`` and ACW intervals that started in it."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=timeout_s)
    try:
        entries = await conn.fetch(_ENTRIES, window.start, window.end, timeout=timeout_s)
        acws = await conn.fetch(_ACW, window.start, timeout=timeout_s)
    finally:
        await conn.close()
    return [*(entry_from_row(row) for row in entries), *(acw_from_row(row) for row in acws)]

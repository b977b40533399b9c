"""Today's stored facts, to seed the live state at start (the database edge)."""

from __future__ import annotations

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.facts.models import Fact, SurveyAnswerFact
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
_SURVEYS = """
SELECT s.node, s.callid, s.queue, s.seq, s.answer::integer AS answer,
       extract(epoch FROM s.answered_at)::bigint AS answered_at, s.agent
FROM survey_answers s
WHERE s.answered_at >= to_timestamp($1)
"""


async def load_today(database_url: str, window: DayWindow, timeout_s: float = 5.0) -> list[Fact]:
    """Queue entries that entered in ``window``, ACW intervals and survey answers of it."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=timeout_s)
    try:
        entries = await conn.fetch(_ENTRIES, window.start, window.end, timeout=timeout_s)
        acws = await conn.fetch(_ACW, window.start, timeout=timeout_s)
        surveys = await conn.fetch(_SURVEYS, window.start, timeout=timeout_s)
    finally:
        await conn.close()
    return [
        *(entry_from_row(row) for row in entries),
        *(acw_from_row(row) for row in acws),
        *(SurveyAnswerFact(**dict(row)) for row in surveys),
    ]

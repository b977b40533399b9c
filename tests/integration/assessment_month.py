"""A generated month of queue entries for the assessment and report tests.

Written the way ``benchmarks/bench_kpi_month.py`` writes one (rows inserted into
``queue_entries``, fact triggers on), in a month and line of its own, with calls that
time out of queue ``q1`` and are answered in the overflow queue ``q2``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from callctl.db import asyncpg_dsn

TZ = ZoneInfo("Asia/Shanghai")

INSERT_ENTRY = """
INSERT INTO queue_entries (node, callid, queue, seq, line, entered_at, outcome, wait_s,
                           ended_wait_at, agent, ring_attempts, talk_s, hangup_side,
                           completed_at, source)
VALUES ($1, $2, $3, 1, $4, $5::timestamptz, $6, $7::int,
        $5::timestamptz + $7::int * interval '1 second', $8,
        CASE WHEN $6 = 'answered' THEN 1 ELSE 0 END, $9::int,
        CASE WHEN $6 = 'answered' THEN 'caller' END,
        CASE WHEN $6 = 'answered'
             THEN $5::timestamptz + ($7::int + $9::int) * interval '1 second' END, 'ami')
"""


@dataclass(frozen=True, slots=True)
class DayPlan:
    direct: int
    """Answered in q1 within 5 s."""
    overflow: int
    """Timed out of q1 after 30 s, answered in q2 within 5 s."""
    abandoned: int

    @property
    def entries(self) -> int:
        return self.direct + 2 * self.overflow + self.abandoned

    @property
    def calls(self) -> int:
        return self.direct + self.overflow + self.abandoned

    @property
    def answered(self) -> int:
        return self.direct + self.overflow


NORMAL = DayPlan(direct=90, overflow=6, abandoned=4)
OUTAGE_FAILED = DayPlan(direct=50, overflow=0, abandoned=50)  # day 2, marked
OUTAGE_PASSED = DayPlan(direct=100, overflow=0, abandoned=0)  # day 3, marked


@dataclass(frozen=True, slots=True)
class GeneratedMonth:
    month: str
    line: str
    node: str
    plans: dict[date, DayPlan]


def day_rows(node: str, line: str, day: date, plan: DayPlan) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    base = datetime(day.year, day.month, day.day, 9, tzinfo=TZ).astimezone(UTC)
    at = iter(base + timedelta(seconds=90 * i) for i in range(10_000))
    tag = f"{day:%d}"
    for i in range(plan.direct):
        rows.append((node, f"d{tag}-{i}", "q1", line, next(at), "answered", 3, "1001", 60))
    for i in range(plan.overflow):
        first = next(at)
        rows.append((node, f"o{tag}-{i}", "q1", line, first, "timeout", 30, None, None))
        second = first + timedelta(seconds=31)
        rows.append((node, f"o{tag}-{i}", "q2", line, second, "answered", 5, "1002", 60))
    for i in range(plan.abandoned):
        rows.append((node, f"a{tag}-{i}", "q1", line, next(at), "abandoned", 20, None, None))
    return rows


@pytest.fixture
async def generated(database_url: str) -> AsyncIterator[GeneratedMonth]:
    # Within the API's accepted years (2000-2100), far from any real data; line and node are unique.
    year = random.randrange(2040, 2099)
    month = f"{year}-03"
    line, node = f"L{uuid.uuid4().hex[:6]}", f"as-{uuid.uuid4().hex[:6]}"
    plans = {date(year, 3, d): NORMAL for d in range(1, 32)}
    plans[date(year, 3, 2)] = OUTAGE_FAILED
    plans[date(year, 3, 3)] = OUTAGE_PASSED
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for day, plan in plans.items():
            await conn.executemany(INSERT_ENTRY, day_rows(node, line, day, plan))
            shift = datetime(day.year, day.month, day.day, 8, tzinfo=TZ).astimezone(UTC)
            await conn.executemany(
                "INSERT INTO agent_sessions (node, agent, queue, started_at, ended_at) "
                "VALUES ($1, $2, 'q1', $3::timestamptz, $3::timestamptz + interval '8 hours')",
                [(node, agent, shift) for agent in ("1001", "1002")],
            )
    finally:
        await conn.close()
    yield GeneratedMonth(month, line, node, plans)

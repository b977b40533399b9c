"""The 15-second clock from system entry (从系统接入到人工接听) over real PostgreSQL.

Hand-made calls with IVR steps (written through the fact writer, so the triggers run):
the IVR's ``since_start_s`` at the call's ``queue`` step is the time from system entry
to queue entry. A call 10 s in the IVR and 8 s in the queue is within 15 s from queue
entry but not from system entry; 7 + 8 = 15.0 s exactly is within; calls without an IVR
queue step count as from queue entry (from their first queue entry, if they overflowed).
The same figures come from the facts (dirty intervals) and from the rollups, through
``/kpis?sl_clock=system``, its drill-down and Xiaoshan's assessment.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from assessment_month import INSERT_ENTRY, TZ
from fastapi import FastAPI

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.facts.models import IvrStepFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from kpi.assessment.query import daily_counters, month_window
from kpi.inputs import AcwCaps, KpiParams
from kpi.query import KpiQuery, query_kpis
from kpi.rollups import refresh_all
from kpi.sql import EntryFilter

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Calls:
    node: str
    line: str
    day: date
    start: datetime
    end: datetime


def _step(node: str, callid: str, step: int, kind: str, at: datetime, since: int) -> IvrStepFact:
    return IvrStepFact(
        node=node, callid=callid, step=step, line="12345", flow="main", ivr_node=f"n{step}",
        kind=kind, at=int(at.timestamp()), since_start_s=since,
        outcome="q1" if kind == "queue" else "key",
    )  # fmt: skip


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await create_stage_tables(conn)
    yield conn
    await conn.close()


@pytest.fixture
async def calls(pg: Any) -> Calls:
    year = random.randrange(2040, 2099)
    day = date(year, 5, 12)
    node, line = f"sl-{uuid.uuid4().hex[:6]}", f"L{uuid.uuid4().hex[:6]}"
    base = datetime(year, 5, 12, 10, tzinfo=TZ).astimezone(UTC)
    at = iter(base + timedelta(seconds=60 * i) for i in range(100))
    entries: list[tuple[Any, ...]] = []
    steps: list[IvrStepFact] = []

    def answered(callid: str, ivr_s: int | None, wait: int) -> None:
        entered = next(at)
        if ivr_s is not None:
            steps.append(_step(node, callid, 1, "play", entered - timedelta(seconds=ivr_s), 0))
            steps.append(_step(node, callid, 2, "queue", entered, ivr_s))
        entries.append((node, callid, "q1", line, entered, "answered", wait, "1001", 60))

    answered("ivr10-q8", 10, 8)  # 8 s from queue entry; 18 s from system entry
    answered("ivr7-q8", 7, 8)  # 15.0 s from system entry: within
    answered("ivr8-q8", 8, 8)  # 16 s: not
    answered("plain-15", None, 15)  # no IVR: 15 s either way
    answered("plain-16", None, 16)
    # 5 s of IVR, 6 s in q1 (timeout), answered in q2 7 s after entering q1, after 3 s:
    # 15 s from system entry. Its q2 entry falls in the next 15-minute interval.
    first = base + timedelta(minutes=14, seconds=55)
    steps.append(_step(node, "ivr5-overflow", 1, "queue", first, 5))
    entries.append((node, "ivr5-overflow", "q1", line, first, "timeout", 6, None, None))
    second = first + timedelta(seconds=7)
    entries.append((node, "ivr5-overflow", "q2", line, second, "answered", 3, "1002", 60))
    # IVR steps but no queue step (a menu only): from queue entry.
    entered = next(at)
    steps.append(_step(node, "menu-only", 1, "menu", entered, 9))
    entries.append((node, "menu-only", "q1", line, entered, "answered", 12, "1001", 60))

    await commit_facts(pg, [(s, "ami") for s in steps])
    await pg.executemany(INSERT_ENTRY, entries)
    start, end = month_window(f"{year}-05", "Asia/Shanghai")
    return Calls(node, line, day, start, end)


async def _in_sl(pg: Any, c: Calls, clock: str) -> tuple[int, int]:
    params = KpiParams(sl_clock=clock)  # type: ignore[arg-type]
    rows = await query_kpis(pg, KpiQuery(c.start, c.end, node=c.node, params=params))
    return rows[0].kpis.answered_in_sl, rows[0].kpis.offered


async def _dirty(pg: Any, c: Calls) -> int:
    return int(
        await pg.fetchval(
            "SELECT count(*) FROM kpi_dirty_intervals WHERE interval_start >= $1 "
            "AND interval_start < $2",
            c.start,
            c.end,
        )
    )


async def test_system_clock_counts_ivr_time_from_facts_and_rollups(pg: Any, calls: Calls) -> None:
    c = calls
    assert await _dirty(pg, c) > 0
    # From the facts: 8 entries (the overflowed call twice), 7 answered.
    assert await _in_sl(pg, c, "queue") == (6, 8)
    assert await _in_sl(pg, c, "system") == (4, 8)  # ivr7 15.0 s, plain-15, overflow, menu
    await refresh_all(pg, AcwCaps())
    assert await _dirty(pg, c) == 0
    # From the rollups: the same.
    assert await _in_sl(pg, c, "queue") == (6, 8)
    assert await _in_sl(pg, c, "system") == (4, 8)
    stored = await pg.fetchval(
        "SELECT sum(x) FROM kpi_queue_rollups r, unnest(r.answered_sys_wait_hist[1:16]) x "
        "WHERE r.node = $1",
        c.node,
    )
    assert stored == 4

    # Counted per call: 7 calls; the overflowed one once, 15 s from system entry, and
    # 10 s from its first queue entry.
    f = EntryFilter(node=c.node)
    for clock, expected in (("system", 4), ("queue", 6)):
        params = KpiParams(sl_clock=clock)  # type: ignore[arg-type]
        days = await daily_counters(pg, c.start, c.end, params, f, "Asia/Shanghai", per_call=True)
        day = days[c.day]
        assert (day.entries, day.answered_within(15)) == (7, expected), clock


async def test_an_ivr_step_written_later_marks_the_calls_entries_dirty(
    pg: Any, calls: Calls
) -> None:
    c = calls
    await refresh_all(pg, AcwCaps())
    assert await _in_sl(pg, c, "system") == (4, 8)
    # Reconcile brings plain-15's IVR path: 3 s before its queue entry.
    entered = await pg.fetchval(
        "SELECT entered_at FROM queue_entries WHERE node = $1 AND callid = 'plain-15'", c.node
    )
    await commit_facts(pg, [(_step(c.node, "plain-15", 1, "queue", entered, 3), "queue_log")])
    assert await _dirty(pg, c) == 1
    assert await _in_sl(pg, c, "system") == (3, 8)  # 18 s now, from the facts
    assert await _in_sl(pg, c, "queue") == (6, 8)
    await refresh_all(pg, AcwCaps())
    assert await _in_sl(pg, c, "system") == (3, 8)  # and from the rollups


async def test_kpis_drill_down_and_xiaoshan_take_the_system_clock(
    api_app: FastAPI, api_client: httpx.AsyncClient, make_token: MakeToken, calls: Calls, pg: Any
) -> None:
    c = calls
    token = await make_token(Role.SUPERVISOR)
    auth = {"Authorization": f"Bearer {token}"}
    window = {"start": c.start.isoformat(), "end": c.end.isoformat(), "node": c.node}
    for refreshed in (False, True):
        r = await api_client.get("/api/v1/kpis", params={**window, "sl_clock": "system"},
                                 headers=auth)  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["params"]["sl_clock"] == "system"
        assert body["rows"][0]["counts"]["answered_in_sl"] == 4, refreshed
        r = await api_client.get("/api/v1/kpis", params=window, headers=auth)
        assert r.json()["params"]["sl_clock"] == "queue"
        assert r.json()["rows"][0]["counts"]["answered_in_sl"] == 6
        if not refreshed:
            await refresh_all(pg, await api_app.state.acw_caps())

    r = await api_client.get(
        "/api/v1/kpis/entries",
        params={**window, "figure": "answered_within_sl", "sl_clock": "system"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    listed = {(e["callid"], e["wait_s"], e["system_wait_s"]) for e in r.json()["entries"]}
    assert listed == {
        ("ivr7-q8", 8, 15),
        ("plain-15", 15, 15),
        ("ivr5-overflow", 3, 15),
        ("menu-only", 12, 12),
    }
    r = await api_client.get("/api/v1/kpis", params={**window, "sl_clock": "wall"}, headers=auth)
    assert r.status_code == 422

    # Xiaoshan's 15-second rate runs from system entry; its drill-down link says so.
    month = f"{c.day:%Y-%m}"
    r = await api_client.get(f"/api/v1/assessments/xiaoshan/{month}",
                             params={"line": c.line}, headers=auth)  # fmt: skip
    assert r.status_code == 200, r.text
    rule = next(x for x in r.json()["rules"] if x["id"] == "service_level")
    assert (rule["numerator"], rule["denominator"]) == (4, 8)
    assert "sl_clock=system" in rule["entries"]["numerator"]


async def test_rewriting_a_first_entry_marks_its_calls_later_entry_dirty(
    pg: Any, calls: Calls
) -> None:
    c = calls
    await refresh_all(pg, AcwCaps())
    assert await _in_sl(pg, c, "system") == (4, 8)
    later = await pg.fetchval(
        "SELECT entered_at FROM queue_entries WHERE node = $1 AND callid = 'ivr5-overflow' "
        "AND queue = 'q2'",
        c.node,
    )
    first = await pg.fetchval(
        "SELECT entered_at FROM queue_entries WHERE node = $1 AND callid = 'ivr5-overflow' "
        "AND queue = 'q1'",
        c.node,
    )
    assert (first.minute, later.minute) == (14, 15)  # two intervals (UTC+8, whole hours)
    # Reconcile's second for the q1 entry is one earlier than the live one: the q2 entry
    # (another interval's rollup) now waited 16 s from system entry.
    await pg.execute(
        "UPDATE queue_entries SET entered_at = entered_at - interval '1 second' "
        "WHERE node = $1 AND callid = 'ivr5-overflow' AND queue = 'q1'",
        c.node,
    )
    marked = await pg.fetchval(
        "SELECT count(*) FROM kpi_dirty_intervals WHERE interval_start = "
        "date_bin(interval '15 minutes', $1::timestamptz, timestamptz '1970-01-01 00:00+00')",
        later,
    )
    assert marked == 1
    assert await _in_sl(pg, c, "system") == (3, 8)
    await refresh_all(pg, AcwCaps())
    assert await _in_sl(pg, c, "system") == (3, 8)
    params = KpiParams(sl_clock="system")
    days = await daily_counters(
        pg, c.start, c.end, params, EntryFilter(node=c.node), "Asia/Shanghai", per_call=True
    )
    assert days[c.day].answered_within(15) == 3

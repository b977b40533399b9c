"""Facts written by the upserts read back unchanged by verify's loader and the live seed."""

from __future__ import annotations

import time

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import AcwEnd, AcwInterval, HangupSide, QueueEntryFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.ingest.verify import load_entries
from callctl.live.seed import load_today
from callctl.live.window import day_window
from kpi.outcome import Outcome

pytestmark = pytest.mark.db

NOW = int(time.time()) - 60
NODE = "stored-roundtrip"


async def test_entries_and_acw_round_trip_through_the_database(database_url: str) -> None:
    entry = QueueEntryFact(
        node=NODE, callid=f"{NOW}.1", queue="hrss-expert", seq=1, entered_at=NOW,
        caller_num="13812345678", position=1, outcome=Outcome.ANSWERED,
        ended_wait_at=NOW + 4, wait_s=4, agent="2001", ring_attempts=1, talk_s=30,
        hangup_side=HangupSide.AGENT, completed_at=NOW + 34, line="12333",
    )  # fmt: skip
    acw = AcwInterval(
        node=NODE, agent="2001", started_at=NOW + 34, ended_at=NOW + 50,
        ended_by=AcwEnd.UNPAUSE, callid=entry.callid, queue=entry.queue, seq=1,
    )  # fmt: skip
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await create_stage_tables(conn)
        await commit_facts(conn, [(entry, "ami"), (acw, "ami")])
        assert await load_entries(conn, NODE, NOW, NOW) == [entry]
    finally:
        await conn.close()
    seeded = await load_today(database_url, day_window(NOW, "Asia/Shanghai"))
    assert entry in seeded  # the line included, so live per-line sums keep it
    assert acw in seeded

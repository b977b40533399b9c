"""queue_log's values stand in PostgreSQL when an AMI snapshot lands after them, and
shipped lines are stored once however often they are sent (real PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import HangupSide, QueueEntryFact
from callctl.ingest.queue_log.shipped import ShippedLine, insert_lines, lines_after
from callctl.ingest.upserts import commit_facts, create_stage_tables
from kpi.outcome import Outcome

pytestmark = [
    pytest.mark.db,
    pytest.mark.filterwarnings("ignore:No path_separator found:DeprecationWarning"),
]


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await create_stage_tables(conn)
    yield conn
    await conn.close()


async def test_a_late_ami_snapshot_does_not_undo_queue_log(pg: Any) -> None:
    node = f"wins-{uuid.uuid4().hex[:8]}"
    ami = QueueEntryFact(
        node, "c1", "q", 1, 1_700_000_001, caller_num="138", outcome=Outcome.ANSWERED,
        wait_s=10, agent="1001", ended_wait_at=1_700_000_011,
    )  # fmt: skip
    from_queue_log = replace(ami, entered_at=1_700_000_000, wait_s=11, caller_num=None)
    await commit_facts(pg, [(ami, "ami")])
    await commit_facts(pg, [(from_queue_log, "queue_log")])  # corrects
    await commit_facts(pg, [(replace(ami, talk_s=30, hangup_side=HangupSide.AGENT), "ami")])
    row = await pg.fetchrow(
        "SELECT extract(epoch FROM entered_at)::bigint AS entered, wait_s, talk_s, "
        "hangup_side, caller_num, source FROM queue_entries WHERE node = $1",
        node,
    )
    assert dict(row) == {
        "entered": 1_700_000_000, "wait_s": 11, "talk_s": 30, "hangup_side": "agent",
        "caller_num": "138", "source": "queue_log",
    }  # fmt: skip


async def test_shipped_lines_are_stored_once_in_order(pg: Any) -> None:
    node = f"ship-{uuid.uuid4().hex[:8]}"
    lines = [ShippedLine(7, 1_700_000_000, 10 * n, 1_700_000_000 + n, f"l{n}") for n in (1, 2, 3)]
    assert await insert_lines(pg, node, lines[:2]) == 2
    assert await insert_lines(pg, node, lines) == 1  # a replay after a crash, and one new
    # the same offsets in another file (inode reused, or copytruncate) are other lines
    refilled = [replace(line, file_start=1_700_000_900) for line in lines[:1]]
    assert await insert_lines(pg, node, refilled) == 1
    stored = await lines_after(pg, node, 0, 100)
    assert [s.line for s in stored] == ["l1", "l2", "l3", "l1"]
    assert [s.line for s in await lines_after(pg, node, stored[1].id, 100)] == ["l3", "l1"]

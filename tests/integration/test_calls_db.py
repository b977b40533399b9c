"""The ``calls`` table against a real PostgreSQL: AMI and queue_log snapshots of one
call merge to the same row whatever their order, replays change nothing, and
the spool carries call facts through a database outage."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import CallFact, Fact
from callctl.ingest.fact_codec import FactSource
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.ingest.writer import FactWriter, WriterConfig

pytestmark = pytest.mark.db

FAST = WriterConfig(flush_interval_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)


@pytest.fixture
def node() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    await create_stage_tables(connection)
    yield connection
    await connection.close()


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def snapshots(node: str, linkedid: str) -> list[tuple[Fact, FactSource]]:
    """One call: AMI at Newchannel, AMI at Hangup, queue_log's ENTERQUEUE."""
    started = CallFact(node, linkedid, 1_795_291_045, "12345", "13812345678", "张三丰")
    ended = replace(started, ended_at=1_795_291_048, hangup_cause=16)
    queued = CallFact(node, linkedid, 1_795_291_046, caller_num="013812345678")
    return [(started, "ami"), (ended, "ami"), (queued, "queue_log")]


async def call_rows(pg: Any, node: str) -> list[dict[str, Any]]:
    records = await pg.fetch(
        "SELECT *, xmin::text AS xmin FROM calls WHERE node = $1 ORDER BY linkedid", node
    )
    return [dict(r) for r in records]


def without_xmin(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "xmin"} for row in rows]


async def test_each_snapshot_in_its_own_transaction_any_order_gives_one_row(
    pg: Any, node: str
) -> None:
    orders = list(itertools.permutations(range(3)))
    for number, order in enumerate(orders):
        facts = snapshots(node, f"1795291045.{number}")
        for index in order:
            await commit_facts(pg, [facts[index]])

    rows = without_xmin(await call_rows(pg, node))
    assert len(rows) == len(orders)
    for number, row in enumerate(rows):
        assert row == {
            "node": node, "linkedid": f"1795291045.{number}", "line": "12345",
            "caller_num": "13812345678", "caller_name": "张三丰",
            "started_at": at(1_795_291_045), "ended_at": at(1_795_291_048),
            "hangup_cause": 16, "source": "ami",
        }  # fmt: skip


async def test_writing_twice_and_in_reverse_changes_nothing(pg: Any, node: str) -> None:
    facts = snapshots(node, "c1")
    for fact in facts:
        await commit_facts(pg, [fact])
    before = await call_rows(pg, node)

    for fact in reversed(facts):
        await commit_facts(pg, [fact])
    await commit_facts(pg, facts)

    assert await call_rows(pg, node) == before  # not even rewritten (same xmin)


async def test_queue_log_first_then_ami_takes_ami_values(pg: Any, node: str) -> None:
    _, ended, queued = snapshots(node, "c1")
    await commit_facts(pg, [queued])
    (row,) = without_xmin(await call_rows(pg, node))
    assert (row["source"], row["caller_num"], row["started_at"], row["ended_at"]) == (
        "queue_log", "013812345678", at(1_795_291_046), None,
    )  # fmt: skip

    await commit_facts(pg, [ended])
    (row,) = without_xmin(await call_rows(pg, node))
    assert (row["source"], row["caller_num"], row["started_at"], row["line"]) == (
        "ami", "13812345678", at(1_795_291_045), "12345",
    )  # fmt: skip


async def test_call_facts_cross_a_database_outage_through_the_spool(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    url = {"now": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    async with FactWriter(lambda: url["now"], tmp_path, FAST) as writer:
        for fact, source in snapshots(node, "c1"):
            writer.submit(fact, source)
        await eventually(lambda: writer.metrics.spooled_records == 3)
        assert writer.metrics.facts_committed == 0
        url["now"] = database_url  # PostgreSQL is back
        async with asyncio.timeout(8):
            await writer.flush()
        assert writer.metrics.spool_pending == 0

    (row,) = without_xmin(await call_rows(pg, node))
    assert (row["caller_name"], row["ended_at"], row["hangup_cause"]) == (
        "张三丰", at(1_795_291_048), 16,
    )  # fmt: skip

"""The fact writer against a real PostgreSQL: idempotent merging upserts, the spool path."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    HangupSide,
    QueueEntryFact,
)
from callctl.ingest.fact_codec import encode_fact_record
from callctl.ingest.spool import DEAD_LETTER_NAME, Spool
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.ingest.writer import FactWriter, WriterConfig
from kpi.outcome import Outcome

pytestmark = pytest.mark.db

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
FAST = WriterConfig(flush_interval_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)


@pytest.fixture
def node() -> str:
    """A node id of its own per test: tests share one database."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


def joined(node: str, callid: str = "c1") -> QueueEntryFact:
    return QueueEntryFact(
        node=node, callid=callid, queue="q", seq=1, entered_at=1_700_000_000,
        caller_num="13800000000", position=1,
    )  # fmt: skip


def completed(node: str, callid: str = "c1") -> QueueEntryFact:
    return replace(
        joined(node, callid), outcome=Outcome.ANSWERED, ended_wait_at=1_700_000_010, wait_s=10,
        agent="PJSIP/8001", ring_attempts=2, talk_s=60, hangup_side=HangupSide.CALLER,
        completed_at=1_700_000_070,
    )  # fmt: skip


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


async def rows(pg: Any, table: str, node: str) -> list[dict[str, Any]]:
    # xmin changes whenever PostgreSQL rewrites the row: "changes nothing" means same xmin.
    records = await pg.fetch(
        f"SELECT *, xmin::text AS xmin FROM {table} WHERE node = $1 ORDER BY 2, 3, 4", node
    )
    return [dict(r) for r in records]


async def write(url: str | Callable[[], str], spool: Path, *facts: Any, **kw: Any) -> FactWriter:
    async with FactWriter(url, spool, FAST) as writer:
        for fact in facts:
            writer.submit(fact, **kw)
        async with asyncio.timeout(5):
            await writer.flush()
    return writer


async def test_every_fact_type_lands_in_its_table(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    await write(
        database_url,
        tmp_path,
        completed(node),
        AgentSession(node, "PJSIP/8001", "q", 1_699_999_000),
        AgentStateInterval(
            node, "PJSIP/8001", AgentState.PAUSED, "lunch", 1_699_999_100, 1_699_999_400
        ),
        AcwInterval(node, "PJSIP/8001", 1_700_000_070, 1_700_000_100, AcwEnd.UNPAUSE, "c1", "q", 1),
    )
    (entry,) = await rows(pg, "queue_entries", node)
    assert entry | {"updated_at": None, "xmin": None} == {
        "node": node, "callid": "c1", "queue": "q", "seq": 1, "linkedid": None, "line": None,
        "entered_at": at(1_700_000_000), "caller_num": "13800000000", "position": 1,
        "outcome": "answered", "ended_wait_at": at(1_700_000_010), "wait_s": 10,
        "agent": "PJSIP/8001", "ring_attempts": 2, "talk_s": 60, "hangup_side": "caller",
        "completed_at": at(1_700_000_070), "acw_s": None, "source": "ami",
        "updated_at": None, "xmin": None,
    }  # fmt: skip
    (session,) = await rows(pg, "agent_sessions", node)
    assert (session["started_at"], session["ended_at"]) == (at(1_699_999_000), None)
    (pause,) = await rows(pg, "agent_state_intervals", node)
    assert (pause["state"], pause["reason"], pause["ended_at"]) == (
        "paused", "lunch", at(1_699_999_400),
    )  # fmt: skip
    (acw,) = await rows(pg, "acw_intervals", node)
    assert (acw["ended_by"], acw["callid"], acw["seq"]) == ("unpause", "c1", 1)


async def test_writing_the_same_facts_twice_changes_nothing(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    facts = [completed(node, f"c{i}") for i in range(50)] + [
        AgentStateInterval(node, "a", AgentState.PAUSED, "break", 1_700_000_000, 1_700_000_300)
    ]
    await write(database_url, tmp_path, *facts)
    before = await rows(pg, "queue_entries", node), await rows(pg, "agent_state_intervals", node)
    await write(database_url, tmp_path, *facts)
    after = await rows(pg, "queue_entries", node), await rows(pg, "agent_state_intervals", node)
    assert len(after[0]) == 50
    assert after == before  # same values, same updated_at, not even rewritten (xmin)


async def test_an_older_partial_snapshot_does_not_clobber_a_complete_one(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    closed_pause = AgentStateInterval(
        node, "a", AgentState.PAUSED, "lunch", 1_700_000_000, 1_700_000_600
    )
    closed_acw = AcwInterval(node, "a", 1_700_000_070, 1_700_000_100, AcwEnd.LOGOFF, "c1", "q", 1)
    await write(database_url, tmp_path, completed(node), closed_pause, closed_acw)
    tables = ("queue_entries", "agent_state_intervals", "acw_intervals")
    before = [await rows(pg, table, node) for table in tables]

    rebuilt = replace(completed(node), caller_num=None, position=None, ring_attempts=1)
    await write(
        database_url,
        tmp_path,
        joined(node),
        rebuilt,
        replace(closed_pause, ended_at=None),
        AcwInterval(node, "a", 1_700_000_070),
        source="queue_log",
    )
    assert [await rows(pg, table, node) for table in tables] == before


async def test_a_later_snapshot_completes_the_row(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    await write(database_url, tmp_path, joined(node))
    (first,) = await rows(pg, "queue_entries", node)
    await write(database_url, tmp_path, completed(node), source="queue_log")
    (second,) = await rows(pg, "queue_entries", node)
    assert (first["outcome"], second["outcome"]) == (None, "answered")
    assert (first["source"], second["source"]) == ("ami", "queue_log")
    assert second["updated_at"] > first["updated_at"]


async def test_snapshots_of_one_entry_in_one_batch_are_merged(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    rebuilt = replace(completed(node), caller_num=None, ring_attempts=1)
    writer = await write(database_url, tmp_path, joined(node), completed(node), rebuilt)
    assert writer.metrics.batches_committed == 1
    (entry,) = await rows(pg, "queue_entries", node)
    assert (entry["caller_num"], entry["ring_attempts"], entry["talk_s"]) == ("13800000000", 2, 60)


async def test_database_down_then_back_drains_the_spool_in_order(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    target = {"url": UNREACHABLE}
    config = replace(FAST, segment_max_bytes=4096, drain_batch_size=500)
    async with FactWriter(lambda: target["url"], tmp_path, config) as writer:
        # Two waves, spooled in separate batches; the second must win when replayed.
        for i in range(1_000):
            writer.submit(joined(node, f"c{i}"))
        writer.submit(AgentStateInterval(node, "a", AgentState.PAUSED, "first", 1_700_000_000))
        await _eventually(lambda: writer.metrics.spooled_records == 1_001)
        for i in range(1_000):
            writer.submit(completed(node, f"c{i}"), source="queue_log")
        writer.submit(AgentStateInterval(node, "a", AgentState.PAUSED, "second", 1_700_000_000))
        await _eventually(lambda: writer.metrics.spooled_records == 2_002)
        assert writer.metrics.facts_committed == 0
        assert len(segment_files(tmp_path)) >= 2  # order across segments is tested too

        target["url"] = database_url  # PostgreSQL is back
        async with asyncio.timeout(8):
            await writer.flush()
        assert writer.metrics.spool_pending == 0
        assert writer.metrics.facts_committed == 2_002
        assert writer.metrics.db_available

    entries = await rows(pg, "queue_entries", node)
    assert len(entries) == 1_000
    assert {(e["outcome"], e["source"], e["talk_s"]) for e in entries} == {
        ("answered", "queue_log", 60)
    }
    (pause,) = await rows(pg, "agent_state_intervals", node)
    assert pause["reason"] == "second"
    assert segment_files(tmp_path) == []


async def test_after_a_restart_the_old_spool_commits_before_new_facts(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    async with FactWriter(UNREACHABLE, tmp_path, FAST) as offline:
        offline.submit(AgentStateInterval(node, "a", AgentState.PAUSED, "old", 1_700_000_000))
    assert offline.metrics.spool_pending == 1

    async with FactWriter(database_url, tmp_path, FAST) as writer:
        assert writer.metrics.spool_pending == 1
        writer.submit(AgentStateInterval(node, "a", AgentState.PAUSED, "new", 1_700_000_000))
        async with asyncio.timeout(5):
            await writer.flush()
    (pause,) = await rows(pg, "agent_state_intervals", node)
    assert pause["reason"] == "new"


async def test_a_refused_fact_is_set_aside_and_the_rest_committed(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    bad = replace(completed(node, "bad"), wait_s=-1)  # violates CHECK (wait_s >= 0)
    good = [completed(node, f"c{i}") for i in range(5)]
    writer = await write(database_url, tmp_path, *good[:2], bad, *good[2:])
    assert writer.metrics.facts_rejected == 1
    assert len(await rows(pg, "queue_entries", node)) == 5
    (line,) = (tmp_path / DEAD_LETTER_NAME).read_text().splitlines()
    rejected = json.loads(line)
    assert "wait_s" in rejected["error"]
    assert json.loads(rejected["record"])["f"]["callid"] == "bad"


async def test_an_undecodable_spool_record_is_set_aside_and_the_rest_drained(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    with Spool(tmp_path) as spool:
        spool.append([encode_fact_record(joined(node, "c1"), "ami"), b'{"s": "ami", "t": "?"}'])
        spool.append([encode_fact_record(joined(node, "c2"), "queue_log")])
    writer = await write(database_url, tmp_path)
    assert writer.metrics.facts_committed == 2
    assert writer.metrics.facts_rejected == 1
    assert [e["callid"] for e in await rows(pg, "queue_entries", node)] == ["c1", "c2"]
    assert segment_files(tmp_path) == []
    assert "unknown fact type" in (tmp_path / DEAD_LETTER_NAME).read_text()


async def test_commit_facts_called_repeatedly_in_one_outer_transaction(pg: Any, node: str) -> None:
    # Reconciliation calls commit_facts inside its own transactions; rows left in
    # the stage by an earlier call must not be applied again by a later one.
    await create_stage_tables(pg)
    async with pg.transaction():
        for reason in ("first", "second", "third"):
            pause = AgentStateInterval(node, "a", AgentState.PAUSED, reason, 1_700_000_000)
            await commit_facts(pg, [(pause, "queue_log"), (joined(node, reason), "ami")])
    (pause_row,) = await rows(pg, "agent_state_intervals", node)
    assert pause_row["reason"] == "third"
    assert len(await rows(pg, "queue_entries", node)) == 3


async def test_a_lone_fact_is_committed_by_the_timer(
    database_url: str, node: str, tmp_path: Path
) -> None:
    config = replace(FAST, flush_interval_s=0.2)
    async with FactWriter(database_url, tmp_path, config) as writer:
        writer.submit(joined(node))
        await _eventually(lambda: writer.metrics.facts_committed == 1)
        lag = writer.metrics.last_commit_lag_s
        assert lag is not None and 0.2 <= lag < 1.0
        assert writer.metrics.latency_ms(99) is not None
        histogram = writer.metrics.event_to_fact  # /metrics: callctl_event_to_fact_seconds
        assert histogram.count == 1 and histogram.sum == lag
        assert dict(histogram.cumulative())["0.1"] == 0
        assert dict(histogram.cumulative())["1.0"] == 1


async def test_a_full_queue_overflows_to_the_spool_and_nothing_is_lost(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    config = replace(FAST, batch_size=100, max_queue=500)
    async with FactWriter(database_url, tmp_path, config) as writer:
        for i in range(5_000):  # faster than any database: no await in between
            writer.submit(joined(node, f"c{i}"))
        async with asyncio.timeout(8):
            await writer.flush()
        assert writer.metrics.spooled_records > 0
        assert writer.metrics.facts_committed == 5_000
    assert len(await rows(pg, "queue_entries", node)) == 5_000


async def _eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def _writer_waits_for_a_lock(pg: Any) -> None:
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'callctl-writer' AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(5):
        while True:
            if await pg.fetchval(waiting):
                return
            await asyncio.sleep(0.01)


async def test_a_batch_rolled_back_by_a_deadlock_is_retried_not_spooled(
    database_url: str, pg: Any, node: str, tmp_path: Path
) -> None:
    await write(database_url, tmp_path / "first", joined(node, "c1"), joined(node, "c2"))
    other = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Another transaction (say the queue_log follower's) holds c2 and then wants c1
        # while the writer's batch holds c1 and waits for c2: a deadlock. The other
        # side checks late, so PostgreSQL rolls the writer's batch back.
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '10s'")
        touch = "UPDATE queue_entries SET position = 9 WHERE node = $1 AND callid = $2"
        await other.execute(touch, node, "c2")
        async with FactWriter(database_url, tmp_path / "second", FAST) as writer:
            writer.submit(completed(node, "c1"))
            writer.submit(completed(node, "c2"))
            await _writer_waits_for_a_lock(pg)  # holds c1, waits for c2
            await other.execute(touch, node, "c1")  # returns once the writer rolled back
            await transaction.commit()
            async with asyncio.timeout(5):
                await writer.flush()
            assert writer.metrics.rollback_retries == 1
            assert writer.metrics.spooled_records == 0
            assert writer.metrics.db_available
    finally:
        await other.close()
    stored = await rows(pg, "queue_entries", node)
    assert [(r["callid"], r["outcome"], r["position"]) for r in stored] == [
        ("c1", "answered", 1),
        ("c2", "answered", 1),
    ]


async def test_batches_sharing_rows_in_different_orders_do_not_deadlock(
    database_url: str, node: str
) -> None:
    """The AMI writer and the queue_log follower upsert the same entries, each in its
    own order; the upsert locks rows in key order, so one waits for the other (without
    the ORDER BY, this run deadlocks several times)."""

    async def batches(seed: int, source: Any) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await create_stage_tables(connection)
            shuffled = random.Random(seed)
            for round_ in range(100):  # new entries and ones the other batch has
                order = [f"c{i:04d}" for i in range(round_ * 5, round_ * 5 + 40)]
                shuffled.shuffle(order)
                facts = [joined(node, c) for c in order]
                await commit_facts(connection, [(f, source) for f in facts])
        finally:
            await connection.close()

    async with asyncio.timeout(60):
        await asyncio.gather(
            batches(1, "ami"), batches(2, "queue_log")
        )  # a DeadlockDetectedError would fail the test

"""The writer with PostgreSQL unreachable (a closed port): nothing blocks, nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import AgentSession, QueueEntryFact
from callctl.ingest.fact_codec import decode_fact_record, encode_fact_record
from callctl.ingest.spool import Spool
from callctl.ingest.writer import FactWriter, WriterClosedError, WriterConfig

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
FAST = WriterConfig(flush_interval_s=0.02, retry_initial_s=0.05, retry_max_s=0.1)


def entry(i: int) -> QueueEntryFact:
    return QueueEntryFact(node="offline", callid=f"c{i}", queue="q", seq=1, entered_at=i)


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def spooled_callids(directory: Path) -> list[str]:
    with Spool(directory) as spool:
        payloads = [r for p in spool.segments() for r in spool.read_segment(p).records]
    facts = [decode_fact_record(p)[0] for p in payloads]
    return [f.callid for f in facts if isinstance(f, QueueEntryFact)]


async def test_facts_go_to_the_spool_and_survive_a_restart(tmp_path: Path) -> None:
    async with FactWriter(UNREACHABLE, tmp_path, FAST) as writer:
        for i in range(10):
            writer.submit(entry(i))
        await eventually(lambda: writer.metrics.spooled_records == 10)
        assert writer.metrics.db_available is False
        assert writer.metrics.last_error is not None
        assert writer.metrics.facts_committed == 0
        writer.submit(entry(10))  # still queued at close: spooled too
    assert writer.metrics.spool_pending == 11

    async with FactWriter(UNREACHABLE, tmp_path, FAST) as restarted:
        assert restarted.metrics.spool_pending == 11
    assert spooled_callids(tmp_path) == [f"c{i}" for i in range(11)]


async def test_a_full_queue_never_blocks_nor_raises(tmp_path: Path) -> None:
    config = WriterConfig(batch_size=100, max_queue=1_000, flush_interval_s=10.0)
    async with FactWriter(UNREACHABLE, tmp_path, config) as writer:
        for i in range(20_000):  # no await: the writer task cannot run meanwhile
            writer.submit(entry(i))
        assert writer.metrics.queue_depth == 20_000
        await eventually(lambda: writer.metrics.spooled_records == 20_000)
    assert spooled_callids(tmp_path) == [f"c{i}" for i in range(20_000)]


async def test_flush_waits_while_the_database_is_down(tmp_path: Path) -> None:
    async with FactWriter(UNREACHABLE, tmp_path, FAST) as writer:
        writer.submit(entry(1))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await writer.flush()


async def test_submit_refuses_bad_input_and_a_closed_writer(tmp_path: Path) -> None:
    writer = FactWriter(UNREACHABLE, tmp_path, FAST)
    with pytest.raises(ValueError, match="source"):
        writer.submit(entry(1), source="sip")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        writer.submit("a fact?")  # type: ignore[arg-type]
    writer.submit(AgentSession("offline", "a", "q", 1))
    await writer.close()  # never started: what was queued is spooled
    assert writer.metrics.spool_pending == 1
    with pytest.raises(WriterClosedError):
        writer.submit(entry(2))


def leave_a_torn_spool(directory: Path, records: int) -> None:
    """What a crash in the middle of an append leaves behind."""
    with Spool(directory) as spool:
        spool.append([encode_fact_record(entry(i), "ami") for i in range(records)])
    (segment,) = directory.glob("*.spool")
    segment.write_bytes(segment.read_bytes()[:-5])


async def test_a_torn_spool_left_by_a_crash_is_counted_not_fatal(tmp_path: Path) -> None:
    leave_a_torn_spool(tmp_path, records=3)

    async with FactWriter(UNREACHABLE, tmp_path, FAST) as writer:
        assert writer.metrics.spool_corrupt_segments == 1
        assert writer.metrics.spool_pending == 2


def test_sqlalchemy_url_becomes_an_asyncpg_dsn() -> None:
    url = "postgresql+asyncpg://callctl:s3cret@db.example:5433/callctl?ssl=require"
    assert asyncpg_dsn(url) == "postgresql://callctl:s3cret@db.example:5433/callctl?ssl=require"

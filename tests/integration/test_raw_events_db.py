"""Raw AMI events land in their month's partition; retention drops old months."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from ami.events import parse_event
from ami.frames import FrameParser
from callctl.db import asyncpg_dsn
from callctl.ingest.raw_events import RawEventWriter, drop_expired_partitions

pytestmark = pytest.mark.db

FRAME = (
    "Event: QueueCallerJoin\r\nTimestamp: {ts}\r\nChannel: PJSIP/trunk-1\r\nUniqueid: {uid}\r\n"
    "Linkedid: {uid}\r\nCallerIDNum: 13812345678\r\nCallerIDName: 张三丰\r\nQueue: hotline\r\n"
    "Position: 1\r\nCount: 1\r\n\r\n"
)


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url))


async def test_raw_events_partitioned_and_expired(database_url: str) -> None:
    writer = RawEventWriter(database_url)
    parser = FrameParser()
    # One event in an old month (2024-01), one now-ish (2026-11).
    for ts, uid in ((1704103200.5, "1704103200.1"), (1795291045.5, "1795291045.14")):
        for frame in parser.feed(FRAME.format(ts=ts, uid=uid).encode()):
            writer.submit(parse_event(frame, "rawtest", ts))
    await writer.flush()
    await writer.close()
    assert writer.metrics.stored == 2
    conn = await _connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT tableoid::regclass::text AS part, linkedid, headers->>'CallerIDName' AS name"
            " FROM ami_events WHERE node = 'rawtest' ORDER BY received_at"
        )
        assert [(r["part"], r["linkedid"], r["name"]) for r in rows] == [
            ("ami_events_202401", "1704103200.1", "张三丰"),
            ("ami_events_202611", "1795291045.14", "张三丰"),
        ]
        dropped = await drop_expired_partitions(database_url, 13, date(2026, 11, 21))
        assert "ami_events_202401" in dropped and "ami_events_202611" not in dropped
        left = await conn.fetch("SELECT linkedid FROM ami_events WHERE node = 'rawtest'")
        assert [r["linkedid"] for r in left] == ["1795291045.14"]
    finally:
        await conn.close()


async def _writer_backends(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'callctl-raw-events'"
    )
    return [r["pid"] for r in rows]


async def test_flushes_share_one_connection(database_url: str) -> None:
    """Each 200 ms flush reuses the writer's connection instead of opening one."""
    writer = RawEventWriter(database_url)
    parser = FrameParser()
    conn = await _connect(database_url)
    try:
        backends = []
        for n in range(3):
            ts = 1795291045.5 + n
            frame = FRAME.format(ts=ts, uid=f"1795291045.{100 + n}").encode()
            for parsed in parser.feed(frame):
                writer.submit(parse_event(parsed, "rawkeep", ts))
            await writer.flush()
            backends.append(await _writer_backends(conn))
        assert writer.metrics.stored == 3
        assert len(backends[0]) == 1 and backends == [backends[0]] * 3
        await writer.close()
        for _ in range(50):  # the backend exits just after the client said goodbye
            if not await _writer_backends(conn):
                break
            await asyncio.sleep(0.05)
        assert await _writer_backends(conn) == []
        stored = await conn.fetchval("SELECT count(*) FROM ami_events WHERE node = 'rawkeep'")
        assert stored == 3
    finally:
        await conn.close()

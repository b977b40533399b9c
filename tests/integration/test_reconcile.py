"""Reconcile a real queue_log into a real PostgreSQL, then verify it against the file.

Every test works on its own node: the session's database is shared, and the
node is part of every key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.from_queue_log import QueueLogFolder
from callctl.facts.models import Fact
from callctl.facts.queue_log import QueueLogEvent
from callctl.ingest.queue_log.fold import fold_file, last_time
from callctl.ingest.queue_log.offsets import commit_with_position, load_position, save_position
from callctl.ingest.queue_log.tail import QueueLogPosition, QueueLogTailer
from callctl.ingest.reconcile import reconcile, reconcile_pending_gaps, run_reconcile_cli
from callctl.ingest.upserts import create_stage_tables
from callctl.ingest.verify import run_verify_cli, verify
from callctl.settings import Settings

pytestmark = [
    pytest.mark.db,
    # alembic.ini has no path_separator; the session's migration (conftest's
    # database_url) may run in one of these tests' setup.
    pytest.mark.filterwarnings("ignore:No path_separator found:DeprecationWarning"),
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# In time order, so that together they read as one day's queue_log.
PARTS = (
    "queue_log/answered.log",
    "queue_log/ring_no_answer_then_answered.log",
    "queue_log/abandon_while_ringing.log",
    "queue_log/unanswered_exits.log",
    "queue_log/transfer_between_queues.log",
    "queue_log/logoff_during_acw.log",
    "queue_log/malformed.log",
    "ami_recorded/answered.queue_log",
    "ami_recorded/abandoned.queue_log",
    "ami_recorded/pause_unpause.queue_log",
    "ami_recorded/ring_no_answer.queue_log",
)
STILL_WAITING = "1795291100|1795291099.30|hotline|NONE|ENTERQUEUE||13912345678|1\n"
TRANSFER_STARTS = 1732155000

TABLES = {
    "queue_entries": "callid, queue, seq",
    "agent_state_intervals": "agent, state, started_at",
    "agent_sessions": "agent, queue, started_at",
    "acw_intervals": "agent, started_at",
    "calls": "linkedid",
}


@pytest.fixture
def node() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def queue_log(tmp_path: Path) -> Path:
    path = tmp_path / "queue_log"
    text = "".join((FIXTURES / part).read_text(encoding="utf-8") for part in PARTS)
    path.write_text(text + STILL_WAITING, encoding="utf-8")
    return path


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def snapshot(db: Any, node: str, *, with_updated_at: bool = False) -> dict[str, list[Any]]:
    """Every fact row of the node, table by table, in key order."""
    tables: dict[str, list[Any]] = {}
    for table, order in TABLES.items():
        rows = await db.fetch(f"SELECT * FROM {table} WHERE node = $1 ORDER BY {order}", node)
        tables[table] = [
            {k: v for k, v in row.items() if with_updated_at or k != "updated_at"} for row in rows
        ]
    return tables


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def test_reconcile_into_an_empty_database_then_verify_is_clean(
    database_url: str, db: Any, queue_log: Path, node: str
) -> None:
    fold = fold_file(queue_log, node)

    report = await reconcile(database_url, queue_log, node, None)

    assert report.malformed == 5
    assert report.facts_upserted == report.facts_folded == len(fold.facts)
    assert report.entries_inserted == report.entries_upserted == len(fold.entries) == 15
    assert report.entries_updated == 0
    checked = await verify(database_url, queue_log, node, None)
    assert checked.ok, checked
    assert checked.comparison.expected == checked.comparison.actual == 15
    rows = await snapshot(db, node)
    assert {row["source"] for row in rows["queue_entries"]} == {"queue_log"}
    assert [row["outcome"] for row in rows["queue_entries"] if row["callid"].endswith(".30")] == [
        "abandoned",
        None,  # still waiting at the end of the log
    ]
    assert "小休" in {row["reason"] for row in rows["agent_state_intervals"]}
    # One call per caller, known from its first ENTERQUEUE only.
    calls = {row["linkedid"]: row for row in rows["calls"]}
    assert set(calls) == {row["callid"] for row in rows["queue_entries"]}
    assert {row["source"] for row in calls.values()} == {"queue_log"}
    answered = calls["1795291045.14"]  # ami_recorded/answered.queue_log
    assert (answered["caller_num"], answered["started_at"], answered["ended_at"]) == (
        "13812345678",
        at(1795291045),
        None,
    )
    assert len(rows["acw_intervals"]) == 4
    assert all(row["callid"] is not None for row in rows["acw_intervals"])


async def test_reconciling_twice_changes_nothing(
    database_url: str, db: Any, queue_log: Path, node: str
) -> None:
    await reconcile(database_url, queue_log, node, None)
    before = await snapshot(db, node, with_updated_at=True)

    again = await reconcile(database_url, queue_log, node, None)

    assert (again.entries_inserted, again.entries_updated) == (0, 0)
    assert again.entries_unchanged == 15
    assert await snapshot(db, node, with_updated_at=True) == before


async def test_deleted_rows_are_restored(
    database_url: str, db: Any, queue_log: Path, node: str
) -> None:
    await reconcile(database_url, queue_log, node, None)
    before = await snapshot(db, node)
    await db.execute(
        "DELETE FROM queue_entries WHERE node = $1 AND callid IN ($2, $3)",
        node,
        "1732155098.50",  # three stays: general, expert, general again
        "1795291045.14",
    )
    await db.execute("DELETE FROM acw_intervals WHERE node = $1", node)
    await db.execute("DELETE FROM agent_sessions WHERE node = $1 AND agent = '1001'", node)
    gap = await verify(database_url, queue_log, node, None)
    assert len(gap.comparison.missing) == 4

    report = await reconcile(database_url, queue_log, node, None)

    assert (report.entries_inserted, report.entries_updated) == (4, 0)
    assert await snapshot(db, node) == before
    assert (await verify(database_url, queue_log, node, None)).ok


async def test_a_corrupted_row_is_reported_and_repaired(
    database_url: str,
    db: Any,
    queue_log: Path,
    node: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await reconcile(database_url, queue_log, node, None)
    await db.execute(
        "UPDATE queue_entries SET wait_s = wait_s + 7, agent = 'ghost' "
        "WHERE node = $1 AND callid = '1732150893.5'",
        node,
    )
    await db.execute(
        "INSERT INTO queue_entries (node, callid, queue, seq, entered_at, source) "
        "VALUES ($1, 'bogus', 'general', 1, $2, 'ami')",
        node,
        at(1732153500),
    )
    settings = Settings(database_url=database_url, queue_log_path=queue_log, node_id=node)

    assert await run_verify_cli(settings, None) == 1

    printed = capsys.readouterr().out
    assert "queue_log entries: 15  db entries: 16  missing: 0  extra: 1  differing: 1" in printed
    assert "1732150893.5 general #1: wait_s queue_log=4 db=11, agent queue_log=1001 db=ghost" in (
        printed
    )
    assert "bogus general #1 entered 2024-11-21T01:45:00Z open" in printed
    # queue_log's values win where it has one; reconcile never deletes.
    repaired = await reconcile(database_url, queue_log, node, None)
    assert repaired.entries_updated == 1
    after = await verify(database_url, queue_log, node, None)
    assert (len(after.comparison.extra), len(after.comparison.differing)) == (1, 0)


async def test_ami_rows_are_filled_in_never_clobbered(
    database_url: str, db: Any, queue_log: Path, node: str
) -> None:
    # What the live AMI path had written before a gap: the join only, with
    # columns queue_log does not know (linkedid, line).
    await db.execute(
        "INSERT INTO queue_entries (node, callid, queue, seq, entered_at, caller_num, "
        "position, linkedid, line, source) "
        "VALUES ($1, '1795291045.14', 'hotline', 1, $2, '13812345678', 1, 'L-14', '12345', 'ami')",
        node,
        at(1795291045),
    )
    # And a complete one, equal to what queue_log gives.
    await db.execute(
        "INSERT INTO queue_entries (node, callid, queue, seq, entered_at, caller_num, position, "
        "outcome, ended_wait_at, wait_s, ring_attempts, source) "
        "VALUES ($1, '1795291051.16', 'hotline', 1, $2, '13812345678', 1, "
        "'abandoned', $3, 3, 1, 'ami')",
        node,
        at(1795291051),
        at(1795291054),
    )

    report = await reconcile(database_url, queue_log, node, None)

    assert (report.entries_inserted, report.entries_updated) == (13, 1)
    rows = {row["callid"]: row for row in (await snapshot(db, node))["queue_entries"]}
    filled = rows["1795291045.14"]
    assert (filled["outcome"], filled["agent"], filled["wait_s"], filled["talk_s"]) == (
        "answered",
        "1008",
        1,
        2,
    )
    assert (filled["linkedid"], filled["line"], filled["source"]) == ("L-14", "12345", "queue_log")
    assert rows["1795291051.16"]["source"] == "ami"
    assert (await verify(database_url, queue_log, node, None)).ok


async def test_since_limits_the_window_and_marks_covered_gaps(
    database_url: str, db: Any, queue_log: Path, node: str
) -> None:
    since = at(TRANSFER_STARTS)
    gaps = {
        "covered": (at(TRANSFER_STARTS + 60), at(TRANSFER_STARTS + 600)),
        "before since": (at(1732153000), at(1732153200)),
        "not over yet": (at(TRANSFER_STARTS + 60), datetime.now(UTC) + timedelta(hours=1)),
    }
    for reason, (started, ended) in gaps.items():
        await db.execute(
            "INSERT INTO ingest_gaps (node, started_at, ended_at, reason) VALUES ($1, $2, $3, $4)",
            node,
            started,
            ended,
            reason,
        )
    expected = [f for f in fold_file(queue_log, node).entries if last_time(f) >= TRANSFER_STARTS]

    report = await reconcile(database_url, queue_log, node, since, margin=timedelta(0))

    assert report.entries_inserted == len(expected) == 9
    assert report.gaps_reconciled == 1
    marked = await db.fetch(
        "SELECT reason FROM ingest_gaps WHERE node = $1 AND reconciled_at IS NOT NULL", node
    )
    assert [row["reason"] for row in marked] == ["covered"]
    checked = await verify(database_url, queue_log, node, since)
    assert checked.ok and checked.window_start == TRANSFER_STARTS
    assert checked.comparison.expected == 9
    # The oldest pending gap asks for the earlier entries too.
    pending = await reconcile_pending_gaps(database_url, queue_log, node, margin=timedelta(0))
    assert pending is not None and pending.since == gaps["before since"][0]
    assert pending.entries_inserted == 4  # abandon_while_ringing, unanswered_exits


async def test_nothing_pending(database_url: str, queue_log: Path, node: str) -> None:
    assert await reconcile_pending_gaps(database_url, queue_log, node) is None


async def test_cli_entry_points(
    database_url: str, queue_log: Path, node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, queue_log_path=queue_log, node_id=node)
    # 2024-11-21 09:10 in Shanghai is 01:10 UTC: after the first call.
    since = datetime(2024, 11, 21, 9, 10)

    assert await run_reconcile_cli(settings, since) == 0
    assert await run_verify_cli(settings, since) == 0

    out = capsys.readouterr().out
    # reconcile's two-hour margin takes the first call too; verify's window does not.
    assert "queue entries: 15  new: 15  updated: 0  unchanged: 0" in out
    assert "queue_log entries: 14  db entries: 14  missing: 0  extra: 0  differing: 0" in out
    missing = settings.model_copy(update={"queue_log_path": queue_log.with_name("gone")})
    assert await run_verify_cli(missing, None) == 2
    assert await run_reconcile_cli(missing, None) == 2
    assert "queue_log not found" in capsys.readouterr().err


async def test_tailing_with_saved_positions_gives_the_reconciled_facts(
    database_url: str, db: Any, queue_log: Path, tmp_path: Path, node: str
) -> None:
    await create_stage_tables(db)
    folder = QueueLogFolder(node)
    async with QueueLogTailer(queue_log, max_batch_bytes=512) as tailer:
        while (batch := await tailer.read_batch()) is not None:
            facts: list[Fact] = []
            for event in batch.events:
                facts += folder.feed(event)
            await commit_with_position(db, node, facts, batch.position)
    saved = await load_position(db, node)
    assert saved == tailer.position
    assert saved is not None and saved.offset == fold_file(queue_log, node).end_offset > 0
    assert (await verify(database_url, queue_log, node, None)).ok

    # A reconcile afterwards finds nothing to do.
    report = await reconcile(database_url, queue_log, node, None)
    assert (report.entries_inserted, report.entries_updated) == (0, 0)


async def test_positions_round_trip(db: Any, node: str) -> None:
    assert await load_position(db, node) is None
    first = QueueLogPosition("/var/log/asterisk/queue_log", 1234, 42)
    second = QueueLogPosition("/var/log/asterisk/queue_log", 5678, 0)

    await save_position(db, node, first)
    assert await load_position(db, node) == first
    await save_position(db, node, second)
    assert await load_position(db, node) == second


def test_events_of_the_fixture_are_in_time_order(queue_log: Path) -> None:
    from callctl.facts.queue_log import read_queue_log

    times = [e.time for e in read_queue_log(queue_log) if isinstance(e, QueueLogEvent)]
    assert times == sorted(times)

"""Reconcile and verify across a rotation, per node, from a local file and from the
lines the shipper sent while the file rotated under it (real PostgreSQL, real files)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callctl.ingest.queue_log.ship import PostgresLineSink, QueueLogShipper, StateFile
from callctl.ingest.queue_log.shipped import Shipped
from callctl.ingest.queue_log.source import QueueLogSource
from callctl.ingest.reconcile import reconcile
from callctl.ingest.verify import format_report, verify

pytestmark = [
    pytest.mark.db,
    pytest.mark.filterwarnings("ignore:No path_separator found:DeprecationWarning"),
]

T = 1_795_000_000
BEFORE_ROTATION = (
    f"{T}|A|hotline|NONE|ENTERQUEUE||13800000001|1\n"
    f"{T + 5}|A|hotline|1001|CONNECT|5|A.2|1\n"
    f"{T + 35}|A|hotline|1001|COMPLETECALLER|5|30|1\n"
    f"{T + 50}|C|hotline|NONE|ENTERQUEUE||13800000003|1\n"  # answered after the rotation
)
AFTER_ROTATION = (
    f"{T + 100}|B|hotline|NONE|ENTERQUEUE||13800000002|2\n"
    f"{T + 103}|B|hotline|NONE|ABANDON|2|2|3\n"
    f"{T + 110}|C|hotline|1002|CONNECT|60|C.2|1\n"
    f"{T + 140}|C|hotline|1002|COMPLETEAGENT|60|30|1\n"
)


async def _shipped(shipper: QueueLogShipper, lines: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if shipper.stats.lines >= lines:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{shipper.stats.lines} lines shipped, {lines} expected")


async def test_reconcile_and_verify_across_a_rotation(database_url: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    path = tmp_path / "queue_log"
    path.write_text(BEFORE_ROTATION)
    shipped_node = f"rot-s-{suffix}"
    shipper = QueueLogShipper(
        shipped_node,
        path,
        PostgresLineSink(database_url, shipped_node),
        StateFile(tmp_path / "ship.state", shipped_node),
        poll_interval_s=0.05,
    )
    task = asyncio.create_task(shipper.run())
    try:
        await _shipped(shipper, 4)
        path.rename(path.with_name("queue_log.1"))  # Asterisk's ``logger rotate``
        path.write_text(AFTER_ROTATION)
        await _shipped(shipper, 8)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    since = datetime.fromtimestamp(T, UTC)
    sources: list[tuple[str, QueueLogSource]] = [
        (f"rot-f-{suffix}", path),
        (shipped_node, Shipped()),
    ]
    for node, source in sources:
        before = await verify(database_url, source, node, since)
        assert len(before.comparison.missing) == 3  # nothing stored for the node yet
        report = await reconcile(database_url, source, node, since)
        assert report.entries_inserted == 3, node
        after = await verify(database_url, source, node, since)
        print(format_report(after))
        assert after.ok, format_report(after)
        assert after.comparison.expected == after.comparison.actual == 3
        assert after.window_start == T

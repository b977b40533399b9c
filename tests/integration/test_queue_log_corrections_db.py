"""The service's ingest pipeline follows a local queue_log: where AMI and queue_log
disagree, queue_log's values reach PostgreSQL and the live view within seconds, and a
later AMI snapshot does not undo them (real PostgreSQL, real files; the AMI facts are
handed to the pipeline as its normalizer would)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callctl.db import asyncpg_dsn
from callctl.facts.models import QueueEntryFact
from callctl.ingest.pipeline import IngestPipeline
from callctl.live.hub import LiveHub
from callctl.live.state import LiveState
from kpi.inputs import AcwCaps
from kpi.outcome import Outcome

pytestmark = [
    pytest.mark.db,
    pytest.mark.filterwarnings("ignore:No path_separator found:DeprecationWarning"),
]


async def _row(url: str, node: str) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchrow(
            "SELECT extract(epoch FROM entered_at)::bigint AS entered, wait_s, talk_s, "
            "hangup_side, source FROM queue_entries WHERE node = $1",
            node,
        )
    finally:
        await conn.close()


async def test_queue_log_corrects_ami_in_the_database_and_the_live_view(
    database_url: str, tmp_path: Path
) -> None:
    node = f"corr-{uuid.uuid4().hex[:8]}"
    queue_log = tmp_path / "queue_log"
    queue_log.write_bytes(b"")
    t = int(time.time()) - 60
    callid = f"{t}.1"
    # AMI's view: joined a second late (the event and the line either side of a
    # second boundary), waited 10 s; its completion never came (dropped as malformed).
    ami = QueueEntryFact(
        node, callid, "hotline", 1, t + 1, caller_num="13800138000", outcome=Outcome.ANSWERED,
        wait_s=10, agent="1001", ended_wait_at=t + 11,
    )  # fmt: skip
    hub = LiveHub(LiveState(time.time()))

    async def caps() -> AcwCaps:
        return AcwCaps.of({})

    pipeline = IngestPipeline(database_url, tmp_path / "spool", {node: queue_log}, acw_caps=caps)
    pipeline.corrections = hub.on_corrections
    await pipeline.start()
    try:
        pipeline.writer.submit(ami, "ami")
        hub.state.on_facts([ami])
        await pipeline.writer.flush()

        with queue_log.open("ab") as out:
            out.write(
                f"{t}|{callid}|hotline|NONE|ENTERQUEUE||13800138000|1\n"
                f"{t + 11}|{callid}|hotline|1001|CONNECT|11|{t}.2|1\n"
                f"{t + 41}|{callid}|hotline|1001|COMPLETECALLER|11|30|1\n".encode()
            )
        deadline = time.monotonic() + 10
        row = await _row(database_url, node)
        while (row is None or row["talk_s"] is None) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            row = await _row(database_url, node)
        assert row is not None
        assert dict(row) == {
            "entered": t, "wait_s": 11, "talk_s": 30, "hangup_side": "caller",
            "source": "queue_log",
        }  # fmt: skip
        (live,) = hub.state.today.entries
        assert (live.entered_at, live.wait_s, live.talk_s) == (t, 11, 30)
        assert hub.state.today.total().sum_wait_answered == 11

        # A late AMI snapshot of the same entry changes neither.
        late = QueueEntryFact(
            node, callid, "hotline", 1, t + 1, caller_num="13800138000",
            outcome=Outcome.ANSWERED, wait_s=10, agent="1001", ended_wait_at=t + 11, talk_s=29,
            completed_at=t + 40,
        )  # fmt: skip
        pipeline.writer.submit(late, "ami")
        hub.state.on_facts([late])
        await pipeline.writer.flush()
        row = await _row(database_url, node)
        assert (row["entered"], row["wait_s"], row["talk_s"]) == (t, 11, 30)
        (live,) = hub.state.today.entries
        assert (live.entered_at, live.wait_s, live.talk_s) == (t, 11, 30)
        assert pipeline.followers[node].stats.lines == 3
        assert pipeline.shippers[node].stats.lines == 3
    finally:
        await pipeline.close()

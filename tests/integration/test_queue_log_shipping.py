"""The shipper under faults: SIGKILLed mid-run and restarted, PostgreSQL stopped for
5 s, while the lab's Asterisk takes 100 calls. Every line of queue_log reaches
``queue_log_lines`` exactly once and in order, and the facts the follower folds from
them equal queue_log's (``verify`` from the shipped lines and from the file alike).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from service_helpers import own_db

from callctl.db import asyncpg_dsn
from callctl.ingest.queue_log.follow import QueueLogFollower
from callctl.ingest.queue_log.shipped import Shipped
from callctl.ingest.verify import format_report, verify
from callctl.lab import lab as lab_module
from callctl.lab import postgres, sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

CALLS = 100


def _start_shipper(
    url: str, node: str, path: Path, state: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALLCTL_DATABASE_URL": url}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "callctl.cli", "ship-queue-log", "--node", node,
                "--path", str(path), "--state-file", str(state), "--poll-interval", "0.1",
            ],
            env=env, stdout=out, stderr=out,
        )  # fmt: skip


def _file_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [line for line in complete.decode("utf-8", "replace").split("\n") if line.strip()]


async def _shipped(url: str, node: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT line FROM queue_log_lines WHERE node = $1 ORDER BY id", node
        )
    finally:
        await conn.close()
    return [r["line"] for r in rows]


async def test_shipper_killed_and_database_stopped_loses_and_repeats_no_line(
    settings: Settings, lab: Settings, own_db: str, tmp_path: Path
) -> None:
    if settings.database_url:  # set from outside, not by `lab up`: an external server
        pytest.skip("needs the embedded cluster, which this test stops and starts")
    pg = lab_module.embedded_pg(lab)
    node = f"ship-{uuid.uuid4().hex[:8]}"
    qlog = lab.queue_log_file
    state = tmp_path / "ship.state"
    log = tmp_path / "shipper.log"
    shipper = _start_shipper(own_db, node, qlog, state, log)
    agents = await sipp.start_agents(
        work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=1
    )
    try:
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)

        async def calls() -> sipp.SippResult:
            return await sipp.run_callers(
                sipp.CallerRun(calls=CALLS, rate_per_s=10, patience_s=30),
                work_dir=tmp_path / "callers",
                local_ip=lab.trunk_ip,
                remote=f"{lab.sip_host}:{lab.sip_port}",
                timeout_s=60,
            )

        async def faults() -> subprocess.Popen[bytes]:
            await asyncio.sleep(3)
            shipper.send_signal(signal.SIGKILL)
            shipper.wait()
            await asyncio.sleep(1)
            restarted = _start_shipper(own_db, node, qlog, state, log)
            await asyncio.sleep(2)
            await asyncio.to_thread(postgres.stop, pg)
            await asyncio.sleep(5)
            await asyncio.to_thread(postgres.start, pg)
            return restarted

        result, shipper = await asyncio.gather(calls(), faults())
        assert result.failed == 0 and result.successful == CALLS  # calls never waited

        await asyncio.sleep(1)  # the last lines reach the file
        expected = _file_lines(qlog)
        deadline = time.monotonic() + 20
        shipped = await _shipped(own_db, node)
        while len(shipped) < len(expected) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            shipped = await _shipped(own_db, node)
        assert len(shipped) == len(expected), log.read_text()[-3000:]
        assert shipped == expected  # every line once, in file order
        assert "shipping failed" in log.read_text()  # the outage did hit the shipper
        print(f"\n{len(shipped)} lines shipped exactly once across a SIGKILL and a 5 s outage")

        follower = QueueLogFollower(own_db, node, poll_interval_s=0.1)
        task = asyncio.create_task(follower.run())
        try:
            await asyncio.wait_for(follower.caught_up.wait(), 30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for source in (Shipped(), qlog):
            report = await verify(own_db, source, node, since)
            print(format_report(report))
            assert report.ok, format_report(report)
            assert report.comparison.expected == report.comparison.actual == CALLS
    finally:
        await sipp.stop_agents(agents)
        if postgres.running(pg) is None:
            postgres.start(pg)
        shipper.send_signal(signal.SIGTERM)
        try:
            shipper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            shipper.kill()
            shipper.wait()

"""200 real calls while callctl is SIGKILLed for 30 s: nothing missing, nothing twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from service_helpers import control, own_db, pause_all, start_callctl, wait_healthy

from ami.connection import NodeConnection
from callctl.db import asyncpg_dsn
from callctl.facts.queue_log import EnterQueue, parse_line
from callctl.ingest.verify import format_report, verify
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["control", "own_db"]


async def _db_entries(url: str, since: datetime) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(
            await conn.fetch(
                "SELECT callid, queue, seq, outcome FROM queue_entries"
                " WHERE node = $1 AND entered_at >= $2",
                "lab",
                since,
            )
        )
    finally:
        await conn.close()


def _queue_log_entries(path: Path, since_epoch: int) -> list[str]:
    callids = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        event = parse_line(line, n)
        if isinstance(event, EnterQueue) and event.time >= since_epoch:
            callids.append(event.callid)
    return callids


async def test_callctl_killed_for_30s_loses_and_duplicates_nothing(
    lab: Settings, own_db: str, control: NodeConnection, tmp_path: Path
) -> None:
    log = tmp_path / "callctl.log"
    callctl = start_callctl(own_db, tmp_path / "spool", log)
    agents = None
    try:
        await wait_healthy()
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)  # calls start in the next whole second
        agents = await sipp.start_agents(
            work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=2
        )
        remote = f"{lab.sip_host}:{lab.sip_port}"

        async def answered_phase() -> sipp.SippResult:
            return await sipp.run_callers(
                sipp.CallerRun(calls=100, rate_per_s=5, patience_s=30),
                work_dir=tmp_path / "answered",
                local_ip=lab.trunk_ip,
                remote=remote,
                timeout_s=120,
            )

        async def kill_and_restart() -> subprocess.Popen[bytes]:
            await asyncio.sleep(8)
            callctl.send_signal(signal.SIGKILL)
            callctl.wait()
            await asyncio.sleep(30)
            return start_callctl(own_db, tmp_path / "spool", log)

        async def waiting_phases() -> tuple[sipp.SippResult, sipp.SippResult]:
            # Every agent paused: callers wait; the impatient abandon, the rest reach
            # the queue's maximum wait (CALLCTL_LAB_MAX_WAIT_S) and time out.
            await asyncio.sleep(26)
            await pause_all(control, True)
            abandon, timeout = await asyncio.gather(
                sipp.run_callers(
                    sipp.CallerRun(calls=60, rate_per_s=5, patience_s=3),
                    work_dir=tmp_path / "abandon",
                    local_ip=lab.trunk_ip,
                    remote=remote,
                    timeout_s=120,
                ),
                sipp.run_callers(
                    sipp.CallerRun(calls=40, rate_per_s=4, patience_s=90),
                    work_dir=tmp_path / "timeout",
                    local_ip=lab.trunk_ip,
                    remote=remote,
                    timeout_s=120,
                ),
            )
            await pause_all(control, False)
            return abandon, timeout

        answered, restarted, (abandoned, timed_out) = await asyncio.gather(
            answered_phase(), kill_and_restart(), waiting_phases()
        )
        callctl = restarted
        await wait_healthy()

        # SIPp's own counts: Asterisk dropped no call.
        for result in (answered, abandoned, timed_out):
            assert result.failed == 0, result.screen[-2000:]
        assert answered.successful == 100 and answered.counts["200 in"] == 100
        assert abandoned.successful == 60 and abandoned.counts["CANCEL out"] == 60
        assert timed_out.successful == 40 and timed_out.counts["480 in"] == 40

        qlog = lab.queue_log_file
        expected = _queue_log_entries(qlog, int(since.timestamp()))
        assert len(expected) == 200 and len(set(expected)) == 200

        deadline = time.monotonic() + 30
        while True:
            rows = await _db_entries(own_db, since)
            closed = [r for r in rows if r["outcome"] is not None]
            if len(closed) >= 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        keys = Counter((r["callid"], r["queue"], r["seq"]) for r in rows)
        assert sorted(r["callid"] for r in rows) == sorted(expected)  # 0 missing, 0 extra
        assert max(keys.values()) == 1  # 0 duplicated
        outcomes = Counter(r["outcome"] for r in rows)
        print(f"\noutcomes in the database: {dict(outcomes)}")
        assert outcomes == {"answered": 100, "abandoned": 60, "timeout": 40}

        # Raw events were stored for the calls callctl saw live (not the outage's).
        conn = await asyncpg.connect(asyncpg_dsn(own_db))
        try:
            seen = await conn.fetchval(
                "SELECT count(DISTINCT uniqueid) FROM ami_events WHERE name = 'QueueCallerJoin'"
                " AND received_at >= $1",
                since,
            )
        finally:
            await conn.close()
        print(f"raw QueueCallerJoin events stored for {seen} of 200 calls")
        assert 0 < seen < 200

        report = await verify(own_db, qlog, "lab", since)
        print(format_report(report))
        assert report.ok, format_report(report)
    finally:
        if agents is not None:
            await sipp.stop_agents(agents)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()

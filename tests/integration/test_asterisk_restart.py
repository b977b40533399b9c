"""A node crash: the lab's Asterisk SIGKILLed with callers waiting and agents on a break.

callctl runs as a service (``callctl serve``) against a database of its own. All 20
lab agents are paused (17 for ``break``, 3 for 小休), callers join the queue and
wait; the lab's Asterisk is killed with SIGKILL and started again by the lab's own
start function. Afterwards the waiting callers' entries are ``lost`` (in the stored
facts, ending at the QUEUESTART time, and in ``/api/v1/kpis``' offered), and every
agent is paused again with the reason it had before the crash.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from lab_node import lab_ami_node
from service_helpers import AGENTS, HTTP_PORT, own_db, start_callctl, wait_healthy

from ami import actions
from ami.connection import NodeConnection
from ami.events import QueueMember
from ami.state import ConnectionState
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.ingest.verify import format_report, verify
from callctl.lab import asterisk, process, sipp
from callctl.lab import lab as lab_module
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]

CALLERS = 6
REASONS = {agent: ("break" if i < 17 else "小休") for i, agent in enumerate(AGENTS)}


async def _members(lab: Settings) -> dict[str, QueueMember]:
    async with NodeConnection(lab_ami_node(lab), on_event=lambda e: None) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=15)
        reply = await conn.action(actions.queue_status(queue="hotline"), timeout_s=15)
    return {e.interface: e for e in reply.events if isinstance(e, QueueMember)}


async def _pause_agents(lab: Settings, reasons: dict[str, str] | None) -> None:
    """Pause each agent with its reason, or unpause them all (``None``)."""
    async with NodeConnection(lab_ami_node(lab), on_event=lambda e: None) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=15)
        for agent in AGENTS:
            if reasons is None:
                await conn.action(actions.queue_pause(agent, False), check=False)
            else:
                await conn.action(actions.queue_pause(agent, True, reason=reasons[agent]))


async def _entries(url: str, since: datetime) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(
            await conn.fetch(
                "SELECT callid, outcome, entered_at, ended_wait_at, wait_s FROM queue_entries"
                " WHERE entered_at >= $1 ORDER BY entered_at, callid",
                since,
            )
        )
    finally:
        await conn.close()


async def _poll(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)


def _queue_starts(path: Path, since_epoch: int) -> list[int]:
    starts = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("|")
        if len(fields) >= 5 and fields[4] == "QUEUESTART" and int(fields[0]) >= since_epoch:
            starts.append(int(fields[0]))
    return starts


async def _ensure_asterisk(lab: Settings) -> None:
    """Leave the lab's Asterisk running (other tests share it)."""
    paths = lab_module.asterisk_paths(lab)
    if asterisk.running(paths) is not None:
        return
    state = lab_module.LabState.load(lab.lab_dir)
    assert state is not None
    await asyncio.to_thread(asterisk.start, paths)
    await asyncio.to_thread(
        asterisk.wait_ready, paths, lab.ami_host, lab.ami_port, "callctl", state.ami_secret, 60
    )


async def test_crash_closes_waiting_callers_as_lost_and_restores_pauses(
    lab: Settings, own_db: str, tmp_path: Path
) -> None:
    paths = lab_module.asterisk_paths(lab)
    state = lab_module.LabState.load(lab.lab_dir)
    assert state is not None
    log = tmp_path / "callctl.log"
    callctl = start_callctl(own_db, tmp_path / "spool", log)
    callers: asyncio.Task[sipp.SippResult] | None = None
    try:
        await wait_healthy()
        await _pause_agents(lab, REASONS)
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)
        # Every agent is on a break: the callers wait (the lab queue's max wait is 20 s).
        callers = asyncio.create_task(
            sipp.run_callers(
                sipp.CallerRun(calls=CALLERS, rate_per_s=6, patience_s=15),
                work_dir=tmp_path / "callers",
                local_ip=lab.trunk_ip,
                remote=f"{lab.sip_host}:{lab.sip_port}",
                timeout_s=45,
            )
        )

        async def all_waiting() -> bool:
            rows = await _entries(own_db, since)
            return len(rows) == CALLERS and all(r["outcome"] is None for r in rows)

        await _poll(all_waiting, 15, f"{CALLERS} waiting entries stored by callctl")
        await asyncio.sleep(2)  # they have waited a few seconds

        pid = asterisk.running(paths)
        assert pid is not None
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)

        async def dead() -> bool:
            return not process.alive(pid)

        await _poll(dead, 10, "Asterisk to die")
        await asyncio.sleep(5)
        await asyncio.to_thread(asterisk.start, paths)
        booted_s = await asyncio.to_thread(
            asterisk.wait_ready, paths, lab.ami_host, lab.ami_port, "callctl", state.ami_secret, 60
        )
        ready_at = time.time()
        print(f"\nAsterisk killed, started again 5 s later, FullyBooted in {booted_s:.2f} s")

        # The agents paused before the crash are paused again, with their reasons.
        async def restored() -> dict[str, QueueMember] | None:
            members = await _members(lab)
            ok = all(
                (m := members.get(agent)) is not None and m.paused and m.paused_reason == reason
                for agent, reason in REASONS.items()
            )
            return members if ok else None

        await _poll(restored, 20, "callctl to pause the agents again")
        restored_s = time.time() - ready_at
        print(f"all {len(REASONS)} agents paused again {restored_s:.2f} s after FullyBooted")

        # The waiting callers are lost, ending at the restart (QUEUESTART).
        [queue_start] = _queue_starts(lab.queue_log_file, int(killed_at))

        restart = datetime.fromtimestamp(queue_start, UTC)

        # AMI closes them first (its restart time can be a second off QUEUESTART, the
        # two sides of a second boundary); the queue_log follower then makes them
        # converge on QUEUESTART's own time, within seconds.
        async def all_lost() -> list[asyncpg.Record] | None:
            rows = await _entries(own_db, since)
            converged = all(r["outcome"] == "lost" and r["ended_wait_at"] == restart for r in rows)
            return rows if converged else None

        rows = await _poll(all_lost, 30, "the waiting entries to be closed as lost at QUEUESTART")
        assert len(rows) == CALLERS
        for row in rows:
            assert row["ended_wait_at"] == restart
            assert row["wait_s"] == int((restart - row["entered_at"]).total_seconds())

        # /api/v1/kpis: the lost callers are offered, and none was answered.
        token = await provision_user(own_db, "restart.ops", Role.OPS, label="test")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
            r = await client.get(
                "/api/v1/kpis",
                params={
                    # From the run's start: the startup reconcile stored earlier runs too.
                    "start": since.isoformat(),
                    "end": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        assert r.status_code == 200, r.text
        [row] = r.json()["rows"]
        counts, figures = row["counts"], row["figures"]
        print(f"/kpis counts: {counts}")
        assert (counts["offered"], counts["lost"], counts["answered"]) == (CALLERS, CALLERS, 0)
        assert figures["answer_rate"]["value"] == 0

        await callers
        callers = None
        report = await verify(own_db, lab.queue_log_file, "lab", since)
        print(format_report(report))
        assert report.ok, format_report(report)
    finally:
        if callers is not None:
            await asyncio.gather(callers, return_exceptions=True)
        await _ensure_asterisk(lab)
        await _pause_agents(lab, None)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()

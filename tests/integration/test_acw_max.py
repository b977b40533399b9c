"""callctl (the service, as a process) ends an ACW pause that exceeds its line's
``acw_max_s``: at acw_max_s ± 1 s when it watched the pause begin, and at once after
a restart for an ACW that began while it was stopped (dated by Asterisk's LastPause).
Then ``/api/v1/kpis`` counts each ACW capped by that same line's ``acw_max_s``: the
average ACW equals the cap exactly, though the stored intervals last longer."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from agents.acw_timer import ACW_TIMEOUT_REASON
from ami import actions
from ami.connection import AmiNode, NodeConnection
from ami.events import AmiEvent, QueueMemberPause
from ami.state import ConnectionState
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]
ACW_MAX_S = 3
AGENTS = [f"PJSIP/{1001 + i}" for i in range(20)]


async def ops_token(url: str) -> str:
    return await provision_user(url, "acw-max-ops", Role.OPS, label="test")


class Service:
    """``callctl serve`` as a subprocess, started and stopped by the test."""

    def __init__(self, url: str, work: Path) -> None:
        self.url, self.work = url, work
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = start_callctl(self.url, self.work / "spool", self.work / "callctl.log")
        await wait_healthy(40)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
async def service(lab: Settings, own_db: str, tmp_path: Path) -> AsyncIterator[Service]:
    """The service on its own database; the lab's own config and unpaused agents after."""
    svc = Service(own_db, tmp_path)
    try:
        yield svc
    finally:
        svc.stop()
        await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
        async with NodeConnection(node_targets(lab)[0].apply.node, on_event=lambda e: None) as conn:
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
            for agent in AGENTS:
                await conn.action(actions.queue_pause(agent, False), check=False)


async def apply_acw_config(lab: Settings, token: str) -> None:
    """Line 12345 with ACW on and acw_max_s = 3, through the running service's REST."""
    doc = from_model(default_model(lab))
    doc.lines[0].acw = True
    doc.lines[0].acw_max_s = ACW_MAX_S
    # The lab's other lines on the same queue (12346, 12345 with the survey) get the same
    # cap: an ACW whose line callctl missed (begun while it was stopped) is held to the
    # most lenient cap of the lines reaching the agent.
    for line in doc.lines[1:]:
        if line.queue == doc.lines[0].queue:
            line.acw_max_s = ACW_MAX_S
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        r = await client.put(
            "/api/v1/routing/config",
            json=doc.model_dump(mode="json"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    assert r.status_code == 200, r.text


def pauses(
    events: list[AmiEvent], *, paused: bool, interface: str | None = None
) -> list[QueueMemberPause]:
    return [
        e
        for e in events
        if isinstance(e, QueueMemberPause)
        and e.paused is paused
        and (interface is None or e.interface == interface)
    ]


async def wait_for(check: object, timeout_s: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def one_call(lab: Settings, work: Path) -> None:
    result = await sipp.run_callers(
        sipp.CallerRun(calls=1, patience_s=30),
        work_dir=work,
        local_ip=lab.trunk_ip,
        remote=f"{lab.sip_host}:{lab.sip_port}",
        timeout_s=40,
    )
    assert result.successful == 1, result.screen


async def test_acw_past_acw_max_s_is_ended_by_the_service(
    service: Service,
    lab: Settings,
    own_db: str,
    ami_node: AmiNode,
    agents_uas: None,
    sipp_dir: Path,
) -> None:
    token = await ops_token(own_db)
    began = datetime.now(UTC) - timedelta(seconds=5)
    await service.start()
    await apply_acw_config(lab, token)
    events: list[AmiEvent] = []
    async with NodeConnection(ami_node, on_event=events.append) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)

        # 1. The service watches the ACW begin: it ends it acw_max_s later.
        await one_call(lab, sipp_dir / "watched")
        await wait_for(
            lambda: any(e.paused_reason == "acw" for e in pauses(events, paused=True)), 10
        )
        start = next(e for e in pauses(events, paused=True) if e.paused_reason == "acw")
        await wait_for(
            lambda: pauses(events, paused=False, interface=start.interface), ACW_MAX_S + 5
        )
        end = pauses(events, paused=False, interface=start.interface)[0]
        assert end.paused_reason == ACW_TIMEOUT_REASON
        assert start.timestamp is not None and end.timestamp is not None
        measured = end.timestamp - start.timestamp
        print(f"ACW ended by the service after {measured:.2f} s (acw_max_s {ACW_MAX_S})")
        assert abs(measured - ACW_MAX_S) <= 1.0, measured

        # 2. An ACW that begins while callctl is stopped (the dialplan alone pauses) is
        # still ended once callctl is back: it finds it in QueueStatus (LastPause).
        service.stop()
        events.clear()
        await one_call(lab, sipp_dir / "unwatched")
        await wait_for(
            lambda: any(e.paused_reason == "acw" for e in pauses(events, paused=True)), 10
        )
        forgotten = next(e for e in pauses(events, paused=True) if e.paused_reason == "acw")
        await asyncio.sleep(ACW_MAX_S + 1)
        assert not pauses(events, paused=False, interface=forgotten.interface)
        restarted_at = time.time()
        await service.start()
        await wait_for(lambda: pauses(events, paused=False, interface=forgotten.interface), 10)
        late_end = pauses(events, paused=False, interface=forgotten.interface)[0]
        assert late_end.paused_reason == ACW_TIMEOUT_REASON
        assert late_end.timestamp is not None and late_end.timestamp >= restarted_at - 1
        print(
            f"forgotten ACW ended {late_end.timestamp - restarted_at:.2f} s after the restart"
            f" began, {late_end.timestamp - (forgotten.timestamp or 0):.2f} s after it began"
        )

    # 3. The KPIs cap each ACW at the line's acw_max_s, the watch's own limit.
    lengths = await closed_acw_lengths(
        own_db, began, count=2, timeout_s=20, longest_above=ACW_MAX_S
    )
    print(f"stored ACW intervals: {lengths} s")
    assert max(lengths) > ACW_MAX_S  # the forgotten one, at least: the cap matters
    row = await kpis_once_both_calls_count(token, began, timeout_s=20)
    acw = row["figures"]["avg_acw_s"]
    assert (acw["value"], acw["numerator"], acw["denominator"]) == (
        float(ACW_MAX_S), 2 * ACW_MAX_S, 2
    ), row  # fmt: skip


async def kpis_once_both_calls_count(token: str, began: datetime, timeout_s: float) -> Any:
    """``/api/v1/kpis`` since ``began``, once both calls' ACW is known (the forgotten
    one's facts come from the reconcile after the restart)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        while True:
            end = datetime.now(UTC) + timedelta(minutes=1)
            params = {"start": began.isoformat(), "end": end.isoformat()}
            r = await client.get(
                "/api/v1/kpis", params=params, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["params"]["acw_max_s"] == {"12345": ACW_MAX_S, "12346": ACW_MAX_S}
            (row,) = body["rows"]
            if row["figures"]["avg_acw_s"]["denominator"] >= 2 or time.monotonic() > deadline:
                return row
            await asyncio.sleep(0.5)


async def closed_acw_lengths(
    url: str, began: datetime, *, count: int, timeout_s: float, longest_above: float = 0.0
) -> list[float]:
    """Lengths of the ACW intervals tied to a call since ``began``, once ``count`` are closed
    and the longest is above ``longest_above`` (a forgotten ACW's end converges on queue_log's
    within seconds). (The startup reconcile also stores older calls of the shared lab's
    queue_log.)"""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await conn.fetch(
                "SELECT extract(epoch FROM ended_at - started_at)::float8 AS s "
                "FROM acw_intervals WHERE ended_at IS NOT NULL AND callid IS NOT NULL "
                "AND started_at >= $1",
                began,
            )
            lengths = [row["s"] for row in rows]
            settled = len(lengths) >= count and max(lengths) > longest_above
            if settled or time.monotonic() > deadline:
                return lengths
            await asyncio.sleep(0.5)
    finally:
        await conn.close()

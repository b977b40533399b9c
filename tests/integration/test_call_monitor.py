"""Supervisor listen / whisper / barge on a real call: the supervisor's softphone (the
lab's SIPp UAS) is rung and ends up in ChanSpy on that call's agent channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from calls_helpers import NoAmi, call_in, client, running_app, token, wait_for
from fastapi import FastAPI
from lab_node import lab_ami_node
from service_helpers import own_db  # noqa: F401  (fixture)

from ami import actions
from ami.connection import NodeConnection
from ami.events import CoreShowChannel
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.calls.api import call_control
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    async for running in running_app(lab, own_db):
        yield running


@pytest.fixture
async def long_agents(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    """Agents (and the supervisor's softphone) answer after 0.5 s and talk 12 s."""
    proc = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.5, talk_s=12.0
    )
    try:
        yield
    finally:
        await sipp.stop_agents(proc)


async def channels(conn: NodeConnection) -> list[CoreShowChannel]:
    result = await conn.action(actions.core_show_channels(), timeout_s=10)
    return [e for e in result.events if isinstance(e, CoreShowChannel)]


async def test_listen_whisper_barge_on_the_agent_channel(
    lab: Settings, app: FastAPI, long_agents: None, sipp_dir: Path
) -> None:
    pool = app.state.db
    since = datetime.now(UTC) - timedelta(seconds=2)
    caller = call_in(lab, sipp_dir)
    async with (
        client(app) as http,
        NodeConnection(lab_ami_node(lab), on_event=lambda e: None) as control,
    ):
        await control.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        entry = await wait_for(
            lambda: pool.fetchrow(
                "SELECT callid, agent FROM queue_entries WHERE outcome = 'answered' "
                "AND completed_at IS NULL AND entered_at >= $1 ORDER BY entered_at DESC LIMIT 1",
                since,
            ),
            20,
            "an answered call in the facts",
        )
        callid, agent = entry["callid"], entry["agent"]
        supervisor_seat = "1019" if agent != "1019" else "1018"
        url = f"/api/v1/calls/{lab.node_id}/{callid}/monitor"

        agent_headers = await token(app, Role.AGENT, agent_id=agent)
        r = await http.post(url, json={"mode": "listen"}, headers=agent_headers)
        assert r.status_code == 403, r.text

        boss = await token(app, Role.SUPERVISOR)
        r = await http.post(url, json={"mode": "listen"}, headers=boss)  # no seat, none named
        assert r.status_code == 422 and r.json()["error"]["detail"]["field"] == "endpoint"

        spied: dict[str, str] = {}
        for mode, options in (("listen", "qEud"), ("whisper", "qEudw"), ("barge", "qEudB")):
            r = await http.post(url, json={"mode": mode, "endpoint": supervisor_seat}, headers=boss)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["agent"] == agent and body["mode"] == mode
            spy_id = body["spy_channel_id"]

            async def spying(spy_id: str = spy_id) -> CoreShowChannel | None:
                for ch in await channels(control):
                    if ch.uniqueid == spy_id and ch.application == "ChanSpy":
                        return ch
                return None

            spy = await wait_for(spying, 10, f"the {mode} spy channel in ChanSpy")
            assert spy.channel is not None and spy.channel.startswith(f"PJSIP/{supervisor_seat}-")
            now = {c.uniqueid: c for c in await channels(control)}
            target, _, flags = (spy.application_data or "").partition(",")
            assert flags == options
            # The spied channel is the agent's leg of this very call.
            spied_leg = now[target]
            assert spied_leg.channel is not None
            assert spied_leg.channel.startswith(f"PJSIP/{agent}-")
            assert spied_leg.linkedid == callid
            spied[mode] = spy_id

        # A new request asked Asterisk to hang up the same supervisor's earlier spies
        # (AMI Hangup). SIPp sends no RTP, and a ChanSpy channel that gets no frames
        # usually does not act on a soft hangup until the spied channel ends (E), but now
        # and then it does at once: so the earlier ones may or may not still be listed; the
        # latest one is, and the order holds. The audit below shows each ended.
        r = await http.get("/api/v1/monitors", headers=boss)
        listed = [m["mode"] for m in r.json() if m["callid"] == callid]
        assert listed[-1:] == ["barge"], listed
        assert listed == [m for m in ("listen", "whisper", "barge") if m in listed], listed

        # The agent hangs up (12 s talk): the spy leaves with it; every session has ended.
        async def audit_closed() -> list[Any]:
            rows = await pool.fetch(
                "SELECT mode, username, agent, started_at, ended_at, end_reason "
                "FROM monitor_sessions WHERE callid = $1 ORDER BY id",
                callid,
            )
            return rows if rows and all(r["ended_at"] is not None for r in rows) else []

        rows = await wait_for(audit_closed, 30, "the audit rows to end")
        assert [r["mode"] for r in rows] == ["listen", "whisper", "barge"]
        assert all(r["agent"] == agent and r["ended_at"] >= r["started_at"] for r in rows)

        # A finished call: refused from the facts alone, no AMI action sent.
        await wait_for(
            lambda: pool.fetchval(
                "SELECT completed_at IS NOT NULL FROM queue_entries WHERE callid = $1", callid
            ),
            20,
            "the call's completion in the facts",
        )
        app.dependency_overrides[call_control] = lambda: NoAmi(
            pool, app.state.settings, app.state.routing, app.state.monitor_watches
        )
        try:
            r = await http.post(
                url, json={"mode": "barge", "endpoint": supervisor_seat}, headers=boss
            )
            assert r.status_code == 409 and r.json()["error"]["id"] == "calls.not_connected"
            r = await http.post(
                f"/api/v1/calls/{lab.node_id}/1.nosuchcall/monitor",
                json={"mode": "listen", "endpoint": supervisor_seat},
                headers=boss,
            )
            assert r.status_code == 404
        finally:
            app.dependency_overrides.clear()
        assert await pool.fetchval("SELECT count(*) FROM monitor_sessions") == 3
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)

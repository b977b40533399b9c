"""A three-way call (三方通话) from REST on a real call: the caller and its agent move
into a ConfBridge conference led by the agent, a third seat is rung into it; AMI's
ConfbridgeList shows the three together, the conference ends when the agent hangs up,
and the queue entry still counts once, answered (facts and ``verify`` agree with
queue_log)."""

from __future__ import annotations

import asyncio
import dataclasses
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
from ami.events import AmiEvent
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.calls.api import call_control
from callctl.ingest.verify import format_report, verify
from callctl.lab import sipp
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import OutboundTrunkDoc
from callctl.routing_config.service import RoutingService
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
AGENT_TALK_S = 14.0


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    async for running in running_app(lab, own_db):
        yield running


@pytest.fixture
async def talking_agents(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    """Every seat answers after 0.5 s and hangs up 14 s later: the call's agent first
    (it answered first), which must end the conference for the other two."""
    proc = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.5, talk_s=AGENT_TALK_S
    )
    try:
        yield
    finally:
        await sipp.stop_agents(proc)


def error_fields(detail: Any) -> set[str]:
    """The field(s) a 422 names: callctl's own ``{"field": ...}`` or FastAPI's list of
    validation errors (``loc`` ends with the field)."""
    if isinstance(detail, dict):
        return {detail["field"]}
    return {str(item["loc"][-1]) for item in detail}


async def conference_members(conn: NodeConnection, name: str) -> list[dict[str, str]]:
    result = await conn.action(actions.confbridge_list(name), timeout_s=10, check=False)
    return [dict(e.headers) for e in result.events if e.name == "ConfbridgeList"]


async def test_three_way_call_led_by_the_agent(
    lab: Settings,
    own_db: str,  # noqa: F811
    app: FastAPI,
    talking_agents: None,
    sipp_dir: Path,
) -> None:
    pool = app.state.db
    since = datetime.now(UTC) - timedelta(seconds=2)
    caller = call_in(lab, sipp_dir)
    boss = await token(app, Role.SUPERVISOR)
    async with (
        client(app) as http,
        NodeConnection(lab_ami_node(lab), on_event=lambda _: None) as control,
    ):
        await control.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        entry = await wait_for(
            lambda: pool.fetchrow(
                "SELECT callid, agent FROM queue_entries WHERE queue = 'hotline' "
                "AND outcome = 'answered' AND completed_at IS NULL AND entered_at >= $1",
                since,
            ),
            20,
            "the call answered in hotline",
        )
        callid, agent = entry["callid"], entry["agent"]
        seat = "1020" if agent != "1020" else "1019"
        url = f"/api/v1/calls/{lab.node_id}/{callid}/conference"

        # Bad input: 422 naming the field, and nothing reaches AMI.
        app.dependency_overrides[call_control] = lambda: NoAmi(
            pool,
            app.state.settings,
            RoutingService(pool, app.state.settings),
            app.state.monitor_watches,
        )
        try:
            for body, field in (
                ({"kind": "agent", "target": f"{seat}\r\nAction: Hangup"}, "target"),
                ({"kind": "agent", "target": "9999"}, "target"),
                ({"kind": "agent", "target": agent}, "target"),  # already on the call
                ({"kind": "external", "target": "13800138000;x"}, "target"),
                ({"kind": "external", "target": "0085212345678"}, "target"),
                ({"kind": "external", "target": "1390000000\n0"}, "target"),
                ({"kind": "queue", "target": "hotline"}, "kind"),
            ):
                r = await http.post(url, json=body, headers=boss)
                assert r.status_code == 422, (body, r.text)
                assert field in error_fields(r.json()["error"]["detail"]), (body, r.text)
        finally:
            app.dependency_overrides.clear()
        other = "1019" if agent != "1019" else "1018"
        not_on_it = await token(app, Role.AGENT, agent_id=other)
        r = await http.post(url, json={"kind": "agent", "target": seat}, headers=not_on_it)
        assert r.status_code == 403, r.text

        # The call's own agent asks for it.
        own_agent = await token(app, Role.AGENT, agent_id=agent)
        r = await http.post(url, json={"kind": "agent", "target": seat}, headers=own_agent)
        assert r.status_code == 200, r.text
        started = r.json()
        name = started["conference"]
        assert started["agent"] == agent
        assert started["party_channel"] == f"Local/{seat}@callctl-transfer-agent"

        # A second request on the same call while the conference lasts: 409.
        r = await http.post(url, json={"kind": "agent", "target": seat}, headers=boss)
        assert r.status_code == 409, r.text

        async def three_in_it() -> list[dict[str, str]]:
            members = await conference_members(control, name)
            return members if len(members) == 3 else []

        members = await wait_for(three_in_it, 10, "caller, agent and third party in one conference")
        by_channel = {m["Channel"]: m for m in members}
        agents = [m for c, m in by_channel.items() if c.startswith(f"PJSIP/{agent}-")]
        assert len(agents) == 1 and agents[0]["MarkedUser"] == "Yes" and agents[0]["Admin"] == "Yes"
        callers = [m for c, m in by_channel.items() if c == started["caller_channel"]]
        assert len(callers) == 1 and callers[0]["EndMarked"] == "Yes"
        assert callers[0]["MarkedUser"] == "No"
        party = [
            m
            for c, m in by_channel.items()
            if c.startswith((f"PJSIP/{seat}-", f"Local/{seat}@callctl-transfer-agent"))
        ]
        assert len(party) == 1 and party[0]["EndMarked"] == "Yes"

        # The agent (SIPp) hangs up: the conference ends for everyone.
        async def gone() -> bool:
            result = await control.action(actions.confbridge_list(name), check=False)
            return not result.ok  # "No Conference by that name found."

        await wait_for(gone, AGENT_TALK_S + 10, "the conference ended with the agent")

        async def audited() -> Any:
            r = await http.get(f"/api/v1/conferences/{started['conference_id']}", headers=boss)
            assert r.status_code == 200, r.text
            body = r.json()
            return body if body["ended_at"] is not None else None

        audit = await wait_for(audited, 10, "the conference's end in the audit")
        assert audit["end_reason"] == "ended"
        assert audit["agent"] == agent and audit["target"] == seat
        assert audit["username"].startswith("agent-")
        roles = sorted(m["role"] for m in audit["members"])
        assert roles == ["caller", "leader", "party"], audit
        assert all(m["left_at"] is not None for m in audit["members"])
        leader = next(m for m in audit["members"] if m["role"] == "leader")
        assert leader["channel"] == started["agent_channel"]

        rows = await wait_for(
            lambda: pool.fetch(
                "SELECT queue, outcome, agent, completed_at FROM queue_entries "
                "WHERE callid = $1 AND completed_at IS NOT NULL",
                callid,
            ),
            20,
            "the entry completed",
        )
        all_rows = await pool.fetch("SELECT outcome FROM queue_entries WHERE callid = $1", callid)
        assert [r["outcome"] for r in all_rows] == ["answered"]
        assert (rows[0]["queue"], rows[0]["agent"]) == ("hotline", agent)

    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.sleep(1.5)  # the queue_log follower's last fold
    report = await verify(own_db, lab.queue_log_file, lab.node_id, since)
    assert report.ok, format_report(report)
    assert report.comparison.expected >= 1


@pytest.fixture
async def carrier(lab: Settings, app: FastAPI) -> AsyncIterator[None]:
    """The lab's config plus an outbound trunk whose server is the SIPp UAS that answers
    for the seats (it answers any INVITE), applied through REST."""
    ops = await token(app, Role.OPS)
    doc = from_model(default_model(lab))
    doc.outbound_trunk = OutboundTrunkDoc(
        name="carrier", host=lab.agents_ip, port=5060, caller_id="089812345", max_channels=4
    )
    async with client(app) as http:
        r = await http.put("/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=ops)
        assert r.status_code == 200, r.text
        yield
        lab_doc = from_model(default_model(lab)).model_dump(mode="json")
        r = await http.put("/api/v1/routing/config", json=lab_doc, headers=ops)
        if r.status_code != 200:  # still leave the lab as other tests expect it
            await apply_model(default_model(lab), node_targets(lab)[0].apply, None)


async def test_three_way_call_with_a_number_through_the_outbound_trunk(
    lab: Settings,
    own_db: str,  # noqa: F811
    app: FastAPI,
    carrier: None,
    talking_agents: None,
    sipp_dir: Path,
) -> None:
    """The third party is an external number: rung through callctl-outbound and the
    routing config's outbound trunk, presenting the trunk's number (号码), not the
    agent's seat."""
    pool = app.state.db
    since = datetime.now(UTC) - timedelta(seconds=2)
    caller = call_in(lab, sipp_dir)
    boss = await token(app, Role.SUPERVISOR)
    events: list[AmiEvent] = []
    node = dataclasses.replace(lab_ami_node(lab), excluded_events=())
    async with client(app) as http, NodeConnection(node, on_event=events.append) as control:
        await control.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        entry = await wait_for(
            lambda: pool.fetchrow(
                "SELECT callid, agent FROM queue_entries WHERE queue = 'hotline' "
                "AND outcome = 'answered' AND completed_at IS NULL AND entered_at >= $1",
                since,
            ),
            20,
            "the call answered in hotline",
        )
        url = f"/api/v1/calls/{lab.node_id}/{entry['callid']}/conference"
        r = await http.post(url, json={"kind": "external", "target": "13800138000"}, headers=boss)
        assert r.status_code == 200, r.text
        name = r.json()["conference"]
        assert r.json()["party_channel"] == "Local/13800138000@callctl-outbound"

        async def three_in_it() -> list[dict[str, str]]:
            members = await conference_members(control, name)
            return members if len(members) == 3 else []

        members = await wait_for(three_in_it, 10, "caller, agent and the number in one conference")
        channels = [m["Channel"] for m in members]
        assert any(c.startswith(("PJSIP/carrier-", "Local/13800138000@")) for c in channels)

        def presented() -> set[str]:
            """Caller numbers the trunk's outgoing channel showed on AMI."""
            shown = set()
            for e in events:
                if (e.headers.get("Channel") or "").startswith("PJSIP/carrier-"):
                    shown.add(e.headers.get("CallerIDNum", ""))
                if (e.headers.get("DestChannel") or "").startswith("PJSIP/carrier-"):
                    shown.add(e.headers.get("DestCallerIDNum", ""))
            return shown

        assert "089812345" in presented(), presented()
        assert entry["agent"] not in presented()

        async def gone() -> bool:
            result = await control.action(actions.confbridge_list(name), check=False)
            return not result.ok

        await wait_for(gone, AGENT_TALK_S + 10, "the conference ended with the agent")
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.sleep(1.5)
    report = await verify(own_db, lab.queue_log_file, lab.node_id, since)
    assert report.ok, format_report(report)

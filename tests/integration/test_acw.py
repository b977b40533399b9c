"""After-call work owned by Asterisk: the dialplan pauses the agent with reason ``acw``
when a queue call ends (no callctl service runs here), and REST ends it; the ACW
measured from the pause events equals the scripted ACW within 1 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ami.connection import AmiNode, NodeConnection
from ami.events import AmiEvent, QueueMemberPause
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
SCRIPTED_ACW_S = 3.0


@pytest.fixture
async def lab_with_acw(
    lab: Settings, api_client: httpx.AsyncClient, make_token: object
) -> AsyncIterator[Settings]:
    """The lab's config with ACW on for line 12345, applied through REST; restored after."""
    assert callable(make_token)
    headers = {"Authorization": f"Bearer {await make_token(Role.OPS)}"}
    lab_doc = from_model(default_model(lab))
    line = {**lab_doc.lines[0].model_dump(mode="json"), "acw": True}
    r = await api_client.put(
        "/api/v1/routing/config", json=lab_doc.model_dump(mode="json"), headers=headers
    )
    assert r.status_code == 200, r.text
    r = await api_client.put("/api/v1/routing/lines/12345", json=line, headers=headers)
    assert r.status_code == 200, r.text
    yield lab
    r = await api_client.put(
        "/api/v1/routing/config", json=lab_doc.model_dump(mode="json"), headers=headers
    )
    if r.status_code != 200:  # still leave the lab as other tests expect it
        await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
    assert r.status_code == 200, r.text


async def test_acw_paused_by_dialplan_and_ended_by_rest(
    lab_with_acw: Settings,
    ami_node: AmiNode,
    agents_uas: None,
    sipp_dir: Path,
    api_client: httpx.AsyncClient,
    make_token: object,
) -> None:
    assert callable(make_token)
    lab = lab_with_acw
    token = await make_token(Role.SUPERVISOR)
    events: list[AmiEvent] = []
    async with NodeConnection(ami_node, on_event=events.append) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        result = await sipp.run_callers(
            sipp.CallerRun(calls=1, patience_s=30),
            work_dir=sipp_dir,
            local_ip=lab.trunk_ip,
            remote=f"{lab.sip_host}:{lab.sip_port}",
            timeout_s=40,
        )
        assert result.successful == 1, result.screen

        def acw_pauses() -> list[QueueMemberPause]:
            return [
                e
                for e in events
                if isinstance(e, QueueMemberPause) and e.paused and e.paused_reason == "acw"
            ]

        for _ in range(50):
            if acw_pauses():
                break
            await asyncio.sleep(0.1)
        pause = acw_pauses()[0]
        agent_id = pause.interface.removeprefix("PJSIP/")
        await asyncio.sleep(SCRIPTED_ACW_S)
        r = await api_client.post(
            f"/api/v1/agents/{agent_id}/acw/end", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        assert all(not q["paused"] for q in r.json()["queues"])
        for _ in range(50):
            unpauses = [
                e
                for e in events
                if isinstance(e, QueueMemberPause)
                and e.interface == pause.interface
                and e.paused is False
            ]
            if unpauses:
                break
            await asyncio.sleep(0.1)
    assert pause.timestamp is not None and unpauses[0].timestamp is not None
    measured = unpauses[0].timestamp - pause.timestamp
    assert abs(measured - SCRIPTED_ACW_S) <= 1.0, measured

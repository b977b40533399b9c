"""Acceptance of skill overflow: a call to 12333 reaches the 人社 expert queue; with every
expert busy for 30 s it overflows to a general agent.

The sample model (routing/sample_model.py) goes in through REST, with its agents
answered by the SIPp agents UAS (static contacts and members) and line 12333 open
around the clock (its office hours would make the test depend on the time of day).
The lab's own config comes back after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ami.connection import AmiNode, NodeConnection
from ami.events import AgentConnect, AmiEvent, QueueCallerJoin
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.lab.sample_model import sample_model
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
EXPERTS = {"PJSIP/2001", "PJSIP/2002"}  # 人社 skill: penalties 0 and 2 in hrss-expert
GENERAL = {"PJSIP/2101", "PJSIP/2102", "PJSIP/2103", "PJSIP/2201"}  # overflow band
OVERFLOW_AFTER_S = 30
CITIZEN = sipp.Caller(number="13912333000", name="市民")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def sample_lab(
    lab: Settings, api_client: httpx.AsyncClient, make_token: object
) -> AsyncIterator[Settings]:
    assert callable(make_token)
    headers = bearer(await make_token(Role.OPS))
    doc = from_model(sample_model("unused-secret-0123456789"))
    for agent in doc.agents:
        agent.static_contact_ip = lab.agents_ip
        agent.static_member = True
    line = next(ln for ln in doc.lines if ln.number == "12333")
    line.hours, line.holidays = [], []
    overflow = next(q for q in doc.queues if q.name == "hrss-expert").overflow
    assert overflow is not None and overflow.after_s == OVERFLOW_AFTER_S
    r = await api_client.put(
        "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=headers
    )
    assert r.status_code == 200, r.text
    try:
        yield lab
    finally:
        lab_doc = from_model(default_model(lab)).model_dump(mode="json")
        r = await api_client.put("/api/v1/routing/config", json=lab_doc, headers=headers)
        if r.status_code != 200:  # still leave the lab as other tests expect it
            await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
        assert r.status_code == 200, r.text


async def test_12333_overflows_from_busy_experts_to_a_general_agent_after_30s(
    sample_lab: Settings, ami_node: AmiNode, tmp_path: Path
) -> None:
    lab = sample_lab
    remote = f"{lab.sip_host}:{lab.sip_port}"
    events: list[AmiEvent] = []
    # Every agent rings 1 s and talks 45 s: the experts' first calls keep them busy
    # past the 30 s overflow point of the call under test.
    uas = await sipp.start_agents(
        work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=45
    )
    try:
        async with NodeConnection(ami_node, on_event=events.append) as conn:
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)

            def connects() -> list[AgentConnect]:
                return [e for e in events if isinstance(e, AgentConnect)]

            busy = asyncio.create_task(
                sipp.run_callers(
                    sipp.CallerRun(calls=2, rate_per_s=2, patience_s=20, service="12333"),
                    work_dir=tmp_path / "busy",
                    local_ip=lab.trunk_ip,
                    remote=remote,
                    timeout_s=90,
                )
            )
            for _ in range(100):
                if len(connects()) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert {c.interface for c in connects()} == EXPERTS, connects()

            result = await sipp.run_callers(
                sipp.CallerRun(
                    calls=1, patience_s=60, talk_s=1, service="12333", callers=[CITIZEN]
                ),
                work_dir=tmp_path / "citizen",
                local_ip=lab.trunk_ip,
                remote=remote,
                timeout_s=90,
            )
            assert result.successful == 1, result.screen
            busy_result = await busy
            assert busy_result.successful == 2, busy_result.screen
    finally:
        await sipp.stop_agents(uas)

    joins = [
        e for e in events if isinstance(e, QueueCallerJoin) and e.caller_id_num == CITIZEN.number
    ]
    assert [j.queue for j in joins] == ["hrss-expert"]
    (answered,) = [c for c in connects() if c.caller_id_num == CITIZEN.number]
    assert answered.queue == "hrss-expert"
    assert answered.interface in GENERAL, answered.interface
    assert answered.hold_s is not None and answered.hold_s >= OVERFLOW_AFTER_S
    print(f"12333 caller answered by {answered.interface} after {answered.hold_s} s of waiting")

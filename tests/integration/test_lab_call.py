"""A real call through the lab: SIPp caller → 12345 → queue → SIPp agent, seen over AMI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ami.connection import AmiNode, NodeConnection
from ami.events import AgentComplete, AgentConnect, AmiEvent, QueueCallerJoin
from ami.state import ConnectionState
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration


async def test_queued_call_is_observed_over_ami(
    lab: Settings, ami_node: AmiNode, agents_uas: None, sipp_dir: Path
) -> None:
    events: list[AmiEvent] = []
    async with NodeConnection(ami_node, on_event=events.append) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        result = await sipp.run_callers(
            sipp.CallerRun(
                calls=1,
                patience_s=30,
                callers=[sipp.Caller(number="13812345678", name="张三丰")],
            ),
            work_dir=sipp_dir,
            local_ip=lab.trunk_ip,
            remote=f"{lab.sip_host}:{lab.sip_port}",
            timeout_s=40,
        )
        assert result.successful == 1, result.screen
        assert result.counts["200 in"] == 1  # answered by an agent, not abandoned
        # AgentComplete follows the agent's BYE; give the event a moment to arrive.
        for _ in range(50):
            if any(isinstance(e, AgentComplete) for e in events):
                break
            await asyncio.sleep(0.1)

    joins = [e for e in events if isinstance(e, QueueCallerJoin)]
    connects = [e for e in events if isinstance(e, AgentConnect)]
    completes = [e for e in events if isinstance(e, AgentComplete)]
    assert len(joins) == len(connects) == len(completes) == 1
    join, connect, complete = joins[0], connects[0], completes[0]
    assert join.queue == connect.queue == complete.queue == "hotline"
    assert join.uniqueid == connect.uniqueid == complete.uniqueid
    assert join.linkedid == connect.linkedid == complete.linkedid == join.uniqueid
    # The agent leg is another channel of the same call.
    assert connect.dest_uniqueid is not None and connect.dest_uniqueid != join.uniqueid
    assert connect.dest_linkedid == join.linkedid
    assert join.caller_id_num == "13812345678"
    assert join.caller_id_name == "张三丰"
    assert complete.talk_s is not None and complete.talk_s >= 1
    assert all(e.node == lab.node_id for e in (join, connect, complete))

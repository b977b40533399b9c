"""RestartRestorer on a real NodeConnection to the fake AMI server: what it sends."""

from __future__ import annotations

import asyncio
import time

from agents.restore_watch import RestartRestorer
from ami.connection import AmiNode, NodeConnection
from ami.state import ConnectionState
from ami.testing import FakeAmiServer


def member(agent: str, *, paused: str = "", dynamic: bool = False) -> dict[str, str]:
    return {
        "Event": "QueueMember",
        "Queue": "hotline",
        "Name": agent,
        "Location": f"PJSIP/{agent}",
        "StateInterface": f"PJSIP/{agent}",
        "Membership": "dynamic" if dynamic else "static",
        "Penalty": "0",
        "Paused": "1" if paused else "0",
        "PausedReason": paused,
    }


BEFORE = [
    member("1001", paused="break"),
    member("1002"),
    member("1003", paused="午休", dynamic=True),
]


def node(server: FakeAmiServer) -> AmiNode:
    return AmiNode(
        node_id="ast-1",
        host="127.0.0.1",
        port=server.port,
        username="callctl",
        secret="secret",
        backoff_base=0.05,
        backoff_cap=0.2,
        action_timeout=1.0,
    )


async def _run(
    server: FakeAmiServer, *, asterisk_restarted: bool, restorer: RestartRestorer | None = None
) -> RestartRestorer:
    restorer = restorer or RestartRestorer("ast-1")
    conn = NodeConnection(node(server), on_event=restorer.on_event, on_resync=restorer.on_resync)
    async with conn:
        restorer.start(conn)
        try:
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=5)
            await server.kill()
            # Static members come back unpaused; the dynamic one was not in astdb.
            server.queue_status = [member("1001"), member("1002")]
            if asterisk_restarted:
                server.booted_at = time.time()
            await server.start()
            await conn.wait_for_state(ConnectionState.DOWN, timeout_s=5)
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=5)
            if asterisk_restarted:
                await asyncio.wait_for(restorer.done.wait(), 5)
        finally:
            await restorer.stop()
    return restorer


async def test_after_a_restart_the_known_pauses_and_dynamic_logins_are_sent_back() -> None:
    async with FakeAmiServer(queue_status=BEFORE) as server:
        restorer = await _run(server, asterisk_restarted=True)

    sent = [
        (f.get("Action"), dict(f.pairs))
        for f in server.received
        if f.get("Action") in ("QueuePause", "QueueAdd")
    ]
    assert [
        (name, {k: v for k, v in h.items() if k not in ("Action", "ActionID")}) for name, h in sent
    ] == [
        (
            "QueuePause",
            {"Interface": "PJSIP/1001", "Paused": "true", "Queue": "hotline", "Reason": "break"},
        ),
        (
            "QueueAdd",
            {
                "Queue": "hotline",
                "Interface": "PJSIP/1003",
                "MemberName": "1003",
                "Penalty": "0",
                "Paused": "true",
                "Reason": "午休",
                "StateInterface": "PJSIP/1003",
            },
        ),
    ]
    assert (restorer.stats.restarts, restorer.stats.actions_sent) == (1, 2)


async def test_an_ami_reconnect_to_the_same_boot_sends_nothing() -> None:
    async with FakeAmiServer(queue_status=BEFORE) as server:
        restorer = await _run(server, asterisk_restarted=False)
        await asyncio.sleep(0.2)

    assert not server.actions_named("QueuePause") and not server.actions_named("QueueAdd")
    assert restorer.stats.restarts == 0


async def test_an_agent_homed_on_another_node_is_not_logged_in_again_here() -> None:
    async def homed_elsewhere() -> frozenset[str]:
        return frozenset({"PJSIP/1003"})

    restorer = RestartRestorer("ast-1", homed_elsewhere=homed_elsewhere)
    async with FakeAmiServer(queue_status=BEFORE) as server:
        await _run(server, asterisk_restarted=True, restorer=restorer)

    assert not server.actions_named("QueueAdd")
    assert [f.get("Interface") for f in server.actions_named("QueuePause")] == ["PJSIP/1001"]
    assert restorer.stats.actions_sent == 1

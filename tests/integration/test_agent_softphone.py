"""Agents as real SIP clients (SIPp with digest auth), no callctl service running:
REGISTER (right and wrong password), and the feature codes *21 log in, *23<n> pause
with a reason, *24 unpause, *25 end after-call work (only ACW), *22 log out.

The config (two agents of queue ``hotline``: 1901 a registering softphone, 1902
answered by the SIPp UAS) goes in through REST; the lab's own comes back after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from ami import actions
from ami.connection import AmiNode, NodeConnection
from ami.events import AmiEvent, QueueMember, QueueMemberPause
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import AgentDoc, MembershipDoc
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
SOFTPHONE = sipp.SipAccount("1901", "softphone-1901-pass")
AGENT = sipp.SipAccount("1902", "agent-1902-password")
AGENT_IFACE = "PJSIP/1902"
SCRIPTED_ACW_S = 3.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def softphone_lab(
    lab: Settings, api_client: httpx.AsyncClient, make_token: object
) -> AsyncIterator[Settings]:
    assert callable(make_token)
    headers = bearer(await make_token(Role.OPS))
    lab_doc = from_model(default_model(lab))
    doc = lab_doc.model_copy(deep=True)
    doc.lines[0].acw = True
    doc.agents = [
        AgentDoc(
            agent_id=SOFTPHONE.username,
            name="坐席 1901",
            password=SOFTPHONE.password,
            memberships=[MembershipDoc(queue="hotline")],
        ),
        AgentDoc(
            agent_id=AGENT.username,
            name="坐席 1902",
            password=AGENT.password,
            memberships=[MembershipDoc(queue="hotline")],
            static_contact_ip=lab.agents_ip,
        ),
    ]
    r = await api_client.put(
        "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=headers
    )
    assert r.status_code == 200, r.text
    try:
        yield lab
    finally:
        # Dynamic members persist in Asterisk's astdb: leave none behind.
        async with NodeConnection(node_targets(lab)[0].apply.node, on_event=lambda e: None) as conn:
            await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
            for iface in ("PJSIP/1901", AGENT_IFACE):
                await conn.action(actions.queue_remove("hotline", iface), check=False)
        r = await api_client.put(
            "/api/v1/routing/config", json=lab_doc.model_dump(mode="json"), headers=headers
        )
        if r.status_code != 200:  # still leave the lab as other tests expect it
            await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
        assert r.status_code == 200, r.text


def remote(lab: Settings) -> str:
    return f"{lab.sip_host}:{lab.sip_port}"


async def contacts_of(conn: NodeConnection, endpoint: str) -> list[str]:
    result = await conn.action(actions.pjsip_show_contacts(), timeout_s=10, check=False)
    return [
        e.headers.get("Uri", "") for e in result.events if e.headers.get("Endpoint") == endpoint
    ]


async def test_register_with_digest_auth(
    softphone_lab: Settings, ami_node: AmiNode, sipp_dir: Path
) -> None:
    lab = softphone_lab
    where = {"work_dir": sipp_dir, "local_ip": lab.agents_ip, "remote": remote(lab)}
    async with NodeConnection(ami_node, on_event=lambda e: None) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        # No contact left from an earlier, interrupted run (contacts live in astdb).
        await sipp.register(SOFTPHONE, expires_s=0, **where)  # type: ignore[arg-type]
        assert await contacts_of(conn, SOFTPHONE.username) == []

        wrong = sipp.SipAccount(SOFTPHONE.username, "not-the-password")
        refused = await sipp.register(wrong, **where)  # type: ignore[arg-type]
        assert refused.counts["401 in"] == 1  # the challenge
        assert refused.counts["200 in"] == 0
        assert refused.counts["401 in #2"] + refused.counts["403 in"] == 1, refused.screen
        assert await contacts_of(conn, SOFTPHONE.username) == []

        registered = await sipp.register(SOFTPHONE, **where)  # type: ignore[arg-type]
        assert registered.counts["200 in"] == 1, registered.screen
        (uri,) = await contacts_of(conn, SOFTPHONE.username)
        assert uri.startswith(f"sip:{SOFTPHONE.username}@{lab.agents_ip}:")

        gone = await sipp.register(SOFTPHONE, expires_s=0, **where)  # type: ignore[arg-type]
        assert gone.counts["200 in"] == 1, gone.screen
        assert await contacts_of(conn, SOFTPHONE.username) == []


async def member(conn: NodeConnection) -> QueueMember | None:
    result = await conn.action(actions.queue_status("hotline", AGENT_IFACE), timeout_s=10)
    found = [e for e in result.events if isinstance(e, QueueMember)]
    return found[0] if found else None


async def wait_for(check: Callable[[], object], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def agent_pauses(events: list[AmiEvent], paused: bool) -> list[QueueMemberPause]:
    return [
        e
        for e in events
        if isinstance(e, QueueMemberPause) and e.interface == AGENT_IFACE and e.paused is paused
    ]


async def test_feature_codes_from_a_sip_client_and_acw_without_callctl(
    softphone_lab: Settings,
    ami_node: AmiNode,
    agents_uas: None,
    sipp_dir: Path,
    api_client: httpx.AsyncClient,
    make_token: object,
) -> None:
    assert callable(make_token)
    lab = softphone_lab
    events: list[AmiEvent] = []

    async def dial(code: str) -> None:
        result = await sipp.dial_feature_code(
            AGENT, code, work_dir=sipp_dir, local_ip=lab.agents_ip, remote=remote(lab)
        )
        assert result.counts["200 in"] == 1 and result.counts["BYE in"] == 1, result.screen

    async def queue_call() -> QueueMemberPause:
        """A caller answered by 1902 (the only member); its ACW pause begins at hangup."""
        events.clear()
        result = await sipp.run_callers(
            sipp.CallerRun(calls=1, patience_s=30),
            work_dir=sipp_dir,
            local_ip=lab.trunk_ip,
            remote=remote(lab),
            timeout_s=40,
        )
        assert result.successful == 1, result.screen
        await wait_for(
            lambda: any(p.paused_reason == "acw" for p in agent_pauses(events, True)), 10
        )
        return next(p for p in agent_pauses(events, True) if p.paused_reason == "acw")

    async with NodeConnection(ami_node, on_event=events.append) as conn:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        assert await member(conn) is None

        await dial("*21")  # log in
        logged_in = await member(conn)
        assert logged_in is not None and logged_in.membership == "dynamic"
        assert not logged_in.paused

        await dial("*231")  # pause: 小休 break
        paused = await member(conn)
        assert paused is not None and paused.paused and paused.paused_reason == "break"
        await dial("*25")  # not after-call work: the break stays
        still = await member(conn)
        assert still is not None and still.paused and still.paused_reason == "break"
        await dial("*24")  # unpause
        unpaused = await member(conn)
        assert unpaused is not None and not unpaused.paused

        # ACW begins by the dialplan alone and the agent ends it by *25.
        acw = await queue_call()
        await asyncio.sleep(SCRIPTED_ACW_S)
        await dial("*25")
        await wait_for(lambda: agent_pauses(events, False), 5)
        end = agent_pauses(events, False)[0]
        assert acw.timestamp is not None and end.timestamp is not None
        measured = end.timestamp - acw.timestamp
        print(f"ACW ended by *25 after {measured:.2f} s (scripted {SCRIPTED_ACW_S} s)")
        assert abs(measured - SCRIPTED_ACW_S) <= 1.0, measured

        # The reported bug: ACW, then unpause and a break through REST; *25 must not
        # end the break (the in-ACW mark went with the REST unpause).
        await queue_call()
        headers = bearer(await make_token(Role.SUPERVISOR))
        r = await api_client.post(f"/api/v1/agents/{AGENT.username}/unpause", headers=headers)
        assert r.status_code == 200, r.text
        r = await api_client.post(
            f"/api/v1/agents/{AGENT.username}/pause", json={"reason": "meeting"}, headers=headers
        )
        assert r.status_code == 200, r.text
        await dial("*25")
        kept = await member(conn)
        assert kept is not None and kept.paused and kept.paused_reason == "meeting"

        await dial("*24")
        await dial("*22")  # log out
        assert await member(conn) is None

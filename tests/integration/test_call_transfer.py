"""A blind transfer from REST on a real call: the caller leaves queue ``hotline`` for a
second queue and is answered there; facts and ``verify`` agree with queue_log."""

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

from ami.connection import AmiNode, NodeConnection
from ami.events import AmiEvent, BridgeEnter
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.calls.api import call_control
from callctl.ingest.verify import format_report, verify
from callctl.lab import sipp
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import MembershipDoc, QueueDoc
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration
SECOND = "hotline2"


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    async for running in running_app(lab, own_db):
        yield running


@pytest.fixture
async def second_queue(lab: Settings, app: FastAPI) -> AsyncIterator[dict[str, str]]:
    """The lab's config plus queue hotline2 (agents 1011-1020), applied through REST."""
    ops = await token(app, Role.OPS)
    doc = from_model(default_model(lab))
    doc.queues.append(QueueDoc(name=SECOND, strategy="ringall", max_wait_s=20))
    for agent in doc.agents:
        if int(agent.agent_id) >= 1011:
            agent.memberships.append(MembershipDoc(queue=SECOND))
    async with client(app) as http:
        r = await http.put("/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=ops)
        assert r.status_code == 200, r.text
        yield ops
        lab_doc = from_model(default_model(lab)).model_dump(mode="json")
        r = await http.put("/api/v1/routing/config", json=lab_doc, headers=ops)
        if r.status_code != 200:  # still leave the lab as other tests expect it
            await apply_model(default_model(lab), node_targets(lab)[0].apply, None)


@pytest.fixture
async def talking_agents(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    proc = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.5, talk_s=6.0
    )
    try:
        yield
    finally:
        await sipp.stop_agents(proc)


async def test_blind_transfer_to_a_second_queue(
    lab: Settings,
    own_db: str,  # noqa: F811
    app: FastAPI,
    second_queue: dict[str, str],
    talking_agents: None,
    sipp_dir: Path,
) -> None:
    pool = app.state.db
    since = datetime.now(UTC) - timedelta(seconds=2)
    caller = call_in(lab, sipp_dir)
    boss = await token(app, Role.SUPERVISOR)
    async with client(app) as http:
        entry = await wait_for(
            lambda: pool.fetchrow(
                "SELECT callid, agent FROM queue_entries WHERE queue = 'hotline' "
                "AND outcome = 'answered' AND completed_at IS NULL AND entered_at >= $1",
                since,
            ),
            20,
            "the call answered in hotline",
        )
        callid = entry["callid"]
        url = f"/api/v1/calls/{lab.node_id}/{callid}/transfer"

        # Bad targets: 422 naming the field, and nothing reaches AMI.
        app.dependency_overrides[call_control] = lambda: NoAmi(
            pool, app.state.settings, app.state.routing, app.state.monitor_watches
        )
        try:
            for body in (
                {"kind": "queue", "target": f"{SECOND}\r\nAction: Hangup"},
                {"kind": "queue", "target": "nosuch"},
                {"kind": "external", "target": "13800138000;x"},
                {"kind": "external", "target": "0085212345678"},
                {"kind": "agent", "target": "1001\n"},
            ):
                r = await http.post(url, json=body, headers=boss)
                assert r.status_code == 422, (body, r.text)
                assert r.json()["error"]["detail"]["field"] == "target"
        finally:
            app.dependency_overrides.clear()
        other = "1020" if entry["agent"] != "1020" else "1019"
        not_on_it = await token(app, Role.AGENT, agent_id=other)  # an agent not on the call
        r = await http.post(url, json={"kind": "queue", "target": SECOND}, headers=not_on_it)
        assert r.status_code == 403, r.text

        r = await http.post(url, json={"kind": "queue", "target": SECOND}, headers=boss)
        assert r.status_code == 200, r.text
        assert r.json()["context"] == f"callctl-queue-{SECOND}"

        async def both_legs() -> list[Any]:
            rows = await pool.fetch(
                "SELECT queue, outcome, agent, hangup_side, completed_at FROM queue_entries "
                "WHERE callid = $1 ORDER BY entered_at, queue",
                callid,
            )
            done = len(rows) == 2 and all(r["completed_at"] is not None for r in rows)
            return rows if done else []

        rows = await wait_for(both_legs, 30, "both legs answered and completed")
        first, second = rows
        assert (first["queue"], first["outcome"], first["hangup_side"]) == (
            "hotline",
            "answered",
            "transfer",
        )
        assert (second["queue"], second["outcome"]) == (SECOND, "answered")
        assert second["agent"] != first["agent"]
        transfers = await pool.fetch("SELECT * FROM call_transfers WHERE callid = $1", callid)
        assert [(t["queue"], t["target_kind"], t["target"]) for t in transfers] == [
            ("hotline", "queue", SECOND)
        ]

    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.sleep(1.5)  # the queue_log follower's last fold
    report = await verify(own_db, lab.queue_log_file, lab.node_id, since)
    assert report.ok, format_report(report)
    assert report.comparison.expected >= 2


def _with_bridge_events(node: AmiNode) -> AmiNode:
    """The test watches BridgeEnter, which callctl's own connections ask Asterisk not to send."""
    kept = tuple(e for e in node.excluded_events if e not in ("BridgeEnter", "BridgeLeave"))
    return dataclasses.replace(node, excluded_events=kept)


async def _queue_log_end(lab: Settings, callid: str) -> str | None:
    """How queue_log says the answered entry of ``callid`` in hotline ended, if it has."""
    text = await asyncio.to_thread(lab.queue_log_file.read_text, errors="replace")
    for line in reversed(text.splitlines()[-500:]):
        parts = line.split("|")
        if (
            len(parts) > 4
            and parts[1:3] == [callid, "hotline"]
            and parts[4] in ("ATTENDEDTRANSFER", "COMPLETEAGENT", "COMPLETECALLER")
        ):
            return parts[4]
    return None


async def test_attended_transfer_to_a_seat(
    lab: Settings,
    own_db: str,  # noqa: F811
    app: FastAPI,
    talking_agents: None,
    sipp_dir: Path,
) -> None:
    """The agent consults another seat (Atxfer, allowed by Queue option t); its hangup
    (the SIPp agent's BYE after 6 s) completes the transfer: caller and seat bridged."""
    pool = app.state.db
    since = datetime.now(UTC) - timedelta(seconds=2)
    caller = call_in(lab, sipp_dir)
    boss = await token(app, Role.SUPERVISOR)
    events: list[AmiEvent] = []
    async with (
        client(app) as http,
        NodeConnection(_with_bridge_events(lab_ami_node(lab)), on_event=events.append) as control,
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
        callid = entry["callid"]
        seat = "1020" if entry["agent"] != "1020" else "1019"
        url = f"/api/v1/calls/{lab.node_id}/{callid}/transfer"
        r = await http.post(
            url, json={"kind": "queue", "target": "hotline", "attended": True}, headers=boss
        )
        assert r.status_code == 422 and r.json()["error"]["detail"]["field"] == "kind"
        r = await http.post(
            url, json={"kind": "agent", "target": seat, "attended": True}, headers=boss
        )
        assert r.status_code == 200, r.text

        def bridged_to_seat() -> bool:
            """AMI says so: a successful AttendedTransfer of this caller into its own
            bridge, which the Local channel Atxfer dialled the seat through has entered,
            its other half bridged with the seat's softphone."""
            done = [
                e.headers
                for e in events
                if e.name == "AttendedTransfer"
                and e.headers.get("Result") == "Success"
                and e.headers.get("TransfereeUniqueid") == callid
            ]
            if not done:
                return False
            entered = [e for e in events if isinstance(e, BridgeEnter)]
            # The Local channel that entered the caller's bridge (the transfer's
            # destination). Not matched on TransferTargetUniqueid: Asterisk leaves the
            # TransferTarget* headers out when that channel was swapped in before the
            # event was raised (seen once in four runs), the transfer all the same done.
            target = [
                e
                for e in entered
                if e.bridge_uniqueid == done[0].get("DestBridgeUniqueid")
                and (e.channel or "").startswith(f"Local/{seat}@callctl-transfer-agent-")
            ]
            if not target or target[0].channel is None:
                return False
            other_half = target[0].channel[:-1] + "2"
            bridges = {e.bridge_uniqueid for e in entered if e.channel == other_half}
            return any(
                e.bridge_uniqueid in bridges and (e.channel or "").startswith(f"PJSIP/{seat}-")
                for e in entered
            )

        async def seen() -> bool:
            return bridged_to_seat()

        await wait_for(seen, 20, "the caller bridged with the consulted seat")
        # How the entry ended is queue_log's word: ATTENDEDTRANSFER as a rule, but
        # Asterisk logs COMPLETEAGENT for about one such transfer in four (the agent's
        # BYE racing the transfer's completion in app_queue), the caller bridged with
        # the seat all the same (checked above). The stored entry follows queue_log
        # (the follower corrects AMI's first word within about a second).
        ended = await wait_for(
            lambda: _queue_log_end(lab, callid), 20, "the entry's end in queue_log"
        )
        side = "transfer" if ended == "ATTENDEDTRANSFER" else "agent"
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT outcome, hangup_side FROM queue_entries "
                "WHERE callid = $1 AND completed_at IS NOT NULL AND hangup_side = $2",
                callid,
                side,
            ),
            20,
            f"the entry completed with hangup_side {side} ({ended} in queue_log)",
        )
        assert row["outcome"] == "answered"
        kinds = await pool.fetch(
            "SELECT kind, target FROM call_transfers WHERE callid = $1", callid
        )
        assert [(k["kind"], k["target"]) for k in kinds] == [("attended", seat)]
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.sleep(1.5)
    report = await verify(own_db, lab.queue_log_file, lab.node_id, since)
    assert report.ok, format_report(report)

"""The outbound trunk from the routing config loads in the lab's Asterisk: applied
through REST, its endpoint, digest auth and outbound registration are there over AMI
(PJSIPShowEndpoints, PJSIPShowRegistrationsOutbound), and the dialplan presents its
number; removing it unloads them again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from calls_helpers import client, running_app, token
from fastapi import FastAPI
from lab_node import lab_ami_node
from service_helpers import own_db  # noqa: F401  (fixture)

from ami import actions
from ami.connection import NodeConnection
from ami.state import ConnectionState
from callctl.auth.roles import Role
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.schemas import OutboundTrunkDoc
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    async for running in running_app(lab, own_db):
        yield running


async def test_outbound_trunk_loads_in_asterisk(lab: Settings, app: FastAPI) -> None:
    ops = await token(app, Role.OPS)
    doc = from_model(default_model(lab))
    doc.outbound_trunk = OutboundTrunkDoc(
        name="carrier",
        host="127.0.0.20",  # nothing listens there: the registration only tries
        port=5060,
        caller_id="089812345",
        caller_name="12345热线",
        username="hotline12345",
        secret="lab-carrier-secret",
        registration=True,
        max_channels=4,
    )
    async with (
        client(app) as http,
        NodeConnection(lab_ami_node(lab), on_event=lambda _: None) as conn,
    ):
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
        try:
            bad = doc.model_dump(mode="json")
            bad["outbound_trunk"]["secret"] = "abc;def\r\nx"
            r = await http.put("/api/v1/routing/config", json=bad, headers=ops)
            assert r.status_code == 422, r.text
            assert "outbound_trunk.secret" in r.text and "abc;def" not in r.text

            r = await http.put(
                "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=ops
            )
            assert r.status_code == 200, r.text
            view = (await http.get("/api/v1/routing/config", headers=ops)).json()
            assert view["outbound_trunk"]["has_secret"] is True
            assert "lab-carrier-secret" not in str(view)

            endpoints = await conn.action(actions.pjsip_show_endpoints(), timeout_s=15)
            assert "carrier" in {e.headers.get("ObjectName") for e in endpoints.events}
            regs = await conn.action(actions.pjsip_show_registrations_outbound(), timeout_s=15)
            details = [e.headers for e in regs.events if e.name == "OutboundRegistrationDetail"]
            reg = [d for d in details if d.get("ObjectName") == "carrier-reg"]
            assert len(reg) == 1, details
            assert reg[0].get("ServerUri") == "sip:127.0.0.20:5060"
            assert reg[0].get("ClientUri") == "sip:hotline12345@127.0.0.20:5060"
            assert reg[0].get("OutboundAuth") == "carrier-auth"
            dialplan = await conn.action(
                actions.show_dialplan("callctl-outbound-cid"), timeout_s=15, check=False
            )
            steps = [e.headers.get("AppData", "") for e in dialplan.events]
            assert "CALLERID(num)=${CALLCTL_OUTBOUND_CID}" in steps, steps
        finally:
            lab_doc = from_model(default_model(lab)).model_dump(mode="json")
            r = await http.put("/api/v1/routing/config", json=lab_doc, headers=ops)
            if r.status_code != 200:  # still leave the lab as other tests expect it
                await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
        endpoints = await conn.action(actions.pjsip_show_endpoints(), timeout_s=15)
        assert "carrier" not in {e.headers.get("ObjectName") for e in endpoints.events}

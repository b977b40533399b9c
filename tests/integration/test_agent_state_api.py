"""Agent login/pause through REST on the real Asterisk; members survive a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from callctl.auth.roles import Role
from callctl.lab import asterisk
from callctl.lab.lab import asterisk_paths
from callctl.lab.sample_model import sample_model
from callctl.lab.state import LabState
from callctl.routing_config.apply import apply_model
from callctl.routing_config.convert import from_model
from callctl.routing_config.target import default_model, node_targets
from callctl.settings import Settings

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def sample_applied(
    lab: Settings, api_client: httpx.AsyncClient, make_token: object
) -> AsyncIterator[str]:
    assert callable(make_token)
    ops = await make_token(Role.OPS)
    doc = from_model(sample_model("unused-secret-0123456789"))
    r = await api_client.put(
        "/api/v1/routing/config", json=doc.model_dump(mode="json"), headers=bearer(ops)
    )
    assert r.status_code == 200, r.text
    yield ops
    await api_client.post("/api/v1/agents/2101/logout", headers=bearer(ops))
    lab_doc = from_model(default_model(lab)).model_dump(mode="json")
    r = await api_client.put("/api/v1/routing/config", json=lab_doc, headers=bearer(ops))
    if r.status_code != 200:  # still leave the lab as other tests expect it
        await apply_model(default_model(lab), node_targets(lab)[0].apply, None)
    assert r.status_code == 200, r.text


def restart_asterisk(lab: Settings) -> None:
    paths = asterisk_paths(lab)
    state = LabState.load(lab.lab_dir)
    assert state is not None
    asterisk.stop(paths)
    asterisk.start(paths)
    asterisk.wait_ready(paths, lab.ami_host, lab.ami_port, "callctl", state.ami_secret, 60)


async def test_login_pause_and_membership_survives_restart(
    lab: Settings, sample_applied: str, api_client: httpx.AsyncClient, make_token: object
) -> None:
    assert callable(make_token)
    me = await make_token(Role.AGENT, agent_id="2101")
    r = await api_client.post("/api/v1/agents/2001/login", headers=bearer(me))
    assert r.status_code == 403

    r = await api_client.post("/api/v1/agents/2101/login", headers=bearer(me))
    assert r.status_code == 200, r.text
    queues = {q["queue"]: q["penalty"] for q in r.json()["queues"]}
    assert queues == {"general-12345": 3, "hrss-expert": 13, "health-12320": 13}

    r = await api_client.post(
        "/api/v1/agents/2101/pause", json={"reason": "nap"}, headers=bearer(me)
    )
    assert r.status_code == 422
    assert r.json()["error"]["id"] == "agent.unknown_pause_reason"
    r = await api_client.post(
        "/api/v1/agents/2101/pause", json={"reason": "training"}, headers=bearer(me)
    )
    assert r.status_code == 200
    assert {(q["paused"], q["paused_reason"]) for q in r.json()["queues"]} == {(True, "training")}
    r = await api_client.post("/api/v1/agents/2101/acw/end", headers=bearer(me))
    assert r.status_code == 409 and r.json()["error"]["id"] == "agent.not_in_acw"

    await asyncio.to_thread(restart_asterisk, lab)
    supervisor = await make_token(Role.SUPERVISOR)
    r = await api_client.post("/api/v1/agents/2101/unpause", headers=bearer(supervisor))
    assert r.status_code == 200, r.text
    after = {q["queue"]: (q["penalty"], q["paused"]) for q in r.json()["queues"]}
    assert after == {
        "general-12345": (3, False),
        "hrss-expert": (13, False),
        "health-12320": (13, False),
    }
    r = await api_client.post("/api/v1/agents/2101/logout", headers=bearer(me))
    assert r.status_code == 200 and r.json()["queues"] == []

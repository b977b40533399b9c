"""Agents' commands go to their home node: two lab nodes (a, b, started from ``callctl
config render`` output), callctl's REST API configured by settings alone for both. A
pause for an agent homed on b reaches b's AMI (QueueMemberPause there) and not a's;
one homed on a, the other way round. Without a home node, or with one that is not
configured, the command is refused (409) and nothing is paused anywhere; a change
naming an unknown node is refused (422) and not stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from service_helpers import own_db

from ami.connection import NodeConnection
from ami.events import AmiEvent, QueueMemberPause
from ami.state import ConnectionState
from callctl.app import create_app
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import node, rootfs
from callctl.lab.cluster import Cluster, lab_cluster, nodes_file_text
from callctl.nodes import load_nodes
from callctl.routing_config import repository
from callctl.routing_config.schemas import RoutingDoc
from callctl.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["own_db"]

QUIET_S = 1.0  # how long the other node must stay silent after the home node's event


@pytest.fixture(scope="module")
def two_nodes(settings: Settings) -> Iterator[Cluster]:
    """Nodes a (127.0.2.1) and b (127.0.1.1), no Kamailio (no calls here)."""
    cluster = lab_cluster(settings)
    secret = "home-node-test-secret-0123"
    rootfs.ensure_rootfs(settings.rootfs_dir, settings.debian_mirror)
    try:
        for lab_node in cluster.nodes:
            node.start(lab_node, secret)
        yield cluster
    finally:
        for lab_node in cluster.nodes:
            node.stop(lab_node)


@dataclass
class Pauses:
    """QueueMemberPause events per node, as each node's AMI sends them."""

    seen: dict[str, list[QueueMemberPause]] = field(default_factory=dict)

    def on(self, node_id: str) -> Any:
        self.seen[node_id] = []

        def record(event: AmiEvent) -> None:
            if isinstance(event, QueueMemberPause):
                self.seen[node_id].append(event)

        return record

    def of(self, node_id: str, interface: str) -> list[tuple[bool | None, str | None]]:
        return [(e.paused, e.paused_reason) for e in self.seen[node_id] if e.interface == interface]

    async def wait(self, node_id: str, interface: str, timeout_s: float = 5.0) -> None:
        for _ in range(int(timeout_s / 0.05)):
            if self.of(node_id, interface):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no QueueMemberPause for {interface} on node {node_id}")


@dataclass
class Setup:
    client: httpx.AsyncClient
    ops: str
    database_url: str
    pauses: Pauses
    doc: RoutingDoc


@pytest.fixture
async def setup(two_nodes: Cluster, own_db: str, tmp_path: Path) -> AsyncIterator[Setup]:
    nodes_file = tmp_path / "nodes.toml"
    nodes_file.write_text(nodes_file_text(two_nodes), encoding="utf-8")
    routing_file = two_nodes.a.work_dir / "routing.json"
    settings = Settings(
        database_url=own_db,
        nodes_file=nodes_file,
        initial_routing_file=routing_file,
        cache_dir=tmp_path / "cache",
    )
    pauses = Pauses()
    listeners = [
        NodeConnection(n.ami_node(), on_event=pauses.on(n.node_id))
        for n in load_nodes(nodes_file).nodes
    ]
    app = create_app(settings, ingest=False, database_url=own_db)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        for listener in listeners:
            listener.start()
        try:
            for listener in listeners:
                await listener.wait_for_state(ConnectionState.CONNECTED, timeout_s=15)
            ops = await provision_user(own_db, "home.ops", Role.OPS, label="home")
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                doc = RoutingDoc.model_validate_json(routing_file.read_text(encoding="utf-8"))
                yield Setup(client, ops, own_db, pauses, doc)
        finally:
            for listener in listeners:
                await listener.stop()


async def store_applied(database_url: str, doc: RoutingDoc) -> None:
    """Store a version as the one in force. Applying it would re-render the nodes' files
    (tests/integration/test_routing_apply.py covers that); only the agents' home nodes
    change here, and they are no part of Asterisk's config."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        version = await repository.add_version(conn, doc, None, "home nodes (test)")
        await repository.set_status(conn, version, "applied")
    finally:
        await conn.close()


def with_homes(doc: RoutingDoc, homes: dict[str, str | None]) -> RoutingDoc:
    changed = doc.model_copy(deep=True)
    for agent in changed.agents:
        if agent.agent_id in homes:
            agent.home_node = homes[agent.agent_id]
    return changed


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(setup: Setup, path: str, **body: str) -> httpx.Response:
    return await setup.client.post(
        f"/api/v1/agents/{path}", json=body or None, headers=bearer(setup.ops)
    )


async def test_a_pause_goes_to_the_agents_home_node_only(setup: Setup) -> None:
    pauses = setup.pauses
    # Two nodes and no home node: refused, naming the field; nothing paused anywhere.
    r = await post(setup, "1001/pause", reason="break")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["id"] == "agent.home_node_missing"
    assert "home_node" in r.json()["error"]["message"]

    await store_applied(setup.database_url, with_homes(setup.doc, {"1001": "b", "1002": "a"}))
    r = await post(setup, "1001/pause", reason="break")
    assert r.status_code == 200, r.text
    assert {(q["paused"], q["paused_reason"]) for q in r.json()["queues"]} == {(True, "break")}
    await pauses.wait("b", "PJSIP/1001")
    assert pauses.of("b", "PJSIP/1001") == [(True, "break")]
    await asyncio.sleep(QUIET_S)
    assert pauses.of("a", "PJSIP/1001") == []

    r = await post(setup, "1002/pause", reason="training")
    assert r.status_code == 200, r.text
    await pauses.wait("a", "PJSIP/1002")
    assert pauses.of("a", "PJSIP/1002") == [(True, "training")]
    await asyncio.sleep(QUIET_S)
    assert pauses.of("b", "PJSIP/1002") == []

    r = await post(setup, "1001/unpause")
    assert r.status_code == 200, r.text
    assert {q["paused"] for q in r.json()["queues"]} == {False}
    for _ in range(100):
        if len(pauses.of("b", "PJSIP/1001")) == 2:
            break
        await asyncio.sleep(0.05)
    assert pauses.of("b", "PJSIP/1001")[-1][0] is False
    assert pauses.of("a", "PJSIP/1001") == []
    r = await post(setup, "1002/unpause")
    assert r.status_code == 200, r.text


async def test_an_unknown_home_node_is_refused_when_stored_and_when_commanded(
    setup: Setup,
) -> None:
    before = await setup.client.get("/api/v1/routing/versions", headers=bearer(setup.ops))
    agent = next(a for a in setup.doc.agents if a.agent_id == "1001")
    body = {**agent.model_dump(mode="json", exclude={"password"}), "home_node": "c"}
    r = await setup.client.put("/api/v1/routing/agents/1001", json=body, headers=bearer(setup.ops))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["id"] == "config.invalid_value"
    assert error["detail"]["field"] == "agent.home_node"
    assert "not a configured node (a, b)" in error["message"]
    after = await setup.client.get("/api/v1/routing/versions", headers=bearer(setup.ops))
    assert after.json() == before.json()  # nothing stored

    # A node removed from the settings after its agents were homed on it.
    await store_applied(setup.database_url, with_homes(setup.doc, {"1001": "c"}))
    r = await post(setup, "1001/pause", reason="break")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["id"] == "agent.home_node_unknown"
    await asyncio.sleep(QUIET_S)
    assert setup.pauses.of("a", "PJSIP/1001") == setup.pauses.of("b", "PJSIP/1001") == []

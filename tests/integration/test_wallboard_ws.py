"""/ws/wallboard and /api/v1/live over a real server (uvicorn) and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ami.events import parse_event
from ami.frames import parse_frames
from ami.testing import load_transcript
from callctl.auth.roles import Role
from callctl.ingest.normalizer import AmiNormalizer
from callctl.live.hub import LiveHub
from callctl.live.service import build_live_hub
from callctl.settings import Settings

pytestmark = pytest.mark.db

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "ami_recorded"
MakeToken = Callable[..., Awaitable[str]]
# The recorded transcripts' own clock (2026-11-21): "today" for the live view is the
# day they were recorded on, not the day the test runs.
RECORDED_AT = 1795291045.0


@pytest.fixture
async def server(api_app: FastAPI) -> AsyncIterator[str]:
    """The app (API alone, lifespan already run) served by uvicorn on a free port."""
    config = uvicorn.Config(api_app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(500):  # uvicorn offers no event for "started"
        if served.started:
            break
        await asyncio.sleep(0.01)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    served.should_exit = True
    await task


def replay(hub: LiveHub, name: str) -> None:
    """A recorded transcript through the normalizer into the hub, as ingest does."""
    normalizer = AmiNormalizer("lab")
    for frame in parse_frames(load_transcript(RECORDED / f"{name}.ami")):
        if "Event" in frame.headers:
            event = parse_event(frame, "lab", float(frame.headers.get("Timestamp", "0") or 0))
            hub.on_event(event, normalizer.feed(event))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 2))
    return message


async def close_code(url: str, first: str | None = None) -> int | None:
    async with websockets.connect(url) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_missing_or_invalid_token_closes_with_4401(server: str) -> None:
    assert await close_code(f"ws://{server}/ws/wallboard", '{"type": "hello"}') == 4401
    assert await close_code(f"ws://{server}/ws/wallboard?access_token=cct_nope") == 4401
    assert await close_code(f"ws://{server}/ws/wallboard", '{"type":"auth","token":"x"}') == 4401


async def test_agent_role_closes_with_4403(server: str, make_token: MakeToken) -> None:
    token = await make_token(Role.AGENT)
    first = json.dumps({"type": "auth", "token": token})
    assert await close_code(f"ws://{server}/ws/wallboard", first) == 4403


async def test_snapshot_then_deltas_with_consecutive_seq(
    server: str, api_app: FastAPI, make_token: MakeToken, settings: Settings
) -> None:
    hub = build_live_hub(settings, clock=lambda: RECORDED_AT + 5)
    api_app.state.live = hub
    token = await make_token(Role.SUPERVISOR)
    async with websockets.connect(f"ws://{server}/ws/wallboard") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == hub.seq

        replay(hub, "answered")
        deltas = [await receive(ws) for _ in range(hub.seq - snapshot["seq"])]
        seqs = [d["seq"] for d in deltas]
        assert seqs == list(range(snapshot["seq"] + 1, hub.seq + 1))
        waiting = [d["waiting"] for d in deltas if d["type"] == "queue"]
        assert waiting == [1, 0]
        last_kpi = [d for d in deltas if d["type"] == "kpi"][-1]
        assert last_kpi["queue_today"]["answered"] == 1

        await ws.send(json.dumps({"type": "snapshot"}))
        again = await receive(ws)
        assert again["type"] == "snapshot" and again["seq"] == hub.seq
        assert again["nodes"]["lab"]["agents"]["1008"]["state"] == "available"


async def test_subprotocol_token_is_accepted_and_a_url_token_refused(
    server: str, make_token: MakeToken
) -> None:
    token = await make_token(Role.AUDITOR)
    url = f"ws://{server}/ws/wallboard"
    async with websockets.connect(url, subprotocols=["callctl.bearer", token]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "callctl.bearer"
        assert (await receive(ws))["type"] == "snapshot"
    assert await close_code(f"{url}?access_token={token}") == 4401


async def test_rest_snapshot_by_role(api_client: httpx.AsyncClient, make_token: MakeToken) -> None:
    assert (await api_client.get("/api/v1/live")).status_code == 401
    agent = await make_token(Role.AGENT)
    r = await api_client.get("/api/v1/live", headers={"Authorization": f"Bearer {agent}"})
    assert r.status_code == 403
    for role in (Role.SUPERVISOR, Role.OPS, Role.ADMIN, Role.AUDITOR):
        token = await make_token(role)
        r = await api_client.get("/api/v1/live", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        body = r.json()
        assert body["type"] == "snapshot" and "summary" in body and "today" in body


async def test_wallboard_page_and_its_assets_are_served(api_client: httpx.AsyncClient) -> None:
    page = await api_client.get("/wallboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assert "&quot;answer_rate&quot;: 90.0" in page.text  # targets from the settings
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await api_client.get("/wallboard/wallboard.js")
    assert script.status_code == 200 and "/ws/wallboard" in script.text
    assert (await api_client.get("/wallboard/wallboard.css")).status_code == 200
    assert (await api_client.get("/wallboard/..%2Fpages.py")).status_code == 404
    assert (await api_client.get("/wallboard/wallboard.html")).status_code == 404

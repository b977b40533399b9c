"""The wallboard's live feed: ``/ws/wallboard`` (websocket) and ``GET /api/v1/live`` (REST).

Websocket protocol (JSON text frames):

1. Authenticate with the token as the ``access_token`` query parameter, or, better
   (query strings end up in access logs), as the first message:
   ``{"type": "auth", "token": "cct_..."}``. A missing or invalid token closes the
   socket with code 4401, a token of the agent role with 4403.
2. The server sends a ``snapshot`` (the whole picture, with the ``seq`` of the last
   delta it includes), then deltas (``queue``, ``agent``, ``node``, ``kpi``,
   ``today``), each with the next ``seq``.
3. A client that sees ``seq`` skip a number (or go back: the server restarted)
   sends ``{"type": "snapshot"}`` and gets a fresh snapshot. A client too slow to
   keep up is sent a fresh snapshot in place of the deltas it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect

from callctl.api.deps import require
from callctl.api.filters import ID_PATTERN
from callctl.auth.principal import Principal
from callctl.auth.roles import READERS
from callctl.auth.tokens import principal_for_token
from callctl.live.hub import LiveHub, Subscription

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNAVAILABLE = 1011
AUTH_TIMEOUT_S = 10.0
_GONE = (WebSocketDisconnect, OSError, RuntimeError)  # RuntimeError: send after close


def live_hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live
    return hub


@router.get("/api/v1/live")
async def live_snapshot(
    hub: LiveHub = Depends(live_hub),  # noqa: B008
    principal: Principal = Depends(require(*READERS)),  # noqa: B008
    node: str | None = Query(
        default=None, pattern=ID_PATTERN, description="one Asterisk node; default: all nodes"
    ),
) -> dict[str, Any]:
    """实时快照 · Live snapshot: callers waiting, agents by state, each node's AMI link
    (节点在线/离线), today's KPIs."""
    return hub.snapshot(node)


@router.websocket("/ws/wallboard")
async def wallboard(websocket: WebSocket, access_token: str | None = None) -> None:
    await websocket.accept()
    try:
        token = access_token or await _first_message_token(websocket)
        principal = None if token is None else await _principal(websocket, token)
    except _GONE:
        return
    except (OSError, asyncpg.PostgresError, TimeoutError):
        await websocket.close(CLOSE_UNAVAILABLE, "authentication unavailable")
        return
    if principal is None:
        await websocket.close(CLOSE_UNAUTHENTICATED, "missing or invalid token")
        return
    if principal.role not in READERS:  # agents see their own state elsewhere
        await websocket.close(CLOSE_FORBIDDEN, f"role {principal.role.value!r} may not watch")
        return

    hub: LiveHub = websocket.app.state.live
    subscription, seq, first = hub.subscribe()
    try:
        await websocket.send_text(first)
        # Either task failing (the client went away) cancels the other.
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_receive(websocket, subscription))
            tasks.create_task(_send(websocket, hub, subscription, seq))
    except* _GONE:
        pass
    finally:
        hub.unsubscribe(subscription)


async def _first_message_token(websocket: WebSocket) -> str | None:
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            text = await websocket.receive_text()
    except TimeoutError:
        return None
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return text.strip() or None  # a bare token
    if isinstance(message, dict) and message.get("type") == "auth":
        token = message.get("token")
        return token if isinstance(token, str) and token else None
    return None


async def _principal(websocket: WebSocket, token: str) -> Principal | None:
    return await principal_for_token(websocket.app.state.db, token)


async def _receive(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        text = await websocket.receive_text()
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("type") == "snapshot":
            subscription.want_snapshot()


async def _send(websocket: WebSocket, hub: LiveHub, subscription: Subscription, seq: int) -> None:
    while True:
        seq, text = await hub.next_frame(subscription, seq)
        await websocket.send_text(text)

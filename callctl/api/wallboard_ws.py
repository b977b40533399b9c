"""The wallboard's live feed: ``/ws/wallboard`` (websocket) and ``GET /api/v1/live`` (REST).

Websocket protocol (JSON text frames):

1. The page's ``Origin`` must be the API's own or one of ``ws_allowed_origins``;
   another is refused at the handshake (HTTP 403). Clients that send no ``Origin``
   (not a browser) are let through to authenticate.
2. Authenticate with the token either as the first message,
   ``{"type": "auth", "token": "cct_..."}``, or in the handshake as the subprotocols
   ``callctl.bearer, <token>`` (the server answers ``callctl.bearer``). A token in the
   URL (``?access_token=``) is refused: URLs end up in access logs. A missing or
   invalid token closes the socket with 4401, a token of the agent role with 4403,
   too many failed attempts from the address with 4429, a binary frame with 1003.
3. The server sends a ``snapshot`` (the whole picture, with the ``seq`` of the last
   delta it includes), then deltas (``queue``, ``agent``, ``node``, ``kpi``,
   ``today``), each with the next ``seq``.
4. A client that sees ``seq`` skip a number (or go back: the server restarted)
   sends ``{"type": "snapshot"}`` and gets a fresh snapshot. A client too slow to
   keep up is sent a fresh snapshot in place of the deltas it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect

from callctl.api.deps import AuthFailed, Reader, check_token
from callctl.api.filters import ID_PATTERN
from callctl.auth.principal import Principal
from callctl.auth.roles import READERS
from callctl.live.hub import LiveHub, Subscription
from callctl.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_UNAVAILABLE = 1011
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_THROTTLED = 4429
AUTH_TIMEOUT_S = 10.0
BEARER_SUBPROTOCOL = "callctl.bearer"
_GONE = (WebSocketDisconnect, OSError, RuntimeError)  # RuntimeError: send after close


class BinaryFrameError(Exception):
    """The client sent a binary frame; the protocol is JSON text."""


def live_hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live
    return hub


Hub = Annotated[LiveHub, Depends(live_hub)]


@router.get("/api/v1/live")
async def live_snapshot(
    hub: Hub,
    principal: Reader,
    node: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="one Asterisk node; default: all nodes"),
    ] = None,
) -> dict[str, Any]:
    """实时快照 · Live snapshot: callers waiting, agents by state, each node's AMI link
    (节点在线/离线), today's KPIs."""
    return hub.snapshot(node)


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """No Origin (not a browser), the API's own origin, or one configured."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    own = {f"http://{host}", f"https://{host}"}
    return origin in own or origin in settings.ws_allowed_origins


@router.websocket("/ws/wallboard")
async def wallboard(websocket: WebSocket) -> None:
    if not origin_allowed(websocket, websocket.app.state.settings):
        log.warning("wallboard: origin %r refused", websocket.headers.get("origin", "")[:100])
        await websocket.close(CLOSE_FORBIDDEN, "origin not allowed")  # before accept: 403
        return
    offered = websocket.scope.get("subprotocols", [])
    by_protocol = BEARER_SUBPROTOCOL in offered
    await websocket.accept(subprotocol=BEARER_SUBPROTOCOL if by_protocol else None)
    if "access_token" in websocket.query_params:
        await websocket.close(
            CLOSE_UNAUTHENTICATED, "no token in the URL: send it as the first message"
        )
        return
    try:
        if by_protocol:
            token = next((p for p in offered if p != BEARER_SUBPROTOCOL), None)
        else:
            token = await _first_message_token(websocket)
        principal = await check_token(websocket, token)
    except BinaryFrameError:
        await websocket.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
        return
    except AuthFailed as failed:
        if failed.reason == "throttled":
            await websocket.close(CLOSE_THROTTLED, "too many failed authentications")
        else:
            await websocket.close(CLOSE_UNAUTHENTICATED, "missing or invalid token")
        return
    except _GONE:
        return
    except (OSError, asyncpg.PostgresError, TimeoutError):
        await websocket.close(CLOSE_UNAVAILABLE, "authentication unavailable")
        return
    if principal.role not in READERS:  # agents see their own state elsewhere
        await websocket.close(CLOSE_FORBIDDEN, f"role {principal.role.value!r} may not watch")
        return
    await _serve(websocket, principal)


async def _serve(websocket: WebSocket, principal: Principal) -> None:
    hub: LiveHub = websocket.app.state.live
    subscription, seq, first = hub.subscribe()
    try:
        await websocket.send_text(first)
        # Either task failing (the client went away) cancels the other.
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_receive(websocket, subscription))
            tasks.create_task(_send(websocket, hub, subscription, seq))
    except* BinaryFrameError:
        await websocket.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
    except* _GONE:
        pass
    finally:
        hub.unsubscribe(subscription)


async def _receive_text(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise BinaryFrameError
    return str(text)


async def _first_message_token(websocket: WebSocket) -> str | None:
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            text = await _receive_text(websocket)
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


async def _receive(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        text = await _receive_text(websocket)
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
        hub.frame_sent(seq)

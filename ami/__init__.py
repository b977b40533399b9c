"""AMI wire: framing, login, ping, reconnect, typed events and safe actions.

Knows only the AMI wire: nothing about KPIs, facts or the database. Typical wiring (in
the app's lifespan, never at import time; one connection per node, see callctl.runtime)::

    from ami import AmiNode, NodeConnection, actions

    conn = NodeConnection(
        AmiNode(node_id="ast-1", host="127.0.0.1", username="callctl", secret=secret),
        on_event=ingest.put_nowait,      # synchronous, must not block
        on_state_change=health.update,   # StateChange(node, old, new, at, reason)
        on_resync=live_state.rebuild,    # ResyncSnapshot after every login / FullyBooted
        on_gap=reconcile.schedule,       # Gap(node, started_at, ended_at): read queue_log
    )
    conn.start()
    result = await conn.action(actions.queue_pause("PJSIP/1001", True, reason="acw"))
    await conn.stop()
"""

from ami.connection import AmiNode, ConnectionStats, Gap, NodeConnection, ResyncSnapshot
from ami.errors import (
    ActionFailedError,
    ActionTimeoutError,
    AmiError,
    ConnectionLostError,
    InvalidTransitionError,
    LoginFailedError,
    NotConnectedError,
    PingTimeoutError,
    UnknownNodeError,
    UnsafeValueError,
)
from ami.events import AmiEvent, GenericEvent, parse_event
from ami.frames import Frame, FrameParser
from ami.protocol import ActionResult
from ami.state import ConnectionState, StateChange

__all__ = [
    "ActionFailedError",
    "ActionResult",
    "ActionTimeoutError",
    "AmiError",
    "AmiEvent",
    "AmiNode",
    "ConnectionLostError",
    "ConnectionState",
    "ConnectionStats",
    "Frame",
    "FrameParser",
    "Gap",
    "GenericEvent",
    "InvalidTransitionError",
    "LoginFailedError",
    "NodeConnection",
    "NotConnectedError",
    "PingTimeoutError",
    "ResyncSnapshot",
    "StateChange",
    "UnknownNodeError",
    "UnsafeValueError",
    "parse_event",
]

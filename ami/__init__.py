"""AMI wire: framing, login, ping, reconnect, typed events and safe actions.

Knows only the AMI wire: nothing about KPIs, facts or the database.
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
from ami.manager import AmiManager
from ami.protocol import ActionResult
from ami.state import ConnectionState, StateChange

__all__ = [
    "ActionFailedError",
    "ActionResult",
    "ActionTimeoutError",
    "AmiError",
    "AmiEvent",
    "AmiManager",
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

"""Typed, immutable AMI events and the one table that builds them from frames. Pure.

Units are normalised here, once, so nobody downstream guesses them. Durations are float
seconds in fields ending ``_s``:

- ``ring_s``: AgentRingNoAnswer RingTime arrives in **milliseconds** (ms / 1000);
  AgentConnect RingTime arrives in whole seconds.
- ``hold_s`` (float) and ``wait_s`` (int) both come from HoldTime (Agent*, Abandon) or
  Wait (QueueEntry), whole seconds on the wire; the int is kept because the KPI counts
  Asterisk's whole seconds.
- ``talk_time_s`` (float) and ``talk_s`` (int) from AgentComplete TalkTime, likewise.
- ``wrapup_s``, ``uptime_s``, ``avg_hold_s``...: seconds.
- ``last_call``, ``last_pause``, ``login_time``: epoch seconds as int, 0 meaning never.

Strings are kept as Asterisk sends them (``<unknown>`` stays ``<unknown>``; caller and
connected-line names arrive C-escaped by Asterisk, e.g. ``\\"``); the raw frame headers
stay on every event. A header that should be a number but is not becomes
``None`` and its name is listed in ``invalid_fields``; an event missing a header it cannot
be identified without (``Uniqueid``, ``Queue``...) comes back as :class:`GenericEvent`
with that header in ``invalid_fields``. The parser never raises on bad input: the caller
counts and logs events whose ``invalid_fields`` is not empty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from ami.frames import Frame

CompleteReason = Literal["caller", "agent", "transfer"]


# --- models ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiEvent:
    """Fields every event carries."""

    name: str
    node: str  # which Asterisk node sent it
    received_at: float  # time.time() when its bytes arrived (UTC epoch seconds)
    headers: Mapping[str, str]  # the raw frame headers, read-only
    invalid_fields: tuple[str, ...] = ()  # headers that were present but unusable
    # Asterisk's own clock for the event (manager.conf timestampevents=yes), else None.
    timestamp: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericEvent(AmiEvent):
    """Any event without a model here, or a modelled one too broken to build."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(AmiEvent):
    """The channel snapshot Asterisk puts on every channel event.

    ``Uniqueid`` identifies the channel; the name (``Channel``) is kept when sent but
    not required: nothing is keyed on it.
    """

    channel: str | None
    uniqueid: str
    linkedid: str | None
    channel_state: int | None
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    context: str | None
    exten: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoin(ChannelEvent):
    queue: str
    position: int | None
    count: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeave(ChannelEvent):
    """Fires on every exit from the queue, answered calls included."""

    queue: str
    position: int | None
    count: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandon(ChannelEvent):
    """Also raised on timeout/empty/withdraw exits: queue_log tells them apart."""

    queue: str
    position: int | None
    original_position: int | None
    hold_s: float | None
    wait_s: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent(AmiEvent):
    """A queue event about caller (unprefixed fields) and agent leg (``Dest*`` headers).

    Asterisk builds the caller's part from the caller channel's latest snapshot; when
    that channel is already gone (the caller hung up; seen under load on
    AgentComplete) the whole caller part is missing, ``Channel`` and ``Uniqueid``
    included. Only ``Queue`` is required: the consumer finds the call from what is
    there (the agent leg's ``DestUniqueid``, a ``Linkedid``, the member).
    """

    channel: str | None
    uniqueid: str | None
    linkedid: str | None
    channel_state: int | None
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    context: str | None
    exten: str | None
    queue: str
    interface: str | None
    member_name: str | None
    dest_channel: str | None
    dest_uniqueid: str | None
    dest_linkedid: str | None
    dest_channel_state: int | None
    dest_caller_id_num: str | None
    dest_caller_id_name: str | None
    dest_connected_line_num: str | None
    dest_connected_line_name: str | None
    dest_context: str | None
    dest_exten: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(AgentEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(AgentEvent):
    ring_s: float | None  # RingTime arrives in milliseconds


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnect(AgentEvent):
    hold_s: float | None
    wait_s: int | None
    ring_s: float | None  # RingTime arrives in whole seconds here


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentComplete(AgentEvent):
    hold_s: float | None
    wait_s: int | None
    talk_time_s: float | None
    talk_s: int | None
    reason: CompleteReason | None  # who hung up, or a transfer


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDump(AgentEvent):
    """The agent hung up while the caller was being connected."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberEvent(AmiEvent):
    """A queue member's full state, as every QueueMember* event carries it."""

    queue: str
    interface: str
    member_name: str | None
    state_interface: str | None
    membership: str | None  # dynamic | realtime | static
    penalty: int | None
    calls_taken: int | None
    last_call: int | None
    last_pause: int | None
    login_time: int | None
    in_call: bool | None
    status: int | None  # 0 unknown 1 not-in-use 2 in-use 3 busy 4 invalid 5 unavailable ...
    paused: bool | None
    paused_reason: str | None
    ring_in_use: bool | None
    wrapup_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberAdded(QueueMemberEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberRemoved(QueueMemberEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberPause(QueueMemberEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberStatus(QueueMemberEvent):
    """Sent only when the member's device state changes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberPenalty(QueueMemberEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberRinginuse(QueueMemberEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMember(QueueMemberEvent):
    """A QueueStatus reply item (headers ``Name``/``Location``; no ``Ringinuse``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueParams(AmiEvent):
    """A QueueStatus reply item: one queue's counters since its last reset."""

    queue: str
    max_callers: int | None
    strategy: str | None
    calls: int | None
    avg_hold_s: float | None
    avg_talk_s: float | None
    completed: int | None
    abandoned: int | None
    service_level_s: float | None
    service_level_perf: float | None  # percent, Asterisk's own definition
    service_level_perf2: float | None
    weight: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry(AmiEvent):
    """A QueueStatus reply item: one caller waiting."""

    queue: str
    position: int | None
    channel: str
    uniqueid: str
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    connected_line_name: str | None
    hold_s: float | None
    wait_s: int | None
    priority: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSummary(AmiEvent):
    """A QueueSummary reply item."""

    queue: str
    logged_in: int | None
    available: int | None
    callers: int | None
    avg_hold_s: float | None
    avg_talk_s: float | None
    longest_hold_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreShowChannel(ChannelEvent):
    """A CoreShowChannels reply item."""

    application: str | None
    application_data: str | None
    duration_s: float | None
    bridge_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Newchannel(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(ChannelEvent):
    cause: int | None
    cause_txt: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEvent(ChannelEvent):
    bridge_uniqueid: str
    bridge_type: str | None
    bridge_technology: str | None
    bridge_creator: str | None
    bridge_name: str | None
    bridge_num_channels: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEnter(BridgeEvent):
    swap_uniqueid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeLeave(BridgeEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MixMonitorStart(ChannelEvent):
    """Carries no file name: callctl names the file itself."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MixMonitorStop(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEvent(AmiEvent):
    """``UserEvent(name,k: v,...)`` from the dialplan: IVR and survey facts."""

    user_event: str
    channel: str | None
    uniqueid: str | None
    linkedid: str | None
    fields: Mapping[str, str]  # the user's own headers (channel snapshot and Event removed)


@dataclass(frozen=True, slots=True, kw_only=True)
class FullyBooted(AmiEvent):
    """Sent at login and when Asterisk finishes booting: the cue to resync."""

    status: str | None
    uptime_s: float | None
    last_reload_s: float | None


# --- header converters: raise ValueError on bad input ------------------------------------

Converter = Callable[[str], object]


def _finite(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _milliseconds(raw: str) -> float:
    return int(raw) / 1000


def _flag(raw: str) -> bool:
    if raw == "1" or raw.lower() in ("true", "yes"):
        return True
    if raw == "0" or raw.lower() in ("false", "no"):
        return False
    raise ValueError(raw)


def _hms(raw: str) -> float:
    hours, minutes, seconds = raw.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _complete_reason(raw: str) -> str:
    if raw in ("caller", "agent", "transfer"):
        return raw
    raise ValueError(raw)


# --- field specs: (attribute, header, converter or None for text, required) -------------

FieldSpec = tuple[str, str, Converter | None, bool]


def _channel(prefix: str = "", *, required: bool = True) -> tuple[FieldSpec, ...]:
    """The channel snapshot's fields; ``required`` means its ``Uniqueid``."""
    attr = "dest_" if prefix else ""
    return (
        (f"{attr}channel", f"{prefix}Channel", None, False),
        (f"{attr}uniqueid", f"{prefix}Uniqueid", None, required),
        (f"{attr}linkedid", f"{prefix}Linkedid", None, False),
        (f"{attr}channel_state", f"{prefix}ChannelState", int, False),
        (f"{attr}caller_id_num", f"{prefix}CallerIDNum", None, False),
        (f"{attr}caller_id_name", f"{prefix}CallerIDName", None, False),
        (f"{attr}connected_line_num", f"{prefix}ConnectedLineNum", None, False),
        (f"{attr}connected_line_name", f"{prefix}ConnectedLineName", None, False),
        (f"{attr}context", f"{prefix}Context", None, False),
        (f"{attr}exten", f"{prefix}Exten", None, False),
    )


_CHANNEL: Final = _channel()
_AGENT: Final = (
    *_channel(required=False),
    *_channel("Dest", required=False),
    ("queue", "Queue", None, True),
    ("interface", "Interface", None, False),
    ("member_name", "MemberName", None, False),
)
_QUEUE_CALLER: Final = (
    *_CHANNEL,
    ("queue", "Queue", None, True),
    ("position", "Position", int, False),
    ("count", "Count", int, False),
)
_HOLD: Final = (("hold_s", "HoldTime", _finite, False), ("wait_s", "HoldTime", int, False))


def _member(name_header: str, interface_header: str) -> tuple[FieldSpec, ...]:
    return (
        ("queue", "Queue", None, True),
        ("interface", interface_header, None, True),
        ("member_name", name_header, None, False),
        ("state_interface", "StateInterface", None, False),
        ("membership", "Membership", None, False),
        ("penalty", "Penalty", int, False),
        ("calls_taken", "CallsTaken", int, False),
        ("last_call", "LastCall", int, False),
        ("last_pause", "LastPause", int, False),
        ("login_time", "LoginTime", int, False),
        ("in_call", "InCall", _flag, False),
        ("status", "Status", int, False),
        ("paused", "Paused", _flag, False),
        ("paused_reason", "PausedReason", None, False),
        ("ring_in_use", "Ringinuse", _flag, False),
        ("wrapup_s", "Wrapuptime", _finite, False),
    )


_MEMBER: Final = _member("MemberName", "Interface")
_BRIDGE: Final = (
    *_CHANNEL,
    ("bridge_uniqueid", "BridgeUniqueid", None, True),
    ("bridge_type", "BridgeType", None, False),
    ("bridge_technology", "BridgeTechnology", None, False),
    ("bridge_creator", "BridgeCreator", None, False),
    ("bridge_name", "BridgeName", None, False),
    ("bridge_num_channels", "BridgeNumChannels", int, False),
)

# Headers of a dialplan UserEvent that are Asterisk's, not the user's.
_NOT_USER_FIELDS: Final = frozenset(
    {"Event", "Privilege", "UserEvent", "ActionID", "SystemName", "Timestamp"}
    | {header for _, header, _, _ in _CHANNEL}
    | {"ChannelStateDesc", "Language", "AccountCode", "Priority", "Tenantid"}
)


# --- the builder and the dispatch table --------------------------------------------------

EventConstructor = Callable[[Frame, str, float], AmiEvent]


def _event_time(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Timestamp")
    if raw is None:
        return None
    try:
        return _finite(raw)
    except ValueError:
        return None  # metadata only: not worth calling the event malformed


def _generic(frame: Frame, node: str, received_at: float) -> AmiEvent:
    return GenericEvent(
        name=frame.headers.get("Event", ""),
        node=node,
        received_at=received_at,
        headers=frame.headers,
        timestamp=_event_time(frame.headers),
    )


_BASE_FIELDS: Final = frozenset(
    {"name", "node", "received_at", "headers", "invalid_fields", "timestamp"}
)


def _constructor(cls: type[AmiEvent], *specs: FieldSpec) -> EventConstructor:
    """Build ``cls`` from its field specs; a missing required header gives a GenericEvent.

    Instances are filled with ``object.__setattr__`` on a bare ``object.__new__``, which
    is what a frozen dataclass's ``__init__`` does, minus keyword-argument handling: that
    halves the cost of an event (ingest runs this for every event). It is only safe if
    the specs set every field exactly once, so that is checked here, at import time.
    """
    attrs = [attr for attr, _, _, _ in specs]
    fields_of_cls = {field.name for field in dataclasses.fields(cls)}
    if len(set(attrs)) != len(attrs) or set(attrs) | _BASE_FIELDS != fields_of_cls:
        raise TypeError(f"field specs of {cls.__name__} do not match its fields")
    new = object.__new__
    put = object.__setattr__
    # Split once by kind, so that building runs three tight loops: headers it cannot do
    # without (checked first, in spec order: the first one missing is the one reported),
    # text kept as sent (None when absent), and values to convert.
    required = tuple(header for _, header, _, needed in specs if needed)
    texts = tuple((attr, header) for attr, header, convert, _ in specs if convert is None)
    converted = tuple(
        (attr, header, convert) for attr, header, convert, _ in specs if convert is not None
    )

    def build(frame: Frame, node: str, received_at: float) -> AmiEvent:
        headers = frame.headers
        for header in required:
            if header not in headers:
                return GenericEvent(
                    name=headers.get("Event", ""),
                    node=node,
                    received_at=received_at,
                    headers=headers,
                    invalid_fields=(header,),
                    timestamp=_event_time(headers),
                )
        get = headers.get
        event = new(cls)
        for attr, header in texts:
            put(event, attr, get(header))
        invalid: list[str] | None = None
        for attr, header, convert in converted:
            raw = get(header)
            if raw is None:
                put(event, attr, None)
                continue
            try:
                put(event, attr, convert(raw))
            except ValueError:
                put(event, attr, None)
                invalid = [*(invalid or ()), header]
        put(event, "name", headers.get("Event", ""))
        put(event, "node", node)
        put(event, "received_at", received_at)
        put(event, "headers", headers)
        put(event, "invalid_fields", tuple(dict.fromkeys(invalid)) if invalid else ())
        put(event, "timestamp", _event_time(headers))
        return event

    return build


def _user_event(frame: Frame, node: str, received_at: float) -> AmiEvent:
    headers = frame.headers
    user_event = headers.get("UserEvent")
    if user_event is None:
        return GenericEvent(
            name="UserEvent",
            node=node,
            received_at=received_at,
            headers=headers,
            invalid_fields=("UserEvent",),
            timestamp=_event_time(headers),
        )
    return UserEvent(
        name="UserEvent",
        node=node,
        received_at=received_at,
        headers=headers,
        timestamp=_event_time(headers),
        user_event=user_event,
        channel=headers.get("Channel"),
        uniqueid=headers.get("Uniqueid"),
        linkedid=headers.get("Linkedid"),
        fields=MappingProxyType(
            {key: value for key, value in headers.items() if key not in _NOT_USER_FIELDS}
        ),
    )


EVENT_CONSTRUCTORS: Final[Mapping[str, EventConstructor]] = {
    "QueueCallerJoin": _constructor(QueueCallerJoin, *_QUEUE_CALLER),
    "QueueCallerLeave": _constructor(QueueCallerLeave, *_QUEUE_CALLER),
    "QueueCallerAbandon": _constructor(
        QueueCallerAbandon,
        *_CHANNEL,
        ("queue", "Queue", None, True),
        ("position", "Position", int, False),
        ("original_position", "OriginalPosition", int, False),
        *_HOLD,
    ),
    "AgentCalled": _constructor(AgentCalled, *_AGENT),
    "AgentRingNoAnswer": _constructor(
        AgentRingNoAnswer, *_AGENT, ("ring_s", "RingTime", _milliseconds, False)
    ),
    "AgentConnect": _constructor(
        AgentConnect, *_AGENT, *_HOLD, ("ring_s", "RingTime", _finite, False)
    ),
    "AgentComplete": _constructor(
        AgentComplete,
        *_AGENT,
        *_HOLD,
        ("talk_time_s", "TalkTime", _finite, False),
        ("talk_s", "TalkTime", int, False),
        ("reason", "Reason", _complete_reason, False),
    ),
    "AgentDump": _constructor(AgentDump, *_AGENT),
    "QueueMemberAdded": _constructor(QueueMemberAdded, *_MEMBER),
    "QueueMemberRemoved": _constructor(QueueMemberRemoved, *_MEMBER),
    "QueueMemberPause": _constructor(QueueMemberPause, *_MEMBER),
    "QueueMemberStatus": _constructor(QueueMemberStatus, *_MEMBER),
    "QueueMemberPenalty": _constructor(QueueMemberPenalty, *_MEMBER),
    "QueueMemberRinginuse": _constructor(QueueMemberRinginuse, *_MEMBER),
    "QueueMember": _constructor(QueueMember, *_member("Name", "Location")),
    "QueueParams": _constructor(
        QueueParams,
        ("queue", "Queue", None, True),
        ("max_callers", "Max", int, False),
        ("strategy", "Strategy", None, False),
        ("calls", "Calls", int, False),
        ("avg_hold_s", "Holdtime", _finite, False),
        ("avg_talk_s", "TalkTime", _finite, False),
        ("completed", "Completed", int, False),
        ("abandoned", "Abandoned", int, False),
        ("service_level_s", "ServiceLevel", _finite, False),
        ("service_level_perf", "ServicelevelPerf", _finite, False),
        ("service_level_perf2", "ServicelevelPerf2", _finite, False),
        ("weight", "Weight", int, False),
    ),
    "QueueEntry": _constructor(
        QueueEntry,
        ("queue", "Queue", None, True),
        ("position", "Position", int, False),
        ("channel", "Channel", None, True),
        ("uniqueid", "Uniqueid", None, True),
        ("caller_id_num", "CallerIDNum", None, False),
        ("caller_id_name", "CallerIDName", None, False),
        ("connected_line_num", "ConnectedLineNum", None, False),
        ("connected_line_name", "ConnectedLineName", None, False),
        ("hold_s", "Wait", _finite, False),
        ("wait_s", "Wait", int, False),
        ("priority", "Priority", int, False),
    ),
    "QueueSummary": _constructor(
        QueueSummary,
        ("queue", "Queue", None, True),
        ("logged_in", "LoggedIn", int, False),
        ("available", "Available", int, False),
        ("callers", "Callers", int, False),
        ("avg_hold_s", "HoldTime", _finite, False),
        ("avg_talk_s", "TalkTime", _finite, False),
        ("longest_hold_s", "LongestHoldTime", _finite, False),
    ),
    "CoreShowChannel": _constructor(
        CoreShowChannel,
        *_CHANNEL,
        ("application", "Application", None, False),
        ("application_data", "ApplicationData", None, False),
        ("duration_s", "Duration", _hms, False),
        ("bridge_id", "BridgeId", None, False),
    ),
    "Newchannel": _constructor(Newchannel, *_CHANNEL),
    "Hangup": _constructor(
        Hangup, *_CHANNEL, ("cause", "Cause", int, False), ("cause_txt", "Cause-txt", None, False)
    ),
    "BridgeEnter": _constructor(
        BridgeEnter, *_BRIDGE, ("swap_uniqueid", "SwapUniqueid", None, False)
    ),
    "BridgeLeave": _constructor(BridgeLeave, *_BRIDGE),
    "MixMonitorStart": _constructor(MixMonitorStart, *_CHANNEL),
    "MixMonitorStop": _constructor(MixMonitorStop, *_CHANNEL),
    "UserEvent": _user_event,
    "FullyBooted": _constructor(
        FullyBooted,
        ("status", "Status", None, False),
        ("uptime_s", "Uptime", _finite, False),
        ("last_reload_s", "LastReload", _finite, False),
    ),
}


def parse_event(frame: Frame, node: str, received_at: float) -> AmiEvent:
    """Turn an event frame into its typed event; never raises on bad header values."""
    name = frame.headers.get("Event")
    if name is None:
        return GenericEvent(
            name="",
            node=node,
            received_at=received_at,
            headers=frame.headers,
            invalid_fields=("Event",),
            timestamp=_event_time(frame.headers),
        )
    return EVENT_CONSTRUCTORS.get(name, _generic)(frame, node, received_at)

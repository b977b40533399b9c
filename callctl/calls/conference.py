"""Three-way calls (pure): the conference's name, its dialplan, the parties' channels.

A call's caller and agent are moved together (one AMI Redirect) into a ConfBridge
conference, the agent as its leader (``callctl-conf-leader``: marked, admin), the caller
as a member who leaves with the agent (``callctl-conf-caller``); the third party, a seat
or an allowed external number, is called through a Local channel into the same
conference (``callctl-conf-party``). The dialplan and confbridge.conf are rendered by
``routing.render`` (extensions.conf.in, confbridge.conf.in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ami.events import CoreShowChannel
from callctl.calls.monitor import AgentLeg
from callctl.calls.transfer import (
    DEFAULT_OUTBOUND_PATTERNS,
    InvalidTargetError,
    TransferKind,
    TransferTarget,
    transfer_destination,
)
from routing.model import PbxModel

LEADER_CONTEXT: Final = "callctl-conf-leader"
CALLER_CONTEXT: Final = "callctl-conf-caller"
PARTY_CONTEXT: Final = "callctl-conf-party"
CONFERENCE_PREFIX: Final = "callctl-conf-"


class ConferenceKind(StrEnum):
    AGENT = "agent"
    EXTERNAL = "external"


class MemberRole(StrEnum):
    CALLER = "caller"
    LEADER = "leader"
    PARTY = "party"


ROLE_LABELS: dict[MemberRole, dict[str, str]] = {
    MemberRole.CALLER: {"zh-CN": "来电人", "en": "caller"},
    MemberRole.LEADER: {"zh-CN": "坐席（主持）", "en": "agent (leader)"},
    MemberRole.PARTY: {"zh-CN": "第三方", "en": "third party"},
}


def conference_name(conference_id: int) -> str:
    """The ConfBridge conference of callctl's conference ``conference_id``."""
    return f"{CONFERENCE_PREFIX}{conference_id}"


def conference_id_of(name: str) -> int | None:
    """The inverse of ``conference_name``; None for a conference callctl did not start."""
    digits = name.removeprefix(CONFERENCE_PREFIX)
    if digits == name or not digits.isdigit():
        return None
    return int(digits)


def party_channel(
    model: PbxModel,
    kind: ConferenceKind,
    target: str,
    patterns: tuple[str, ...] = DEFAULT_OUTBOUND_PATTERNS,
) -> str:
    """The Local channel that rings the third party: a configured seat through
    ``callctl-transfer-agent`` or an allowed number through ``callctl-outbound`` (both
    validated as a transfer's target is: InvalidTargetError naming ``target``)."""
    transfer_kind = TransferKind.AGENT if kind is ConferenceKind.AGENT else TransferKind.EXTERNAL
    context, exten = transfer_destination(model, TransferTarget(transfer_kind, target), patterns)
    if not exten.isdigit():  # transfer_destination gives digits for these kinds; be sure
        raise InvalidTargetError("target", "not a seat or a number")
    return f"Local/{exten}@{context}"


def caller_leg(channels: Iterable[CoreShowChannel], agent: AgentLeg) -> AgentLeg | None:
    """The agent's peer: the other channel in the agent leg's bridge."""
    channels = list(channels)
    bridge = next(
        (c.bridge_id for c in channels if c.uniqueid == agent.uniqueid and c.bridge_id), None
    )
    if bridge is None:
        return None
    for channel in channels:
        if channel.bridge_id == bridge and channel.uniqueid != agent.uniqueid and channel.channel:
            return AgentLeg(channel.channel, channel.uniqueid)
    return None


@dataclass(frozen=True, slots=True)
class Member:
    """One channel in a conference, as ConfbridgeJoin reports it."""

    uniqueid: str
    channel: str
    role: MemberRole


def role_of(uniqueid: str, caller_uniqueid: str, agent_uniqueid: str) -> MemberRole:
    if uniqueid == agent_uniqueid:
        return MemberRole.LEADER
    if uniqueid == caller_uniqueid:
        return MemberRole.CALLER
    return MemberRole.PARTY

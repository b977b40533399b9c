"""Supervisor monitoring (pure): the mode's ChanSpy options and the agent channel.

A supervisor's softphone is called (Originate) and, once it answers, runs ``ChanSpy``
on the agent's channel of the call, chosen by its uniqueid (option ``u``), quietly
(``q``), leaving when that channel hangs up (``E``) and taking DTMF to switch mode
(``d``: 4 listen, 5 whisper, 6 barge) so the mode can change during the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ami.events import CoreShowChannel


class MonitorMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


MODE_LABELS: dict[MonitorMode, dict[str, str]] = {
    MonitorMode.LISTEN: {"zh-CN": "监听", "en": "listen"},
    MonitorMode.WHISPER: {"zh-CN": "耳语", "en": "whisper"},
    MonitorMode.BARGE: {"zh-CN": "强插", "en": "barge"},
}

_BASE_OPTIONS = "qEud"
_MODE_OPTIONS = {MonitorMode.LISTEN: "", MonitorMode.WHISPER: "w", MonitorMode.BARGE: "B"}


def chanspy_options(mode: MonitorMode) -> str:
    """ChanSpy's option letters for ``mode``: whisper talks to the agent only (``w``),
    barge to both parties (``B``), listen to nobody."""
    return _BASE_OPTIONS + _MODE_OPTIONS[mode]


def chanspy_data(agent_uniqueid: str, mode: MonitorMode) -> str:
    return f"{agent_uniqueid},{chanspy_options(mode)}"


def mode_of_options(options: str) -> MonitorMode:
    """The mode a ChanSpy option string gives (the inverse, for tests and the live view)."""
    if "B" in options:
        return MonitorMode.BARGE
    if "w" in options:
        return MonitorMode.WHISPER
    return MonitorMode.LISTEN


@dataclass(frozen=True, slots=True)
class AgentLeg:
    channel: str
    uniqueid: str


def agent_leg(channels: Iterable[CoreShowChannel], callid: str, agent: str) -> AgentLeg | None:
    """The agent's channel in call ``callid`` (the caller's uniqueid, which its dialed
    channels carry as Linkedid): ``PJSIP/<agent>-...`` and not a spy of its own."""
    prefix = f"PJSIP/{agent}-"
    for channel in channels:
        if channel.linkedid != callid or channel.channel is None:
            continue
        if channel.channel.startswith(prefix) and channel.application != "ChanSpy":
            return AgentLeg(channel.channel, channel.uniqueid)
    return None


def spying_channels(channels: Iterable[CoreShowChannel]) -> dict[str, MonitorMode]:
    """Uniqueids of the channels being spied on now, and how (from ChanSpy's arguments)."""
    spied: dict[str, MonitorMode] = {}
    for channel in channels:
        if channel.application != "ChanSpy" or not channel.application_data:
            continue
        target, _, options = channel.application_data.partition(",")
        if "u" in options:
            spied[target] = mode_of_options(options)
    return spied

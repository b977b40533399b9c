"""Supervisor monitoring (pure): ChanSpy options per mode, the agent's channel."""

from __future__ import annotations

import pytest

from ami import actions
from ami.errors import UnsafeValueError
from ami.events import CoreShowChannel, parse_event
from ami.frames import Frame
from callctl.calls.monitor import (
    MonitorMode,
    agent_leg,
    chanspy_data,
    chanspy_options,
    mode_of_options,
    spying_channels,
)


def channel(
    name: str, uniqueid: str, linkedid: str, app: str = "Dial", data: str = ""
) -> CoreShowChannel:
    frame = Frame.from_pairs(
        [
            ("Event", "CoreShowChannel"),
            ("Channel", name),
            ("Uniqueid", uniqueid),
            ("Linkedid", linkedid),
            ("Application", app),
            ("ApplicationData", data),
        ]
    )
    event = parse_event(frame, "lab", 0.0)
    assert isinstance(event, CoreShowChannel)
    return event


def test_options_per_mode() -> None:
    # Quiet, exit with the agent's channel, exact uniqueid, DTMF switches the mode.
    assert chanspy_options(MonitorMode.LISTEN) == "qEud"
    assert chanspy_options(MonitorMode.WHISPER) == "qEudw"
    assert chanspy_options(MonitorMode.BARGE) == "qEudB"
    for mode in MonitorMode:
        assert mode_of_options(chanspy_options(mode)) is mode


def test_chanspy_data_goes_through_the_safe_originate_builder() -> None:
    data = chanspy_data("1764765000.42", MonitorMode.WHISPER)
    assert data == "1764765000.42,qEudw"
    action = actions.originate_to_application("PJSIP/1020", "ChanSpy", data)
    assert action.get("Data") == data
    with pytest.raises(UnsafeValueError):
        actions.originate_to_application("PJSIP/1020", "ChanSpy", "x\r\nAction: Hangup")


def test_agent_leg_is_the_agents_channel_of_that_call() -> None:
    channels = [
        channel("PJSIP/trunk-00000001", "100.1", "100.1", app="Queue"),
        channel("PJSIP/1002-00000004", "200.2", "200.1"),  # another call
        channel("PJSIP/1001-00000002", "100.2", "100.1", app="AppQueue"),
        channel("PJSIP/1020-00000005", "spy-1", "spy-1", app="ChanSpy", data="100.2,qEud"),
    ]
    leg = agent_leg(channels, "100.1", "1001")
    assert leg is not None and (leg.channel, leg.uniqueid) == ("PJSIP/1001-00000002", "100.2")
    assert agent_leg(channels, "100.1", "1002") is None
    assert agent_leg(channels, "999.9", "1001") is None
    assert spying_channels(channels) == {"100.2": MonitorMode.LISTEN}

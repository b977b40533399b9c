"""Three-way calls (pure): names, the third party's channel, the caller leg, roles;
injection refused; the dialplan and confbridge.conf make the agent the leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from ami import actions
from ami.errors import UnsafeValueError
from ami.events import CoreShowChannel, parse_event
from ami.frames import Frame
from callctl.calls.conference import (
    CALLER_CONTEXT,
    LEADER_CONTEXT,
    PARTY_CONTEXT,
    ConferenceKind,
    MemberRole,
    caller_leg,
    conference_id_of,
    conference_name,
    party_channel,
    role_of,
)
from callctl.calls.monitor import AgentLeg
from callctl.calls.transfer import InvalidTargetError
from callctl.lab.golden import CONFIG_DIR
from callctl.lab.lab_model import lab_model
from routing.render import render

MODEL = lab_model("s3cret-generated-0123456789", agents=3)


def channel(name: str, uniqueid: str, bridge: str) -> CoreShowChannel:
    frame = Frame.from_pairs(
        [
            ("Event", "CoreShowChannel"),
            ("Channel", name),
            ("Uniqueid", uniqueid),
            ("Linkedid", "100.1"),
            ("Application", "Queue"),
            ("BridgeId", bridge),
        ]
    )
    event = parse_event(frame, "lab", 0.0)
    assert isinstance(event, CoreShowChannel)
    return event


def test_names_round_trip() -> None:
    assert conference_name(42) == "callctl-conf-42"
    assert conference_id_of("callctl-conf-42") == 42
    assert conference_id_of("other-42") is None
    assert conference_id_of("callctl-conf-x") is None


def test_party_channel_seat_or_number() -> None:
    assert party_channel(MODEL, ConferenceKind.AGENT, "1002") == "Local/1002@callctl-transfer-agent"
    number = party_channel(MODEL, ConferenceKind.EXTERNAL, "13800138000")
    assert number == "Local/13800138000@callctl-outbound"
    actions.channel_name(number)  # a channel the Originate builder accepts


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ConferenceKind.AGENT, "1002\r\nAction: Hangup"),
        (ConferenceKind.AGENT, "9999"),
        (ConferenceKind.AGENT, "hotline"),
        (ConferenceKind.EXTERNAL, "13800138000;x"),
        (ConferenceKind.EXTERNAL, "0085212345678"),  # international
        (ConferenceKind.EXTERNAL, "1900123456"),  # premium
        (ConferenceKind.EXTERNAL, "13800138000\n"),
        (ConferenceKind.EXTERNAL, "1380013800@x"),
    ],
)
def test_bad_targets_refused_naming_target(kind: ConferenceKind, value: str) -> None:
    with pytest.raises(InvalidTargetError) as info:
        party_channel(MODEL, kind, value)
    assert info.value.field == "target"


def test_caller_leg_is_the_agents_bridge_peer() -> None:
    channels = [
        channel("PJSIP/trunk-00000001", "100.1", "b1"),
        channel("PJSIP/1001-00000002", "100.2", "b1"),
        channel("PJSIP/trunk-00000003", "100.3", "b2"),
        channel("PJSIP/1002-00000004", "100.4", "b2"),
    ]
    agent = AgentLeg("PJSIP/1001-00000002", "100.2")
    assert caller_leg(channels, agent) == AgentLeg("PJSIP/trunk-00000001", "100.1")
    alone = [channel("PJSIP/1001-00000002", "100.2", "")]
    assert caller_leg(alone, agent) is None


def test_roles() -> None:
    assert role_of("100.2", "100.1", "100.2") is MemberRole.LEADER
    assert role_of("100.1", "100.1", "100.2") is MemberRole.CALLER
    assert role_of("100.9", "100.1", "100.2") is MemberRole.PARTY


def test_redirect_moves_two_channels_at_once() -> None:
    action = actions.redirect(
        "PJSIP/trunk-00000001",
        CALLER_CONTEXT,
        "7",
        extra=("PJSIP/1001-00000002", LEADER_CONTEXT, "7"),
    )
    assert action.get("ExtraChannel") == "PJSIP/1001-00000002"
    assert action.get("ExtraContext") == LEADER_CONTEXT
    assert action.get("ExtraExten") == "7"
    for bad in ("7\r\nAction: Hangup", "7;x", ""):
        with pytest.raises(UnsafeValueError):
            actions.redirect(
                "PJSIP/t-1", CALLER_CONTEXT, "7", extra=("PJSIP/a-2", LEADER_CONTEXT, bad)
            )
    with pytest.raises(UnsafeValueError):
        actions.redirect("PJSIP/t-1", CALLER_CONTEXT, "7", extra=("SIP/x", LEADER_CONTEXT, "7"))
    assert actions.confbridge_list("callctl-conf-7").get("Conference") == "callctl-conf-7"
    with pytest.raises(UnsafeValueError):
        actions.confbridge_list("callctl-conf-7\r\nAction: Hangup")


def test_rendered_conference_makes_the_agent_leader() -> None:
    files = render(MODEL, Path(CONFIG_DIR))
    ext = files["extensions.conf"]
    for context, profile in (
        (LEADER_CONTEXT, "callctl-leader"),
        (CALLER_CONTEXT, "callctl-member"),
        (PARTY_CONTEXT, "callctl-member"),
    ):
        block = ext.split(f"[{context}]\n", 1)[1].split("\n\n", 1)[0]
        assert f"ConfBridge(callctl-conf-${{EXTEN}},callctl-bridge,{profile})" in block
    conf = files["confbridge.conf"]
    leader = conf.split("[callctl-leader]\n", 1)[1].split("\n\n", 1)[0]
    member = conf.split("[callctl-member]\n", 1)[1].split("\n\n", 1)[0]
    assert "marked = yes" in leader and "admin = yes" in leader
    assert "end_marked = yes" in member.splitlines()
    assert "marked = yes" not in member.splitlines()
    assert render(MODEL, Path(CONFIG_DIR)) == files  # deterministic

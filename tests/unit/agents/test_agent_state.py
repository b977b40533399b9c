"""Agent state commands build the right, validated AMI actions."""

from __future__ import annotations

import pytest

from agents.agent_state import (
    UnknownPauseReasonError,
    already_member,
    is_in_acw,
    login_actions,
    logout_actions,
    pause_action,
    unpause_action,
)
from callctl.lab.sample_model import sample_model

MODEL = sample_model("s3cret-generated-0123456789")


def test_login_adds_every_membership_with_penalty_and_agent_id_as_name() -> None:
    agent = MODEL.agent("2001")
    added = [(a.get("Queue"), a.get("Penalty"), a.get("MemberName")) for a in login_actions(agent)]
    assert added == [
        ("general-12345", "4", "2001"),
        ("hrss-expert", "0", "2001"),
        ("health-12320", "14", "2001"),
    ]
    assert all(a.get("StateInterface") == "PJSIP/2001" for a in login_actions(agent))
    assert [a.get("Queue") for a in logout_actions(agent)] == [
        "general-12345",
        "hrss-expert",
        "health-12320",
    ]


def test_pause_only_with_configured_reason() -> None:
    agent = MODEL.agent("2101")
    action = pause_action(MODEL, agent, "training")
    assert (action.get("Paused"), action.get("Reason"), action.get("Queue")) == (
        "true",
        "training",
        None,
    )
    for bad in ("acw", "nap", "break\r\nAction: Originate"):
        with pytest.raises(UnknownPauseReasonError):
            pause_action(MODEL, agent, bad)
    assert unpause_action(agent).get("Paused") == "false"


def test_acw_and_member_messages() -> None:
    assert is_in_acw(True, "acw") and not is_in_acw(True, "break") and not is_in_acw(False, "acw")
    assert already_member("Unable to add interface: Already there")

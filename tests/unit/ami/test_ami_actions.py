"""Action builders: wire format and refusal of anything that could inject headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ami import actions
from ami.actions import Action
from ami.errors import AmiError, UnsafeValueError
from ami.frames import parse_frames

INJECTIONS = [
    "acw\r\nAction: Hangup",
    "acw\nAction: Hangup",
    "acw\rx",
    "acw\x00",
    "acw\x1b[0m",
]


def wire_headers(action: Action) -> list[tuple[str, str]]:
    (frame,) = parse_frames(action.to_wire("id-1"))
    return list(frame.pairs)


def test_queue_pause_wire_format() -> None:
    action = actions.queue_pause("PJSIP/1001", True, queue="hotline", reason="小休")

    assert (
        action.to_wire("id-1")
        == (
            "Action: QueuePause\r\nActionID: id-1\r\nInterface: PJSIP/1001\r\nPaused: true\r\n"
            "Queue: hotline\r\nReason: 小休\r\n\r\n"
        ).encode()
    )


def test_queue_pause_all_queues_without_reason() -> None:
    assert wire_headers(actions.queue_pause("PJSIP/1001", False)) == [
        ("Action", "QueuePause"),
        ("ActionID", "id-1"),
        ("Interface", "PJSIP/1001"),
        ("Paused", "false"),
    ]


def test_login_chooses_event_classes_and_hides_secret() -> None:
    action = actions.login("callctl", "s3cret")

    assert action.get("Events") == "system,call,agent,user"
    assert "s3cret" not in repr(action)


def test_exclude_event_uses_asterisk_22_match_criteria() -> None:
    assert wire_headers(actions.exclude_event("VarSet"))[2:] == [
        ("Operation", "Add"),
        ("MatchCriteria", "action(exclude),name(VarSet)"),
        ("Filter", ""),
    ]


def test_originate_to_extension() -> None:
    action = actions.originate_to_extension(
        "PJSIP/1001",
        "callback",
        "13800138000",
        caller_id_name="12345热线",
        caller_id_num="12345",
        channel_id="cb-1.a",
        other_channel_id="cb-1.b",
        variables={"CALLCTL_JOB": "42", "__TASK": "回访"},
    )

    headers = wire_headers(action)
    assert ("Async", "true") in headers
    assert ("CallerID", '"12345热线" <12345>') in headers
    assert ("ChannelId", "cb-1.a") in headers
    assert [v for k, v in headers if k == "Variable"] == ["CALLCTL_JOB=42", "__TASK=回访"]


def test_originate_chanspy_for_supervisor() -> None:
    action = actions.originate_to_application("PJSIP/9001", "ChanSpy", "PJSIP/1001-00000013,qEu")

    assert action.get("Application") == "ChanSpy"
    assert action.get("Data") == "PJSIP/1001-00000013,qEu"


def test_list_and_query_actions() -> None:
    assert actions.queue_status().headers == ()
    assert actions.queue_status("hotline", "PJSIP/1001").headers == (
        ("Queue", "hotline"),
        ("Member", "PJSIP/1001"),
    )
    assert actions.queue_summary("hotline").get("Queue") == "hotline"
    assert actions.core_show_channels().name == "CoreShowChannels"
    assert actions.reload("res_pjsip.so").get("Module") == "res_pjsip.so"
    assert actions.hangup("PJSIP/trunk-00000012", cause=16).get("Cause") == "16"
    assert actions.blind_transfer("PJSIP/1001-00000013", "agents", "1002").name == "BlindTransfer"
    assert actions.redirect("PJSIP/trunk-00000012", "survey", "s").get("Priority") == "1"
    assert actions.set_event_mask("off").get("EventMask") == "off"
    assert (
        actions.queue_add(
            "hotline", "PJSIP/1001", member_name="王芳", penalty=1, paused=True, reason="login"
        ).get("MemberName")
        == "王芳"
    )
    assert actions.queue_penalty("PJSIP/1001", 3).get("Penalty") == "3"
    assert actions.queue_remove("hotline", "Local/1001@agents/n").get("Interface") == (
        "Local/1001@agents/n"
    )


@pytest.mark.parametrize("bad", INJECTIONS)
def test_control_characters_are_refused_in_free_text(bad: str) -> None:
    with pytest.raises(UnsafeValueError) as refused:
        actions.queue_pause("PJSIP/1001", True, reason=bad)

    assert refused.value.field == "Reason"
    assert bad not in str(refused.value)  # the attack string is not echoed into logs


@pytest.mark.parametrize(
    "build",
    [
        lambda bad: actions.queue_pause(bad, True),
        lambda bad: actions.queue_add(bad, "PJSIP/1001"),
        lambda bad: actions.queue_add("hotline", "PJSIP/1001", member_name=bad),
        lambda bad: actions.hangup(bad),
        lambda bad: actions.redirect("PJSIP/a-1", bad, "s"),
        lambda bad: actions.originate_to_extension("PJSIP/1001", "ctx", "s", caller_id_name=bad),
        lambda bad: actions.originate_to_extension("PJSIP/1001", "ctx", "s", variables={"A": bad}),
        lambda bad: actions.login("callctl", bad),
    ],
)
@pytest.mark.parametrize("bad", INJECTIONS)
def test_every_builder_refuses_injection(build: Callable[[str], Action], bad: str) -> None:
    with pytest.raises(UnsafeValueError):
        build(bad)


@pytest.mark.parametrize(
    "interface",
    [
        "SIP/1001",
        "PJSIP/",
        "PJSIP/1001 extra",
        "PJSIP/1001,1",
        "pjsip/1001",
        "PJSIP/" + "a" * 81,
        "Local/1001",
        "DAHDI/1",
    ],
)
def test_bad_interfaces_are_refused(interface: str) -> None:
    with pytest.raises(UnsafeValueError) as refused:
        actions.queue_pause(interface, True)

    assert refused.value.field == "Interface"


@pytest.mark.parametrize("queue", ["", "a" * 65, "hot line", "热线", "q|x", "q,x"])
def test_bad_queue_names_are_refused(queue: str) -> None:
    with pytest.raises(UnsafeValueError):
        actions.queue_status(queue)


def test_queue_log_separator_refused_in_reason() -> None:
    with pytest.raises(UnsafeValueError):
        actions.queue_pause("PJSIP/1001", True, reason="acw|PAUSEALL")


def test_variable_values_cannot_smuggle_a_second_variable() -> None:
    for value in ["a,B=2", 'a"b', "a\\b", "${SHELL(id)}"]:
        with pytest.raises(UnsafeValueError):
            actions.originate_to_extension("PJSIP/1001", "ctx", "s", variables={"A": value})


def test_too_long_values_are_refused() -> None:
    with pytest.raises(UnsafeValueError, match="longer than 128"):
        actions.queue_pause("PJSIP/1001", True, reason="x" * 129)
    with pytest.raises(UnsafeValueError, match="longer than 512"):
        Action("QueuePause", (("Reason", "x" * 513),))
    # 400 Chinese characters fit in 512 characters but not in a 1024-byte line.
    with pytest.raises(UnsafeValueError, match="1024 bytes"):
        Action("QueuePause", (("Reason", "热" * 400),))


def test_hand_built_actions_are_checked_too() -> None:
    with pytest.raises(UnsafeValueError, match="allow-list"):
        Action("Command", (("Command", "core restart now"),))
    with pytest.raises(UnsafeValueError, match="allow-list"):
        Action("Ping", (("X-Injected", "1"),))
    with pytest.raises(UnsafeValueError, match="control"):
        Action("Ping", (("Queue", "a\r\nAction: Hangup"),))
    with pytest.raises(UnsafeValueError, match="128 headers"):
        Action("Originate", tuple(("Variable", f"V{i}=1") for i in range(127)))


def test_application_and_numbers_are_checked() -> None:
    with pytest.raises(UnsafeValueError, match="allow-list"):
        actions.originate_to_application("PJSIP/9001", "System", "rm -rf /")
    with pytest.raises(UnsafeValueError):
        actions.queue_penalty("PJSIP/1001", -1)
    with pytest.raises(UnsafeValueError):
        actions.queue_pause("PJSIP/1001", 1)  # type: ignore[arg-type]
    with pytest.raises(UnsafeValueError):
        actions.hangup("/PJSIP/.*/")


def test_action_id_is_checked() -> None:
    with pytest.raises(UnsafeValueError):
        actions.ping().to_wire("1\r\nAction: Hangup")


def test_unsafe_value_error_has_stable_id() -> None:
    assert UnsafeValueError.error_id == "ami_unsafe_value"
    assert issubclass(UnsafeValueError, AmiError)


def test_config_check_actions() -> None:
    assert actions.pjsip_show_endpoints().name == "PJSIPShowEndpoints"
    assert actions.pjsip_show_contacts().name == "PJSIPShowContacts"
    dialplan = actions.show_dialplan("from-trunk", "12345")
    assert dialplan.get("Context") == "from-trunk" and dialplan.get("Extension") == "12345"
    with pytest.raises(UnsafeValueError):
        actions.show_dialplan("from-trunk\r\nAction: Originate")

"""Typed events: field mapping, unit normalisation, bad input, unknown events."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ami import events as ev
from ami.frames import Frame, parse_frames
from ami.testing import load_transcript

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"
NODE = "ast-1"
AT = 1_732_190_400.5


def answered_call() -> list[ev.AmiEvent]:
    frames = parse_frames(load_transcript(FIXTURES / "answered_call.txt"))
    return [ev.parse_event(frame, NODE, AT) for frame in frames]


def one(kind: type[ev.AmiEvent], events: list[ev.AmiEvent]) -> ev.AmiEvent:
    (found,) = [event for event in events if type(event) is kind]
    return found


def frame(**headers: str) -> Frame:
    return Frame.from_pairs(headers.items())


def test_transcript_events_are_typed() -> None:
    names = [type(event).__name__ for event in answered_call()]

    assert names == [
        "Newchannel",
        "UserEvent",
        "QueueCallerJoin",
        "Newchannel",
        "AgentCalled",
        "GenericEvent",  # DialBegin
        "GenericEvent",  # DialEnd
        "QueueCallerLeave",
        "AgentConnect",
        "BridgeEnter",
        "BridgeEnter",
        "MixMonitorStart",
        "QueueMemberStatus",
        "BridgeLeave",
        "AgentComplete",
        "MixMonitorStop",
        "Hangup",
        "BridgeLeave",
        "Hangup",
        "QueueMemberStatus",
        "QueueMemberPause",
    ]
    assert all(event.node == NODE and event.received_at == AT for event in answered_call())
    assert all(not event.invalid_fields for event in answered_call())


def test_queue_caller_join_fields() -> None:
    join = one(ev.QueueCallerJoin, answered_call())
    assert isinstance(join, ev.QueueCallerJoin)

    assert join.queue == "hotline"
    assert (join.position, join.count) == (1, 1)
    assert join.channel == "PJSIP/trunk-00000012"
    assert join.uniqueid == join.linkedid == "1732190400.101"
    assert (join.caller_id_num, join.caller_id_name) == ("13800138000", "张三丰")
    assert join.connected_line_name == "<unknown>"  # kept as Asterisk sends it
    assert (join.context, join.exten, join.channel_state) == ("hotline-queue", "s", 6)
    assert join.headers["Privilege"] == "agent,all"


def test_agent_events_take_agent_leg_from_dest_headers() -> None:
    called = one(ev.AgentCalled, answered_call())
    assert isinstance(called, ev.AgentCalled)

    assert called.uniqueid == "1732190400.101"  # the caller
    assert called.dest_channel == "PJSIP/1001-00000013"
    assert called.dest_uniqueid == "1732190400.102"
    assert called.dest_linkedid == "1732190400.101"
    assert called.dest_caller_id_name == "王芳"
    assert (called.interface, called.member_name) == ("PJSIP/1001", "王芳")


def test_agent_connect_and_complete_units() -> None:
    events = answered_call()
    connect = one(ev.AgentConnect, events)
    complete = one(ev.AgentComplete, events)
    assert isinstance(connect, ev.AgentConnect)
    assert isinstance(complete, ev.AgentComplete)

    assert (connect.hold_s, connect.wait_s, connect.ring_s) == (12.0, 12, 3.0)
    assert isinstance(connect.wait_s, int)
    assert (complete.hold_s, complete.wait_s) == (12.0, 12)
    assert (complete.talk_time_s, complete.talk_s) == (95.0, 95)
    assert complete.reason == "caller"


def test_ring_no_answer_ring_time_is_milliseconds() -> None:
    event = ev.parse_event(
        frame(
            Event="AgentRingNoAnswer",
            Channel="PJSIP/trunk-1",
            Uniqueid="1.1",
            Queue="hotline",
            Interface="PJSIP/1001",
            RingTime="15250",
        ),
        NODE,
        AT,
    )

    assert isinstance(event, ev.AgentRingNoAnswer)
    assert event.ring_s == 15.25
    assert event.dest_channel is None  # agent leg absent: optional


def test_abandon_hold_time() -> None:
    event = ev.parse_event(
        frame(
            Event="QueueCallerAbandon",
            Channel="PJSIP/trunk-1",
            Uniqueid="1.1",
            Queue="hotline",
            Position="2",
            OriginalPosition="5",
            HoldTime="31",
        ),
        NODE,
        AT,
    )

    assert isinstance(event, ev.QueueCallerAbandon)
    assert (event.position, event.original_position) == (2, 5)
    assert (event.hold_s, event.wait_s) == (31.0, 31)


def test_member_fields() -> None:
    pause = one(ev.QueueMemberPause, answered_call())
    assert isinstance(pause, ev.QueueMemberPause)

    assert (pause.queue, pause.interface, pause.member_name) == ("hotline", "PJSIP/1001", "王芳")
    assert pause.paused is True
    assert pause.paused_reason == "acw"
    assert pause.status == 1
    assert pause.in_call is False
    assert pause.calls_taken == 8
    assert (pause.login_time, pause.last_pause, pause.last_call) == (
        1732183200,
        1732190519,
        1732190519,
    )
    assert pause.ring_in_use is False
    assert pause.wrapup_s == 0.0
    assert pause.membership == "dynamic"


def test_queue_status_reply_items() -> None:
    frames = parse_frames(load_transcript(FIXTURES / "queue_status.txt"))
    params, member, entry = (ev.parse_event(f, NODE, AT) for f in frames)

    assert isinstance(params, ev.QueueParams)
    assert (params.calls, params.completed, params.abandoned) == (1, 7, 1)
    assert (params.avg_hold_s, params.avg_talk_s, params.service_level_s) == (14.0, 180.0, 15.0)
    assert params.service_level_perf == 85.7
    assert isinstance(member, ev.QueueMember)
    assert (member.member_name, member.interface) == ("王芳", "PJSIP/1001")  # Name/Location
    assert member.ring_in_use is None
    assert isinstance(entry, ev.QueueEntry)
    assert (entry.position, entry.uniqueid, entry.caller_id_name) == (1, "1732190500.120", "李小龙")
    assert (entry.hold_s, entry.wait_s) == (9.0, 9)


def test_hangup_bridge_and_user_event() -> None:
    events = answered_call()
    hangup = next(e for e in events if isinstance(e, ev.Hangup))
    enter = next(e for e in events if isinstance(e, ev.BridgeEnter))
    user = one(ev.UserEvent, events)
    assert isinstance(user, ev.UserEvent)

    assert (hangup.cause, hangup.cause_txt) == (16, "Normal Clearing")
    assert enter.bridge_uniqueid == "4f3c1a2e-8b7d-4e55-9a0b-2c6d1e9f7a31"
    assert (enter.bridge_num_channels, enter.swap_uniqueid) == (1, None)
    assert user.user_event == "ivr_choice"
    assert user.uniqueid == "1732190400.101"
    assert dict(user.fields) == {"Menu": "main", "Digit": "1", "Label": "市政咨询"}
    assert user.headers["Channel"] == "PJSIP/trunk-00000012"  # all headers kept


def test_core_show_channel_duration() -> None:
    event = ev.parse_event(
        frame(Event="CoreShowChannel", Channel="PJSIP/1001-1", Uniqueid="2.2", Duration="01:02:03"),
        NODE,
        AT,
    )

    assert isinstance(event, ev.CoreShowChannel)
    assert event.duration_s == 3723.0


def test_fully_booted() -> None:
    event = ev.parse_event(
        frame(Event="FullyBooted", Uptime="3600", LastReload="60", Status="Fully Booted"), NODE, AT
    )

    assert isinstance(event, ev.FullyBooted)
    assert (event.uptime_s, event.last_reload_s, event.status) == (3600.0, 60.0, "Fully Booted")


def test_unknown_event_is_generic() -> None:
    event = ev.parse_event(frame(Event="DialEnd", DialStatus="ANSWER"), NODE, AT)

    assert type(event) is ev.GenericEvent
    assert event.name == "DialEnd"
    assert event.headers["DialStatus"] == "ANSWER"
    assert event.invalid_fields == ()


@pytest.mark.parametrize(
    ("header", "value"),
    [("ChannelState", "one"), ("HoldTime", "NaN"), ("HoldTime", ""), ("RingTime", "1e999")],
)
def test_bad_numbers_become_none_and_are_reported(header: str, value: str) -> None:
    headers = {
        "Event": "AgentConnect",
        "Channel": "PJSIP/trunk-1",
        "Uniqueid": "1.1",
        "Queue": "hotline",
        "Position": "1",
        "HoldTime": "5",
        "RingTime": "2",
    }
    headers[header] = value

    event = ev.parse_event(frame(**headers), NODE, AT)

    assert isinstance(event, ev.AgentConnect)
    assert event.invalid_fields == (header,)
    if header == "HoldTime":
        assert (event.hold_s, event.wait_s) == (None, None)
    if header == "RingTime":
        assert event.ring_s is None


def test_bad_flag_and_reason_are_reported() -> None:
    member = ev.parse_event(
        frame(Event="QueueMemberPause", Queue="q", Interface="PJSIP/1", Paused="maybe"), NODE, AT
    )
    complete = ev.parse_event(
        frame(Event="AgentComplete", Channel="c", Uniqueid="u", Queue="q", Reason="alien"),
        NODE,
        AT,
    )

    assert isinstance(member, ev.QueueMemberPause)
    assert (member.paused, member.invalid_fields) == (None, ("Paused",))
    assert isinstance(complete, ev.AgentComplete)
    assert (complete.reason, complete.invalid_fields) == (None, ("Reason",))


def test_missing_identity_header_gives_generic_event() -> None:
    event = ev.parse_event(frame(Event="QueueCallerJoin", Channel="c", Queue="q"), NODE, AT)

    assert type(event) is ev.GenericEvent
    assert event.name == "QueueCallerJoin"
    assert event.invalid_fields == ("Uniqueid",)


def test_frame_without_event_header() -> None:
    event = ev.parse_event(frame(Response="Success"), NODE, AT)

    assert type(event) is ev.GenericEvent
    assert event.invalid_fields == ("Event",)


def test_events_are_immutable() -> None:
    join = one(ev.QueueCallerJoin, answered_call())
    assert isinstance(join, ev.QueueCallerJoin)

    with pytest.raises(FrozenInstanceError):
        join.queue = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        join.headers["Queue"] = "other"  # type: ignore[index]


def test_every_table_entry_builds_its_own_class() -> None:
    for name, build in ev.EVENT_CONSTRUCTORS.items():
        minimal = frame(
            Event=name,
            Channel="PJSIP/x-1",
            Uniqueid="1.1",
            Queue="q",
            Interface="PJSIP/x",
            Location="PJSIP/x",
            BridgeUniqueid="b",
            UserEvent="u",
        )
        event = build(minimal, NODE, AT)
        assert type(event).__name__ == name
        assert event.invalid_fields == ()


def test_recorded_lab_transcripts_parse_cleanly() -> None:
    """Transcripts recorded from the lab's real Asterisk 22 (timestampevents = yes)."""
    recorded = sorted((FIXTURES.parent / "ami_recorded").glob("*.ami"))
    if not recorded:
        pytest.skip("no recorded transcripts in tests/fixtures/ami_recorded")
    for path in recorded:
        frames = [f for f in parse_frames(load_transcript(path)) if f.event]
        events = [ev.parse_event(f, NODE, AT) for f in frames]
        assert all(not e.invalid_fields for e in events), path.name
        assert all(e.timestamp is not None for e in events if "Timestamp" in e.headers)
        joins = [e for e in events if isinstance(e, ev.QueueCallerJoin)]
        assert all(join.caller_id_name for join in joins), path.name


def test_asterisk_timestamp_is_parsed_when_present() -> None:
    stamped = ev.parse_event(frame(Event="Foo", Timestamp="1795291045.077065"), NODE, AT)
    broken = ev.parse_event(frame(Event="Foo", Timestamp="soon"), NODE, AT)

    assert stamped.timestamp == 1795291045.077065
    assert (broken.timestamp, broken.invalid_fields) == (None, ())
    assert one(ev.QueueCallerJoin, answered_call()).timestamp is None


def test_agent_complete_without_the_callers_snapshot_is_still_an_agent_complete() -> None:
    # The caller's channel was gone when Asterisk built the event: no Channel, no Uniqueid.
    event = ev.parse_event(
        frame(
            Event="AgentComplete",
            DestChannel="PJSIP/1008-0000000f",
            DestUniqueid="1795291045.15",
            DestLinkedid="1795291045.14",
            Queue="hotline",
            Interface="PJSIP/1008",
            MemberName="1008",
            HoldTime="1",
            TalkTime="2",
            Reason="agent",
        ),
        NODE,
        AT,
    )

    assert isinstance(event, ev.AgentComplete)
    assert (event.channel, event.uniqueid, event.dest_uniqueid) == (None, None, "1795291045.15")
    assert (event.talk_s, event.reason, event.invalid_fields) == (2, "agent", ())


def test_a_channel_event_without_its_name_keeps_its_uniqueid() -> None:
    event = ev.parse_event(
        frame(Event="QueueCallerLeave", Uniqueid="1.1", Queue="hotline", Position="1"), NODE, AT
    )

    assert isinstance(event, ev.QueueCallerLeave)
    assert (event.channel, event.uniqueid) == (None, "1.1")


def test_a_channel_event_without_its_uniqueid_is_generic() -> None:
    event = ev.parse_event(
        frame(Event="QueueCallerLeave", Channel="PJSIP/t-1", Queue="q"), NODE, AT
    )

    assert isinstance(event, ev.GenericEvent)
    assert event.invalid_fields == ("Uniqueid",)

"""Agent* events without the caller's snapshot, and Asterisk restarts seen on AMI.

Asterisk builds an Agent* event's caller part from the caller channel's latest
snapshot; when that channel is gone the part is missing (no Channel, Uniqueid or
Linkedid). A restart shows as a later start time in FullyBooted's Uptime; the
waiting callers are then ``lost`` exactly as queue_log's QUEUESTART makes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from ami.events import AmiEvent, parse_event
from ami.frames import Frame, FrameParser
from ami.testing import load_transcript
from callctl.facts.from_queue_log import fold_queue_log, latest_facts
from callctl.facts.models import CallFact, Fact, HangupSide, QueueEntryFact
from callctl.ingest.normalizer import AmiNormalizer
from kpi.outcome import Outcome

NODE = "ast1"
T0 = 1_795_400_000
RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "ami_recorded"
CALLER_HEADERS = frozenset(
    {
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
    }
)


def event(name: str, at: float, **headers: str) -> AmiEvent:
    pairs = {"Event": name, "Privilege": "agent,all", "Timestamp": f"{at:.6f}", **headers}
    return parse_event(Frame.from_pairs(pairs.items()), NODE, at)


def caller(uniqueid: str) -> dict[str, str]:
    return {
        "Channel": "PJSIP/trunk-00000001",
        "CallerIDNum": "13900000000",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
    }


def agent(agent_id: str, leg: str, queue: str = "hotline") -> dict[str, str]:
    return {
        "DestChannel": f"PJSIP/{agent_id}-00000002",
        "DestUniqueid": leg,
        "DestLinkedid": leg.rsplit(".", 1)[0] + ".1",
        "Queue": queue,
        "Interface": f"PJSIP/{agent_id}",
        "MemberName": agent_id,
    }


def join(uniqueid: str, at: float, position: str = "1") -> AmiEvent:
    return event("QueueCallerJoin", at, **caller(uniqueid), Queue="hotline", Position=position)


def booted(received_at: float, uptime_s: int) -> AmiEvent:
    # FullyBooted at login carries no Timestamp: received_at is callctl's clock.
    frame = Frame.from_pairs(
        [
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", str(uptime_s)),
            ("LastReload", str(uptime_s)),
            ("Status", "Fully Booted"),
        ]
    )
    return parse_event(frame, NODE, received_at)


def feed_all(normalizer: AmiNormalizer, events: Iterable[AmiEvent]) -> list[Fact]:
    facts: list[Fact] = []
    for item in events:
        facts += normalizer.feed(item)
    return facts


def entries(facts: Iterable[Fact]) -> dict[str, QueueEntryFact]:
    return {f.callid: f for f in latest_facts(facts) if isinstance(f, QueueEntryFact)}


# --- Agent* events without the caller ------------------------------------------------------


def _strip_caller(frame: Frame) -> Frame:
    if frame.event != "AgentComplete":
        return frame
    return Frame.from_pairs((k, v) for k, v in frame.pairs if k not in CALLER_HEADERS)


def test_recorded_agent_complete_without_the_caller_keeps_talk_and_hangup_side() -> None:
    """The lab's recorded answered call, its AgentComplete stripped of the caller part."""
    data = load_transcript(RECORDED / "answered.ami")
    normalizer = AmiNormalizer(NODE)
    facts: list[Fact] = []
    stripped = 0
    for frame in FrameParser().feed(data):
        if frame.event == "AgentComplete":
            stripped += 1
        facts += normalizer.feed(parse_event(_strip_caller(frame), NODE, 0.0))
    queue_log = fold_queue_log(
        (RECORDED / "answered.queue_log").read_text(encoding="utf-8").splitlines(), NODE
    )

    assert stripped == 1
    ami_facts = [f for f in latest_facts(facts) if not isinstance(f, CallFact)]
    assert ami_facts == queue_log.facts
    [entry] = [f for f in ami_facts if isinstance(f, QueueEntryFact)]
    assert (entry.talk_s, entry.hangup_side) == (2, HangupSide.AGENT)
    stats = normalizer.stats
    assert (stats.malformed_events, stats.unknown_calls, stats.callerless_events) == (0, 0, 1)


@pytest.mark.parametrize(
    "kept",
    [
        pytest.param({"DestUniqueid"}, id="agent leg only"),
        pytest.param({"Linkedid"}, id="linkedid only"),
        pytest.param({"MemberName", "Interface"}, id="member only"),
        pytest.param({"Uniqueid"}, id="uniqueid without channel"),
    ],
)
def test_agent_complete_is_matched_by_whatever_identifies_the_call(kept: set[str]) -> None:
    normalizer = AmiNormalizer(NODE)
    uid = f"{T0}.1"
    feed_all(
        normalizer,
        [
            join(uid, T0 + 0.2),
            event(
                "AgentConnect",
                T0 + 3.4,
                **caller(uid),
                **agent("1008", f"{T0}.2"),
                HoldTime="3",
                RingTime="1",
            ),
        ],
    )
    complete = caller(uid) | agent("1008", f"{T0}.2")
    headers = {k: v for k, v in complete.items() if k in kept | {"Queue"}}
    # A second caller talks to another agent: a member-only match must pick the right one.
    feed_all(
        normalizer,
        [
            join(f"{T0}.5", T0 + 1.0, position="2"),
            event(
                "AgentConnect",
                T0 + 4.1,
                **caller(f"{T0}.5"),
                **agent("1009", f"{T0}.6"),
                HoldTime="3",
                RingTime="1",
            ),
        ],
    )

    facts = normalizer.feed(
        event("AgentComplete", T0 + 50.9, **headers, HoldTime="3", TalkTime="47", Reason="caller")
    )

    [entry] = [f for f in facts if isinstance(f, QueueEntryFact)]
    assert (entry.callid, entry.agent, entry.talk_s) == (uid, "1008", 47)
    assert (entry.hangup_side, entry.completed_at) == (HangupSide.CALLER, T0 + 50)
    assert normalizer.stats.malformed_events == 0
    assert normalizer.stats.unknown_calls == 0


def test_agent_connect_without_the_caller_is_matched_by_the_ringing_member() -> None:
    normalizer = AmiNormalizer(NODE)
    uid = f"{T0}.1"
    feed_all(
        normalizer,
        [
            join(uid, T0 + 0.2),
            join(f"{T0}.7", T0 + 0.5, position="2"),
            event("AgentCalled", T0 + 0.3, **caller(uid), **agent("1008", f"{T0}.2")),
        ],
    )
    connect = {k: v for k, v in agent("1008", f"{T0}.2").items() if k != "DestLinkedid"}

    facts = normalizer.feed(event("AgentConnect", T0 + 2.5, **connect, HoldTime="2", RingTime="2"))

    [entry] = facts
    assert isinstance(entry, QueueEntryFact)
    assert (entry.callid, entry.outcome, entry.wait_s) == (uid, Outcome.ANSWERED, 2)


def test_agent_complete_matching_nothing_is_counted_as_unknown_not_malformed() -> None:
    normalizer = AmiNormalizer(NODE)

    facts = normalizer.feed(
        event("AgentComplete", T0, Queue="hotline", HoldTime="1", TalkTime="2", Reason="agent")
    )

    assert facts == []
    assert normalizer.stats.unknown_calls == 1
    assert normalizer.stats.malformed_events == 0


# --- restarts ---------------------------------------------------------------------------------


def test_restart_closes_waiting_callers_as_lost_like_queue_log() -> None:
    """Three callers: one answered, two waiting when Asterisk is killed at T0+20 and
    starts again at T0+25; callctl logs in again at T0+27 (Uptime 2)."""
    normalizer = AmiNormalizer(NODE)
    ami = feed_all(
        normalizer,
        [
            booted(T0 - 0.5, 3600),
            join(f"{T0}.1", T0 + 0.2),
            join(f"{T0}.3", T0 + 1.6, position="2"),
            join(f"{T0}.4", T0 + 2.1, position="3"),
            event(
                "AgentConnect",
                T0 + 3.4,
                **caller(f"{T0}.1"),
                **agent("1008", f"{T0}.2"),
                HoldTime="3",
                RingTime="1",
            ),
            booted(T0 + 27.3, 2),
        ],
    )
    queue_log = fold_queue_log(
        [
            f"{T0}|{T0}.1|hotline|NONE|ENTERQUEUE||13900000000|1",
            f"{T0 + 1}|{T0}.3|hotline|NONE|ENTERQUEUE||13900000000|2",
            f"{T0 + 2}|{T0}.4|hotline|NONE|ENTERQUEUE||13900000000|3",
            f"{T0 + 3}|{T0}.1|hotline|1008|CONNECT|3|{T0}.2|1",
            f"{T0 + 25}|NONE|NONE|NONE|QUEUESTART|",
        ],
        NODE,
    )

    from_ami = entries(ami)
    assert from_ami == entries(queue_log.facts)
    assert {k: (e.outcome, e.ended_wait_at, e.wait_s) for k, e in from_ami.items()} == {
        f"{T0}.1": (Outcome.ANSWERED, T0 + 3, 3),
        f"{T0}.3": (Outcome.LOST, T0 + 25, 24),
        f"{T0}.4": (Outcome.LOST, T0 + 25, 23),
    }
    assert (normalizer.stats.restarts, normalizer.stats.lost_on_restart) == (1, 2)
    assert normalizer.open_entries == []


def test_a_new_login_to_the_same_boot_loses_nothing() -> None:
    normalizer = AmiNormalizer(NODE)
    facts = feed_all(
        normalizer,
        [
            booted(T0 - 0.5, 3600),
            join(f"{T0}.1", T0 + 0.2),
            # An AMI reconnect 30 s later: same Asterisk, Uptime grew by 30.
            booted(T0 + 29.6, 3630),
        ],
    )

    [entry] = entries(facts).values()
    assert entry.outcome is None
    assert normalizer.stats.restarts == 0


def test_restart_settles_an_exit_already_under_way() -> None:
    normalizer = AmiNormalizer(NODE)
    uid = f"{T0}.1"
    facts = feed_all(
        normalizer,
        [
            booted(T0 - 0.5, 3600),
            join(uid, T0 + 0.2),
            event(
                "QueueCallerAbandon",
                T0 + 9.5,
                **caller(uid),
                Queue="hotline",
                Position="1",
                OriginalPosition="1",
                HoldTime="9",
            ),
            booted(T0 + 40.0, 5),
        ],
    )

    [entry] = entries(facts).values()
    assert (entry.outcome, entry.wait_s) == (Outcome.ABANDONED, 9)
    assert normalizer.stats.lost_on_restart == 0

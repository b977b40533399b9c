"""AmiNormalizer rules, event by event: exits, rings, transfers, agents, bad input."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ami.events import AmiEvent, parse_event
from ami.frames import Frame, parse_frames
from ami.testing import load_transcript
from callctl.facts.from_queue_log import latest_facts
from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    CallFact,
    Fact,
    HangupSide,
    QueueEntryFact,
)
from callctl.ingest.normalizer import AmiNormalizer, IllegalStayMove, StayState
from kpi.outcome import Outcome

NODE = "ast1"
T0 = 1_795_400_000
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def event(name: str, at: float, **headers: str) -> AmiEvent:
    pairs = {"Event": name, "Privilege": "agent,all", "Timestamp": f"{at:.6f}", **headers}
    return parse_event(Frame.from_pairs(pairs.items()), NODE, at)


@dataclass(frozen=True)
class Caller:
    """Builds the AMI events of one caller's channel, with Asterisk's header names."""

    uniqueid: str = f"{T0}.1"
    number: str = "13900000000"

    def _channel(self) -> dict[str, str]:
        return {
            "Channel": "PJSIP/trunk-00000001",
            "CallerIDNum": self.number,
            "Uniqueid": self.uniqueid,
            "Linkedid": self.uniqueid,
        }

    def _agent(self, queue: str, agent: str, leg: str) -> dict[str, str]:
        return {
            **self._channel(),
            "DestChannel": f"PJSIP/{agent}-00000002",
            "DestUniqueid": leg,
            "Queue": queue,
            "Interface": f"PJSIP/{agent}",
            "MemberName": agent,
        }

    def join(self, at: float, queue: str = "hotline", position: str = "1") -> AmiEvent:
        return event("QueueCallerJoin", at, **self._channel(), Queue=queue, Position=position)

    def leave(self, at: float, queue: str = "hotline") -> AmiEvent:
        return event("QueueCallerLeave", at, **self._channel(), Queue=queue, Position="1")

    def abandon(self, at: float, hold: str, queue: str = "hotline") -> AmiEvent:
        return event(
            "QueueCallerAbandon",
            at,
            **self._channel(),
            Queue=queue,
            Position="1",
            OriginalPosition="1",
            HoldTime=hold,
        )

    def called(self, at: float, agent: str, leg: str, queue: str = "hotline") -> AmiEvent:
        return event("AgentCalled", at, **self._agent(queue, agent, leg))

    def no_answer(self, at: float, agent: str, leg: str, queue: str = "hotline") -> AmiEvent:
        return event("AgentRingNoAnswer", at, **self._agent(queue, agent, leg), RingTime="15000")

    def dial_answered(self, at: float, leg: str) -> AmiEvent:
        return event("DialEnd", at, **self._channel(), DestUniqueid=leg, DialStatus="ANSWER")

    def connect(
        self, at: float, agent: str, leg: str, hold: str, queue: str = "hotline"
    ) -> AmiEvent:
        headers = self._agent(queue, agent, leg)
        return event("AgentConnect", at, **headers, HoldTime=hold, RingTime="1")

    def complete(
        self,
        at: float,
        agent: str,
        leg: str,
        hold: str,
        talk: str,
        reason: str = "caller",
        queue: str = "hotline",
    ) -> AmiEvent:
        headers = self._agent(queue, agent, leg)
        return event("AgentComplete", at, **headers, HoldTime=hold, TalkTime=talk, Reason=reason)

    def hangup_request(self, at: float, soft: bool = False) -> AmiEvent:
        name = "SoftHangupRequest" if soft else "HangupRequest"
        return event(name, at, **self._channel(), Cause="16")

    def hangup(self, at: float) -> AmiEvent:
        return event("Hangup", at, **self._channel(), Cause="16")

    def new_channel(
        self, at: float, context: str = "from-trunk", exten: str = "12345", name: str = "李四"
    ) -> AmiEvent:
        headers = self._channel() | {"CallerIDName": name}
        return event("Newchannel", at, **headers, Context=context, Exten=exten)

    def queue_exit(self, at: float, status: str, queue: str = "hotline") -> AmiEvent:
        return event(
            "UserEvent",
            at,
            **self._channel(),
            UserEvent="CallctlQueueExit",
            Line="12345",
            Queue=queue,
            Status=status,
        )


def member(name: str, at: float, agent: str = "1008", **headers: str) -> AmiEvent:
    fields = {"Queue": "hotline", "MemberName": agent, "Interface": f"PJSIP/{agent}"}
    return event(name, at, **(fields | headers))


def feed_all(normalizer: AmiNormalizer, events: Iterable[AmiEvent]) -> list[Fact]:
    facts: list[Fact] = []
    for item in events:
        facts += normalizer.feed(item)
    return facts


def entries(facts: Iterable[Fact]) -> list[QueueEntryFact]:
    return [fact for fact in latest_facts(facts) if isinstance(fact, QueueEntryFact)]


CALLER = Caller()


# --- how an unanswered exit is told ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("TIMEOUT", Outcome.TIMEOUT),
        ("LEAVEEMPTY", Outcome.EMPTY),
        ("LEAVEUNAVAIL", Outcome.EMPTY),
        ("WITHDRAW", Outcome.TRANSFER),
    ],
)
def test_queue_exit_status_tells_what_queue_caller_abandon_was(
    status: str, outcome: Outcome
) -> None:
    normalizer = AmiNormalizer(NODE)
    feed_all(normalizer, [CALLER.join(T0 + 0.2)])

    # No hangup request came first: the caller is still up, the outcome waits.
    assert normalizer.feed(CALLER.abandon(T0 + 30.4, "30")) == []
    assert normalizer.feed(CALLER.leave(T0 + 30.4)) == []
    (entry,) = normalizer.feed(CALLER.queue_exit(T0 + 30.5, status))

    assert isinstance(entry, QueueEntryFact)
    assert (entry.outcome, entry.wait_s, entry.ended_wait_at) == (outcome, 30, T0 + 30)
    assert normalizer.feed(CALLER.hangup(T0 + 30.6)) == []
    assert normalizer.open_entries == []
    assert normalizer.stats.exits_without_status == 0


@pytest.mark.parametrize("soft", [False, True])
def test_hangup_request_before_queue_caller_abandon_is_an_abandon_at_once(soft: bool) -> None:
    normalizer = AmiNormalizer(NODE)
    feed_all(normalizer, [CALLER.join(T0 + 0.2), CALLER.hangup_request(T0 + 9.9, soft=soft)])

    (entry,) = normalizer.feed(CALLER.abandon(T0 + 9.9, "9"))

    assert isinstance(entry, QueueEntryFact)
    assert (entry.outcome, entry.wait_s, entry.ended_wait_at) == (Outcome.ABANDONED, 9, T0 + 9)
    assert feed_all(normalizer, [CALLER.leave(T0 + 9.9), CALLER.hangup(T0 + 9.9)]) == []


def test_exit_without_status_is_an_abandon_when_the_caller_hangs_up() -> None:
    # E.g. an AMI Redirect moved the waiting caller (no hangup request, no UserEvent):
    # queue_log writes ABANDON for it.
    normalizer = AmiNormalizer(NODE)
    events = [CALLER.join(T0), CALLER.abandon(T0 + 4.1, "4"), CALLER.leave(T0 + 4.1)]
    assert entries(feed_all(normalizer, events))[0].outcome is None

    (entry,) = normalizer.feed(CALLER.hangup(T0 + 50))

    assert isinstance(entry, QueueEntryFact)
    assert (entry.outcome, entry.wait_s, entry.ended_wait_at) == (Outcome.ABANDONED, 4, T0 + 4)
    assert normalizer.stats.exits_without_status == 1


def test_exit_without_status_is_settled_when_the_caller_joins_another_queue() -> None:
    normalizer = AmiNormalizer(NODE)
    feed_all(normalizer, [CALLER.join(T0), CALLER.abandon(T0 + 4.1, "4"), CALLER.leave(T0 + 4.1)])

    first, second = normalizer.feed(CALLER.join(T0 + 5.3, queue="expert"))

    assert isinstance(first, QueueEntryFact) and isinstance(second, QueueEntryFact)
    assert (first.queue, first.outcome) == ("hotline", Outcome.ABANDONED)
    assert (second.queue, second.outcome, second.entered_at) == ("expert", None, T0 + 5)


def test_exit_without_status_is_settled_after_the_grace_period() -> None:
    normalizer = AmiNormalizer(NODE, exit_status_grace_s=5)
    other = Caller(uniqueid=f"{T0}.9")
    feed_all(normalizer, [CALLER.join(T0), CALLER.abandon(T0 + 4.1, "4")])

    # Any later event tells the time; 5 s after the abandon the status is not coming.
    assert [e.callid for e in entries(normalizer.feed(other.join(T0 + 9.0)))] == [other.uniqueid]
    settled = entries(normalizer.feed(other.leave(T0 + 10.0)))

    assert [(e.callid, e.outcome, e.wait_s) for e in settled] == [
        (CALLER.uniqueid, Outcome.ABANDONED, 4)
    ]
    assert normalizer.stats.exits_without_status == 1


def test_leave_without_connect_or_abandon_is_an_exit_with_key() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0 + 0.5),
        CALLER.called(T0 + 0.6, "1008", "leg.1"),
        CALLER.leave(T0 + 12.2),
        CALLER.hangup(T0 + 40),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert (entry.outcome, entry.wait_s, entry.ended_wait_at) == (Outcome.KEY, 12, T0 + 12)
    # The key pressed while 1008 rang: queue_log writes RINGCANCELED for it.
    assert entry.ring_attempts == 1


def test_unknown_exit_status_counts_and_falls_back_to_abandoned() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [CALLER.join(T0), CALLER.abandon(T0 + 3, "3"), CALLER.queue_exit(T0 + 3, "CONTINUE")]

    (entry,) = entries(feed_all(normalizer, events))

    assert entry.outcome is Outcome.ABANDONED
    assert normalizer.stats.exits_without_status == 1


def test_exit_event_of_a_caller_that_never_joined_is_nothing() -> None:
    # JOINEMPTY / FULL: Queue() refused the caller; queue_log has no line either.
    normalizer = AmiNormalizer(NODE)

    assert normalizer.feed(CALLER.queue_exit(T0, "JOINEMPTY")) == []
    assert normalizer.stats.illegal_transitions == 0
    assert normalizer.stats.unknown_calls == 0


# --- rings ----------------------------------------------------------------------------------


def test_ring_no_answer_then_answered_by_another_agent() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0 + 0.9),
        CALLER.called(T0 + 0.9, "1010", "leg.1"),
        CALLER.no_answer(T0 + 15.9, "1010", "leg.1"),
        CALLER.called(T0 + 20.9, "1011", "leg.2"),
        CALLER.dial_answered(T0 + 22.9, "leg.2"),
        CALLER.leave(T0 + 22.9),
        CALLER.connect(T0 + 22.9, "1011", "leg.2", hold="22"),
        CALLER.complete(T0 + 62.95, "1011", "leg.2", hold="22", talk="40", reason="agent"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert entry == QueueEntryFact(
        node=NODE,
        callid=CALLER.uniqueid,
        queue="hotline",
        seq=1,
        entered_at=T0,
        caller_num="13900000000",
        position=1,
        outcome=Outcome.ANSWERED,
        ended_wait_at=T0 + 22,
        wait_s=22,
        agent="1011",
        ring_attempts=2,
        talk_s=40,
        hangup_side=HangupSide.AGENT,
        completed_at=T0 + 62,
    )


def test_rings_still_open_when_the_caller_abandons_count_as_canceled() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.called(T0 + 0.1, "1008", "leg.1"),
        CALLER.called(T0 + 0.1, "1009", "leg.2"),
        CALLER.no_answer(T0 + 15.1, "1009", "leg.2"),
        CALLER.called(T0 + 20.1, "1009", "leg.3"),
        CALLER.hangup_request(T0 + 21.5),
        CALLER.abandon(T0 + 21.5, "21"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    # RINGNOANSWER 1009 + RINGCANCELED 1008 and 1009 (second ring).
    assert (entry.outcome, entry.ring_attempts) == (Outcome.ABANDONED, 3)


def test_caller_gone_just_before_the_connect_cancels_no_ring() -> None:
    # Someone answered (DialEnd ANSWER): Asterisk hangs up the other rings and logs
    # ABANDON without any RINGCANCELED.
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.called(T0 + 0.1, "1008", "leg.1"),
        CALLER.called(T0 + 0.1, "1009", "leg.2"),
        CALLER.dial_answered(T0 + 3.2, "leg.1"),
        CALLER.hangup_request(T0 + 3.3),
        CALLER.abandon(T0 + 3.3, "3"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert (entry.outcome, entry.ring_attempts) == (Outcome.ABANDONED, 0)


def test_ringall_counts_only_the_ring_that_connected() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.called(T0 + 0.1, "1008", "leg.1"),
        CALLER.called(T0 + 0.1, "1009", "leg.2"),
        CALLER.dial_answered(T0 + 2.2, "leg.2"),
        CALLER.leave(T0 + 2.2),
        CALLER.connect(T0 + 2.2, "1009", "leg.2", hold="2"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert (entry.outcome, entry.agent, entry.ring_attempts) == (Outcome.ANSWERED, "1009", 1)


def test_agent_dump_is_not_a_ring_attempt() -> None:
    normalizer = AmiNormalizer(NODE)
    dump = event(
        "AgentDump",
        T0 + 2.3,
        Channel="PJSIP/trunk-00000001",
        Uniqueid=CALLER.uniqueid,
        DestUniqueid="leg.1",
        Queue="hotline",
        MemberName="1008",
    )
    events = [
        CALLER.join(T0),
        CALLER.called(T0 + 0.1, "1008", "leg.1"),
        CALLER.dial_answered(T0 + 2.2, "leg.1"),
        dump,
        CALLER.hangup_request(T0 + 5.5),
        CALLER.abandon(T0 + 5.5, "5"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert (entry.outcome, entry.ring_attempts) == (Outcome.ABANDONED, 0)


# --- answered calls and transfers -----------------------------------------------------------


def test_transfer_to_another_queue_while_the_first_entry_awaits_agent_complete() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.leave(T0 + 2.1),
        CALLER.connect(T0 + 2.1, "1008", "leg.1", hold="2"),
        # The agent blind-transfers the caller into queue expert; the Stasis callback
        # that sends AgentComplete (Reason transfer) runs after the caller joined.
        CALLER.join(T0 + 50.2, queue="expert"),
        CALLER.complete(T0 + 50.3, "1008", "leg.1", hold="2", talk="48", reason="transfer"),
        CALLER.hangup_request(T0 + 60.1),
        CALLER.abandon(T0 + 60.1, "9", queue="expert"),
    ]

    first, second = entries(feed_all(normalizer, events))

    assert (first.queue, first.outcome, first.hangup_side) == (
        "hotline",
        Outcome.ANSWERED,
        HangupSide.TRANSFER,
    )
    assert (first.talk_s, first.completed_at) == (48, T0 + 50)
    assert (second.queue, second.outcome, second.wait_s) == ("expert", Outcome.ABANDONED, 9)
    assert normalizer.stats.illegal_transitions == 0


def test_second_stay_in_the_same_queue_is_seq_2() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.abandon(T0 + 5, "5"),
        CALLER.queue_exit(T0 + 5, "TIMEOUT"),
        CALLER.join(T0 + 6),
    ]

    first, second = entries(feed_all(normalizer, events))

    assert (first.seq, first.outcome, second.seq, second.outcome) == (
        1,
        Outcome.TIMEOUT,
        2,
        None,
    )


def test_unreadable_complete_reason_leaves_the_hangup_side_unknown() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.connect(T0 + 1, "1008", "leg.1", hold="1"),
        CALLER.complete(T0 + 9, "1008", "leg.1", hold="1", talk="8", reason="both"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    assert (entry.talk_s, entry.hangup_side, entry.completed_at) == (8, None, T0 + 9)
    assert normalizer.stats.malformed_events == 1


# --- agents ---------------------------------------------------------------------------------


def test_acw_pause_after_the_call_is_tied_to_it_and_ends_on_unpause() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.connect(T0 + 1, "1008", "leg.1", hold="1"),
        CALLER.complete(T0 + 31.2, "1008", "leg.1", hold="1", talk="30"),
        member(
            "QueueMemberPause", T0 + 31.3, Paused="1", PausedReason="acw", LastPause=f"{T0 + 31}"
        ),
        member("QueueMemberPause", T0 + 61.7, Paused="0", PausedReason="", LastPause=f"{T0 + 31}"),
    ]

    facts = latest_facts(feed_all(normalizer, events))

    assert [f for f in facts if isinstance(f, AcwInterval)] == [
        AcwInterval(NODE, "1008", T0 + 31, T0 + 61, AcwEnd.UNPAUSE, CALLER.uniqueid, "hotline", 1)
    ]
    assert [f for f in facts if isinstance(f, AgentStateInterval)] == [
        AgentStateInterval(NODE, "1008", AgentState.PAUSED, "acw", T0 + 31, T0 + 61)
    ]


def test_pause_in_every_queue_is_one_interval_and_uses_asterisk_last_pause() -> None:
    normalizer = AmiNormalizer(NODE)
    # PauseQueueMember with no queue: one QueueMemberPause per queue, stamped later
    # than Asterisk's own LastPause second.
    events = [
        member("QueueMemberPause", T0 + 1.01, Paused="1", PausedReason="培训", LastPause=f"{T0}"),
        member(
            "QueueMemberPause",
            T0 + 1.02,
            Queue="expert",
            Paused="1",
            PausedReason="培训",
            LastPause=f"{T0}",
        ),
        member("QueueMemberPause", T0 + 90.5, Paused="0", LastPause=f"{T0}"),
        member("QueueMemberPause", T0 + 90.5, Queue="expert", Paused="0", LastPause=f"{T0}"),
    ]

    facts = latest_facts(feed_all(normalizer, events))

    assert facts == [AgentStateInterval(NODE, "1008", AgentState.PAUSED, "培训", T0, T0 + 90)]


def test_a_stale_last_pause_is_not_used() -> None:
    normalizer = AmiNormalizer(NODE)
    pause = member("QueueMemberPause", T0 + 0.5, Paused="1", PausedReason="x", LastPause="0")

    (interval,) = normalizer.feed(pause)

    assert isinstance(interval, AgentStateInterval)
    assert interval.started_at == T0


def test_login_paused_then_logoff() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        member("QueueMemberAdded", T0 + 0.3, Paused="1", PausedReason="", LoginTime=f"{T0}"),
        member("QueueMemberRemoved", T0 + 600.2, Paused="1", LoginTime=f"{T0}"),
    ]

    facts = latest_facts(feed_all(normalizer, events))

    assert facts == [
        AgentSession(NODE, "1008", "hotline", T0, T0 + 600),
        AgentStateInterval(NODE, "1008", AgentState.PAUSED, "", T0, T0 + 600),
    ]


def test_member_removed_without_a_session_is_an_agent_orphan() -> None:
    normalizer = AmiNormalizer(NODE)

    assert normalizer.feed(member("QueueMemberRemoved", T0)) == []
    assert normalizer.stats.agent_orphans == 1


# --- bad input: counted, never fatal --------------------------------------------------------


def test_unknown_and_unused_events_are_ignored_and_counted() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        event("VarSet", T0, Channel="PJSIP/trunk-1", Uniqueid="x", Variable="A", Value="1"),
        event("Newexten", T0, Channel="PJSIP/trunk-1", Uniqueid="x", Application="Queue"),
        event("SomethingNewInAsterisk23", T0, Foo="bar"),
        member("QueueMemberStatus", T0, Status="6", Paused="0"),
        event("UserEvent", T0, Channel="PJSIP/trunk-1", Uniqueid="x", UserEvent="IvrChoice"),
        parse_event(Frame.from_pairs([("Response", "Success"), ("Ping", "Pong")]), NODE, T0),
    ]

    assert feed_all(normalizer, events) == []
    stats = normalizer.stats
    assert (stats.events_seen, stats.events_ignored, stats.malformed_events) == (6, 6, 0)


def test_malformed_numbers_are_counted_and_the_rest_is_used() -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0 + 0.4, position="first"),
        CALLER.called(T0 + 0.5, "1008", "leg.1"),
        event(
            "AgentRingNoAnswer",
            T0 + 15.5,
            Channel="PJSIP/trunk-00000001",
            Uniqueid=CALLER.uniqueid,
            DestUniqueid="leg.1",
            Queue="hotline",
            MemberName="1008",
            RingTime="15 s",
        ),
        CALLER.connect(T0 + 20.7, "1009", "leg.2", hold="twenty"),
        CALLER.complete(T0 + 80.1, "1009", "leg.2", hold="20", talk="1e9x"),
        member("QueueMemberPause", T0 + 81, Paused="maybe", PausedReason="acw"),
    ]

    (entry,) = entries(feed_all(normalizer, events))

    # Falls back on the event times for the unreadable HoldTime/TalkTime.
    assert (entry.position, entry.ring_attempts) == (None, 2)
    assert (entry.wait_s, entry.ended_wait_at) == (20, T0 + 20)
    assert (entry.talk_s, entry.completed_at) == (60, T0 + 80)
    stats = normalizer.stats
    assert stats.malformed_events == 5
    assert stats.illegal_transitions == 0


def test_events_missing_an_identifying_header_are_malformed() -> None:
    normalizer = AmiNormalizer(NODE)
    no_uniqueid = event("QueueCallerJoin", T0, Channel="PJSIP/trunk-1", Queue="hotline")

    assert normalizer.feed(no_uniqueid) == []
    assert normalizer.stats.malformed_events == 1


def test_without_timestamp_the_receive_time_is_used_and_counted() -> None:
    normalizer = AmiNormalizer(NODE)
    frame = Frame.from_pairs(
        [
            ("Event", "QueueCallerJoin"),
            ("Channel", "PJSIP/trunk-1"),
            ("Uniqueid", "u.1"),
            ("Queue", "hotline"),
        ]
    )

    (entry,) = normalizer.feed(parse_event(frame, NODE, T0 + 0.75))

    assert isinstance(entry, QueueEntryFact)
    assert entry.entered_at == T0
    assert normalizer.stats.untimed_events == 1


def test_illegal_moves_are_counted_and_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.join(T0),
        CALLER.complete(T0 + 1, "1008", "leg.1", hold="1", talk="0"),  # before AgentConnect
        CALLER.queue_exit(T0 + 1, "TIMEOUT"),  # still waiting: no QueueCallerAbandon
        CALLER.leave(T0 + 2),
        CALLER.leave(T0 + 2),  # twice
        CALLER.called(T0 + 3, "1008", "leg.1"),  # after leaving
    ]

    feed_all(normalizer, events)

    assert normalizer.stats.illegal_transitions == 4
    assert "AgentComplete on waiting -> closed entry" in caplog.text


def test_illegal_stay_move_is_a_typed_error() -> None:
    assert IllegalStayMove.error_id == "ami_normalizer.illegal_transition"
    assert {state.value for state in StayState} == {
        "waiting",
        "left",
        "exiting",
        "talking",
        "closed",
    }


def test_queue_events_of_unseen_calls_are_unknown_calls() -> None:
    # The AMI session started while these callers were already queued.
    normalizer = AmiNormalizer(NODE)
    events = [
        CALLER.called(T0, "1008", "leg.1"),
        CALLER.connect(T0 + 1, "1008", "leg.1", hold="40"),
        CALLER.complete(T0 + 9, "1008", "leg.1", hold="40", talk="8"),
        CALLER.abandon(T0 + 9, "9"),
    ]

    assert feed_all(normalizer, events) == []
    assert normalizer.stats.unknown_calls == 4


def test_caller_gone_without_exit_events_is_lost_not_guessed() -> None:
    normalizer = AmiNormalizer(NODE)
    feed_all(normalizer, [CALLER.join(T0)])

    assert normalizer.feed(CALLER.hangup(T0 + 5)) == []
    assert normalizer.open_entries == []
    assert normalizer.stats.lost_entries == 1


def test_entries_older_than_retention_are_dropped() -> None:
    normalizer = AmiNormalizer(NODE, retention_s=3600)
    later = Caller(uniqueid=f"{T0 + 4000}.7")
    feed_all(normalizer, [CALLER.join(T0), later.join(T0 + 4000)])

    assert [entry.callid for entry in normalizer.open_entries] == [later.uniqueid]
    assert normalizer.stats.lost_entries == 1


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_and_corrupted_streams_never_crash(seed: int) -> None:
    rng = random.Random(seed)
    frames: list[Frame] = []
    for folder in ("ami_recorded", "ami_normalizer"):
        for path in sorted((FIXTURES / folder).glob("*.ami")):
            frames += parse_frames(load_transcript(path))
    rng.shuffle(frames)
    normalizer = AmiNormalizer(NODE)
    for frame in frames:
        headers = dict(frame.headers)
        for key in rng.sample(sorted(headers), k=min(2, len(headers))):
            headers[key] = rng.choice(["", "-1", "abc", "1e400", "9" * 30, "<unknown>"])
        normalizer.feed(parse_event(Frame.from_pairs(headers.items()), NODE, T0))

    assert normalizer.stats.events_seen == len(frames)


# --- calls --------------------------------------------------------------------------------


def calls(facts: Iterable[Fact]) -> list[CallFact]:
    return [fact for fact in latest_facts(facts) if isinstance(fact, CallFact)]


def test_call_from_the_first_channel_of_a_trunk_call() -> None:
    normalizer = AmiNormalizer(NODE)
    agent_leg = {
        "Channel": "PJSIP/1008-00000002",
        "CallerIDNum": "1008",
        "Context": "agents",
        "Exten": "s",
        "Uniqueid": f"{T0}.2",
        "Linkedid": CALLER.uniqueid,
    }
    facts = feed_all(
        normalizer,
        [
            CALLER.new_channel(T0 + 0.4),
            CALLER.join(T0 + 1),
            event("Newchannel", T0 + 1.2, **agent_leg),
            event("Hangup", T0 + 30.5, **agent_leg, Cause="16"),
            CALLER.hangup(T0 + 30.6),
        ],
    )

    assert calls(facts) == [
        CallFact(NODE, CALLER.uniqueid, T0, "12345", "13900000000", "李四", T0 + 30, 16)
    ]
    assert normalizer.stats.calls_without_start == 0


def test_unknown_caller_id_is_null_and_no_line_outside_the_trunk_context() -> None:
    caller = Caller(number="<unknown>")
    facts = feed_all(AmiNormalizer(NODE), [caller.new_channel(T0, "internal", "8001", "")])

    assert calls(facts) == [CallFact(NODE, caller.uniqueid, T0)]


def test_trunk_context_is_a_setting() -> None:
    normalizer = AmiNormalizer(NODE, trunk_context="dids")
    facts = feed_all(normalizer, [CALLER.new_channel(T0, "dids", "12333")])

    assert [call.line for call in calls(facts)] == ["12333"]


def test_hangup_of_a_call_whose_start_was_not_seen_is_counted_not_guessed() -> None:
    normalizer = AmiNormalizer(NODE)

    assert normalizer.feed(CALLER.hangup(T0 + 5)) == []
    assert normalizer.stats.calls_without_start == 1


def test_a_repeated_newchannel_does_not_restart_the_call() -> None:
    normalizer = AmiNormalizer(NODE)
    facts = feed_all(normalizer, [CALLER.new_channel(T0), CALLER.new_channel(T0 + 9)])

    assert [call.started_at for call in calls(facts)] == [T0]


def test_calls_whose_hangup_never_comes_are_dropped_after_retention() -> None:
    normalizer = AmiNormalizer(NODE, retention_s=3600)
    later = Caller(uniqueid=f"{T0 + 4000}.7")
    feed_all(normalizer, [CALLER.new_channel(T0), later.new_channel(T0 + 4000)])

    assert normalizer.stats.calls_lost == 1
    # The dropped call's hangup is now one whose start is unknown.
    assert normalizer.feed(CALLER.hangup(T0 + 4001)) == []
    assert calls(normalizer.feed(later.hangup(T0 + 4002)))[0].ended_at == T0 + 4002

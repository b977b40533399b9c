"""A fact built from AMI equals the same fact built from queue_log alone.

Each transcript is fed bytes → ``FrameParser`` → ``parse_event`` → ``AmiNormalizer``;
the queue_log lines Asterisk wrote for the same call go through ``fold_queue_log``.
The final value of every fact (latest snapshot per natural key) must be equal, all
fields compared. ``ami_recorded`` is the real lab Asterisk 22.10; ``ami_normalizer``
holds hand-made transcripts in the same field layout (see its README).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ami.events import parse_event
from ami.frames import FrameParser
from ami.testing import load_transcript
from callctl.facts.calls import calls_from_entries
from callctl.facts.from_queue_log import fold_queue_log, latest_facts
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
from callctl.ingest.normalizer import AmiNormalizer, NormalizerStats
from kpi.outcome import Outcome

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORDED = sorted((FIXTURES / "ami_recorded").glob("*.ami"))
HAND_MADE = sorted((FIXTURES / "ami_normalizer").glob("*.ami"))
NODE = "ast1"


def from_ami(path: Path, chunk: int = 4096) -> tuple[list[Fact], NormalizerStats]:
    """The facts queue_log also has (all but calls): see ``calls_from_ami``."""
    facts, stats = all_from_ami(path, chunk)
    return [f for f in facts if not isinstance(f, CallFact)], stats


def calls_from_ami(path: Path) -> list[CallFact]:
    return [f for f in all_from_ami(path)[0] if isinstance(f, CallFact)]


def all_from_ami(path: Path, chunk: int = 4096) -> tuple[list[Fact], NormalizerStats]:
    """Replay a transcript as a socket would deliver it, in ``chunk``-byte reads."""
    data = load_transcript(path)
    parser = FrameParser()
    normalizer = AmiNormalizer(NODE)
    emitted: list[Fact] = []
    for start in range(0, len(data), chunk):
        for frame in parser.feed(data[start : start + chunk]):
            emitted += normalizer.feed(parse_event(frame, NODE, 0.0))
    for frame in parser.finish():
        emitted += normalizer.feed(parse_event(frame, NODE, 0.0))
    return latest_facts(emitted), normalizer.stats


def from_queue_log(path: Path) -> list[Fact]:
    result = fold_queue_log(
        path.with_suffix(".queue_log").read_text(encoding="utf-8").splitlines(), NODE
    )
    assert not result.malformed
    return result.facts


def entries(facts: list[Fact]) -> list[QueueEntryFact]:
    return [fact for fact in facts if isinstance(fact, QueueEntryFact)]


def test_fixtures_are_there() -> None:
    assert [p.stem for p in RECORDED] == [
        "abandoned",
        "answered",
        "pause_unpause",
        "ring_no_answer",
    ]
    assert len(HAND_MADE) == 4


@pytest.mark.parametrize("path", RECORDED + HAND_MADE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_ami_facts_equal_queue_log_facts(path: Path) -> None:
    ami_facts, stats = from_ami(path)
    queue_log_facts = from_queue_log(path)

    assert entries(ami_facts) == entries(queue_log_facts)
    # Agent facts too (pauses, ACW, sessions), all fields, same order of first appearance.
    assert ami_facts == queue_log_facts
    assert stats.illegal_transitions == 0
    assert stats.unknown_calls == 0
    assert stats.malformed_events == 0
    assert stats.lost_entries == 0
    assert stats.exits_without_status == 0


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_tcp_cuts_do_not_change_the_facts(chunk: int) -> None:
    # One byte at a time splits the UTF-8 caller name 张三丰 too.
    path = FIXTURES / "ami_recorded" / "answered.ami"
    assert from_ami(path, chunk)[0] == from_queue_log(path)


def test_recorded_answered_call_fact() -> None:
    """Spelled out, so that equality is not two builders agreeing on a mistake."""
    facts, _ = from_ami(FIXTURES / "ami_recorded" / "answered.ami")

    assert facts == [
        QueueEntryFact(
            node=NODE,
            callid="1795291045.14",
            queue="hotline",
            seq=1,
            entered_at=1795291045,
            caller_num="13812345678",
            position=1,
            outcome=Outcome.ANSWERED,
            ended_wait_at=1795291046,
            wait_s=1,
            agent="1008",
            ring_attempts=1,
            talk_s=2,
            hangup_side=HangupSide.AGENT,
            completed_at=1795291048,
        )
    ]


@pytest.mark.parametrize(
    ("name", "wait_s", "ring_attempts"),
    [("abandoned", 3, 1), ("ring_no_answer", 20, 2)],
)
def test_recorded_abandons_count_canceled_rings(name: str, wait_s: int, ring_attempts: int) -> None:
    # queue_log's RINGCANCELED has no AMI event: the ring still open at the abandon counts.
    (entry,) = entries(from_ami(FIXTURES / "ami_recorded" / f"{name}.ami")[0])

    assert entry.outcome is Outcome.ABANDONED
    assert entry.wait_s == wait_s
    assert entry.ring_attempts == ring_attempts
    assert entry.ended_wait_at == entry.entered_at + wait_s


def test_recorded_pause() -> None:
    facts, _ = from_ami(FIXTURES / "ami_recorded" / "pause_unpause.ami")

    assert facts == [
        AgentStateInterval(NODE, "1005", AgentState.PAUSED, "小休", 1795291057, 1795291058)
    ]


def test_queue_log_times_are_entered_plus_asterisk_seconds() -> None:
    """Why ``ended_wait_at``/``completed_at`` are derived: on queue_log they are the same sums.

    Asterisk writes each line with ``time(NULL)`` and computes its hold and talk seconds
    from that same clock reading, so CONNECT/ABANDON = ENTERQUEUE + holdtime and COMPLETE*
    = ENTERQUEUE + holdtime + calltime whenever ``qe->start`` and the ENTERQUEUE line share
    a second; the AMI ``Timestamp`` is taken later, by the manager thread.
    """
    for path in RECORDED + HAND_MADE:
        for entry in entries(from_queue_log(path)):
            assert entry.wait_s is not None
            assert entry.ended_wait_at == entry.entered_at + entry.wait_s, path.name
            if entry.talk_s is not None:
                assert entry.completed_at == entry.ended_wait_at + entry.talk_s, path.name


def test_two_entries_when_the_dialplan_moves_the_caller_to_another_queue() -> None:
    facts, _ = from_ami(FIXTURES / "ami_normalizer" / "queue_transfer.ami")

    first, second = entries(facts)
    assert (first.queue, first.outcome, first.wait_s, first.ring_attempts) == (
        "hotline",
        Outcome.TIMEOUT,
        20,
        1,
    )
    assert (second.queue, second.outcome, second.agent, second.talk_s) == (
        "expert",
        Outcome.ANSWERED,
        "1011",
        65,
    )
    assert second.entered_at == first.ended_wait_at == 1795300120
    assert first.callid == second.callid and first.seq == second.seq == 1


def test_late_delivery_does_not_shift_times() -> None:
    # AgentConnect is stamped 1795300223.000412 but Asterisk wrote CONNECT at ...222.
    facts, _ = from_ami(FIXTURES / "ami_normalizer" / "ring_then_answered.ami")

    (entry,) = entries(facts)
    assert (entry.ended_wait_at, entry.completed_at) == (1795300222, 1795300262)
    assert (entry.agent, entry.ring_attempts, entry.hangup_side) == ("1011", 2, HangupSide.AGENT)


def test_logoff_during_acw_ends_the_acw() -> None:
    facts, _ = from_ami(FIXTURES / "ami_normalizer" / "logoff_during_acw.ami")

    assert [f for f in facts if isinstance(f, AgentSession)] == [
        AgentSession(NODE, "1012", "hotline", 1795300400, 1795300462)
    ]
    assert [f for f in facts if isinstance(f, AcwInterval)] == [
        AcwInterval(
            NODE,
            "1012",
            started_at=1795300442,
            ended_at=1795300462,
            ended_by=AcwEnd.LOGOFF,
            callid="1795300410.70",
            queue="hotline",
            seq=1,
        )
    ]


@pytest.mark.parametrize(
    ("name", "started_at", "ended_at", "cause"),
    [
        ("answered", 1795291045, 1795291048, 16),
        ("abandoned", 1795291051, 1795291054, 127),
        ("ring_no_answer", 1795291067, 1795291087, 127),
    ],
)
def test_recorded_call_fact(name: str, started_at: int, ended_at: int, cause: int) -> None:
    """The trunk channel's Newchannel and Hangup; the agent legs add nothing."""
    calls = calls_from_ami(FIXTURES / "ami_recorded" / f"{name}.ami")

    (entry,) = entries(from_ami(FIXTURES / "ami_recorded" / f"{name}.ami")[0])
    assert calls == [
        CallFact(
            node=NODE,
            linkedid=entry.callid,  # the caller's Uniqueid is the call's Linkedid
            started_at=started_at,
            line="12345",
            caller_num="13812345678",
            caller_name="张三丰",
            ended_at=ended_at,
            hangup_cause=cause,
        )
    ]


def test_call_fact_is_emitted_at_the_start_and_completed_at_hangup() -> None:
    emitted = [
        f
        for f in all_from_ami_emitted(FIXTURES / "ami_recorded" / "answered.ami")
        if isinstance(f, CallFact)
    ]
    assert [(f.started_at, f.ended_at) for f in emitted] == [
        (1795291045, None),
        (1795291045, 1795291048),
    ]


def all_from_ami_emitted(path: Path) -> list[Fact]:
    normalizer = AmiNormalizer(NODE)
    emitted: list[Fact] = []
    for frame in FrameParser().feed(load_transcript(path)):
        emitted += normalizer.feed(parse_event(frame, NODE, 0.0))
    return emitted


@pytest.mark.parametrize("path", RECORDED + HAND_MADE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_queue_log_call_facts_are_a_subset_of_ami_ones(path: Path) -> None:
    """What queue_log tells of a call agrees with AMI, and starts no earlier."""
    ami_calls = {c.linkedid: c for c in calls_from_ami(path)}
    for call in calls_from_entries(entries(from_queue_log(path))):
        ami = ami_calls[call.linkedid]
        assert call.caller_num == ami.caller_num
        assert call.started_at >= ami.started_at
        assert (call.line, call.caller_name, call.ended_at, call.hangup_cause) == (None,) * 4

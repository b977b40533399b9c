"""queue_log fixtures folded into facts: entries, pauses, sessions and ACW."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest

from callctl.facts.from_queue_log import (
    FoldResult,
    QueueLogFolder,
    fold_queue_log,
    latest_facts,
)
from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    Fact,
    HangupSide,
    QueueEntryFact,
)
from callctl.facts.queue_log import Malformed, parse_lines
from kpi.outcome import Outcome

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.log"))
NODE = "ast1"

F = TypeVar("F", QueueEntryFact, AgentStateInterval, AgentSession, AcwInterval)


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines(keepends=True)


def fold(name: str, agent_names: dict[str, str] | None = None) -> FoldResult:
    return fold_queue_log(lines(name), NODE, agent_names=agent_names)


def only(result: FoldResult, kind: type[F]) -> list[F]:
    return [fact for fact in result.facts if isinstance(fact, kind)]


def test_answered_call_with_acw() -> None:
    result = fold("answered.log")

    assert only(result, QueueEntryFact) == [
        QueueEntryFact(
            node=NODE,
            callid="1732150893.5",
            queue="general",
            seq=1,
            entered_at=1732150900,
            caller_num="13800138000",
            position=1,
            outcome=Outcome.ANSWERED,
            ended_wait_at=1732150904,
            wait_s=4,
            agent="1001",
            ring_attempts=1,
            talk_s=120,
            hangup_side=HangupSide.CALLER,
            completed_at=1732151024,
        )
    ]
    assert only(result, AcwInterval) == [
        AcwInterval(
            node=NODE,
            agent="1001",
            started_at=1732151024,
            ended_at=1732151054,
            ended_by=AcwEnd.UNPAUSE,
            callid="1732150893.5",
            queue="general",
            seq=1,
        )
    ]
    assert only(result, AgentStateInterval) == [
        AgentStateInterval(NODE, "1001", AgentState.PAUSED, "acw", 1732151024, 1732151054)
    ]
    assert only(result, AgentSession) == [AgentSession(NODE, "1001", "general", 1732150810)]
    assert result.malformed == []
    assert result.stats.orphans == result.stats.illegal == 0


def test_ring_no_answer_then_answered_by_another_agent() -> None:
    result = fold("ring_no_answer_then_answered.log")

    [entry] = only(result, QueueEntryFact)
    assert (entry.outcome, entry.agent, entry.wait_s, entry.ring_attempts) == (
        Outcome.ANSWERED,
        "1002",
        22,
        2,
    )
    assert (entry.talk_s, entry.hangup_side) == (180, HangupSide.AGENT)
    pauses = {
        (p.agent, p.reason): (p.started_at, p.ended_at) for p in only(result, AgentStateInterval)
    }
    assert pauses == {
        ("1001", "Auto-Pause"): (1732152115, 1732152330),
        ("1002", "acw"): (1732152302, 1732152362),
    }


def test_acw_logged_before_the_completion_is_still_tied_to_the_call() -> None:
    [acw] = only(fold("ring_no_answer_then_answered.log"), AcwInterval)

    assert acw.entry_key == (NODE, "1732152098.20", "general", 1)
    assert (acw.length_s, acw.ended_by) == (60, AcwEnd.UNPAUSE)


def test_caller_abandons_while_an_agent_rings() -> None:
    [entry] = only(fold("abandon_while_ringing.log"), QueueEntryFact)

    assert entry.outcome is Outcome.ABANDONED
    assert (entry.wait_s, entry.ended_wait_at, entry.ring_attempts) == (8, 1732153108, 1)
    assert entry.agent is None
    assert (entry.talk_s, entry.completed_at, entry.hangup_side) == (None, None, None)
    assert entry.is_closed


def test_timeout_empty_and_key_exits() -> None:
    entries = only(fold("unanswered_exits.log"), QueueEntryFact)

    assert [(e.outcome, e.wait_s, e.ring_attempts) for e in entries] == [
        (Outcome.TIMEOUT, 30, 1),
        (Outcome.EMPTY, 12, 0),
        (Outcome.KEY, 45, 0),
    ]
    assert all(e.is_closed for e in entries)


def test_transfer_between_queues_gives_one_entry_per_stay() -> None:
    result = fold("transfer_between_queues.log")

    entries = only(result, QueueEntryFact)
    assert [
        (e.queue, e.seq, e.entered_at, e.wait_s, e.agent, e.talk_s, e.hangup_side) for e in entries
    ] == [
        ("general", 1, 1732155100, 3, "1001", 60, HangupSide.TRANSFER),
        ("expert", 1, 1732155163, 12, "2001", 120, HangupSide.TRANSFER),
        ("general", 2, 1732155295, 2, "1001", 100, HangupSide.CALLER),
    ]
    assert {e.callid for e in entries} == {"1732155098.50"}
    assert len({e.key for e in entries}) == 3
    [acw] = only(result, AcwInterval)
    assert (acw.queue, acw.seq, acw.length_s) == ("general", 1, 30)


def test_logoff_during_acw_ends_it() -> None:
    result = fold("logoff_during_acw.log", agent_names={"PJSIP/1003": "1003"})

    [acw] = only(result, AcwInterval)
    assert (acw.started_at, acw.ended_at, acw.ended_by) == (1732156192, 1732156232, AcwEnd.LOGOFF)
    assert acw.entry_key == (NODE, "1732156097.70", "general", 1)
    [pause] = only(result, AgentStateInterval)
    assert (pause.agent, pause.ended_at) == ("1003", 1732156232)
    sessions = only(result, AgentSession)
    assert {(s.agent, s.queue, s.ended_at) for s in sessions} == {
        ("1003", "general", 1732156232),
        ("1003", "expert", 1732156232),
    }


def test_without_the_interface_mapping_logoff_cannot_end_the_acw() -> None:
    # queues.conf log_membername_as_agent=no and no mapping: ADDMEMBER names
    # PJSIP/1003 while the pause names 1003, so the two never meet.
    [acw] = only(fold("logoff_during_acw.log"), AcwInterval)

    assert acw.ended_at is None


def test_malformed_lines_are_counted_and_the_rest_still_folds() -> None:
    result = fold("malformed.log")

    assert [m.line_no for m in result.malformed] == [2, 4, 5, 7, 8]
    assert all(isinstance(m, Malformed) and m.why for m in result.malformed)
    [entry] = only(result, QueueEntryFact)
    assert (entry.outcome, entry.wait_s, entry.talk_s) == (Outcome.ANSWERED, 2, 60)
    assert result.stats.ignored == 2  # PENALTY, CONFIGRELOAD


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_feeding_line_by_line_gives_the_same_facts_as_a_rebuild(name: str) -> None:
    folder = QueueLogFolder(NODE, agent_names={"PJSIP/1003": "1003"})
    emitted: list[Fact] = []
    for item in parse_lines(lines(name)):
        if not isinstance(item, Malformed):
            emitted += folder.feed(item)

    rebuilt = fold(name, agent_names={"PJSIP/1003": "1003"})
    assert latest_facts(emitted) == rebuilt.facts
    # Replaying the same file again yields the same rows: upserts are idempotent.
    assert fold(name, agent_names={"PJSIP/1003": "1003"}).facts == rebuilt.facts


def test_every_change_is_emitted_as_the_full_new_value() -> None:
    folder = QueueLogFolder(NODE)
    emitted = [
        fact
        for item in parse_lines(lines("ring_no_answer_then_answered.log"))
        if not isinstance(item, Malformed)
        for fact in folder.feed(item)
    ]

    values = [f for f in emitted if isinstance(f, QueueEntryFact)]
    assert [(v.outcome, v.ring_attempts, v.completed_at) for v in values] == [
        (None, 0, None),
        (None, 1, None),
        (Outcome.ANSWERED, 2, None),
        (Outcome.ANSWERED, 2, 1732152302),
    ]


def test_events_for_unknown_calls_are_orphans() -> None:
    # Replay started after the call entered the queue.
    tail = lines("answered.log")[3:]

    result = fold_queue_log(tail, NODE)

    assert only(result, QueueEntryFact) == []
    assert result.stats.orphans == 2


def test_out_of_order_events_are_counted_not_applied() -> None:
    result = fold_queue_log(
        [
            "100|1.1|general|NONE|ENTERQUEUE||138|1\n",
            "110|1.1|general|1001|COMPLETECALLER|10|0|1\n",  # never connected
            "111|1.1|general|NONE|ABANDON|1|1|11\n",
            "112|1.1|general|NONE|ABANDON|1|1|12\n",  # already closed: orphan
        ],
        NODE,
    )

    [entry] = only(result, QueueEntryFact)
    assert (entry.outcome, entry.wait_s) == (Outcome.ABANDONED, 11)
    assert (result.stats.illegal, result.stats.orphans) == (1, 1)


def test_asterisk_restart_closes_waiting_entries_as_lost_and_keeps_agents() -> None:
    result = fold_queue_log(
        [
            "100|MANAGER|general|1001|ADDMEMBER|\n",
            "101|1.1|general|NONE|ENTERQUEUE||138|1\n",
            "102|NONE|NONE|NONE|QUEUESTART|\n",
            "110|1.1|general|NONE|ABANDON|1|1|9\n",  # the old call's line: an orphan now
        ],
        NODE,
    )

    [entry] = only(result, QueueEntryFact)
    assert (entry.outcome, entry.ended_wait_at, entry.wait_s) == (Outcome.LOST, 102, 1)
    assert entry.is_closed
    assert result.stats.lost_on_restart == 1
    assert result.stats.orphans == 1
    assert only(result, AgentSession)[0].ended_at is None


def test_restart_loses_only_waiting_entries_answered_ones_stay_answered() -> None:
    result = fold_queue_log(
        [
            "100|1.1|general|NONE|ENTERQUEUE||138|1\n",
            "101|1.2|general|NONE|ENTERQUEUE||139|2\n",
            "103|1.1|general|1001|CONNECT|3|1.3|1\n",
            "104|1.4|general|NONE|ENTERQUEUE||140|2\n",
            "105|1.5|general|NONE|ENTERQUEUE||141|3\n",
            "106|1.5|general|NONE|ABANDON|3|3|1\n",
            "120|NONE|NONE|NONE|QUEUESTART|\n",
            "130|1.6|general|NONE|ENTERQUEUE||142|1\n",  # a new call after the restart
        ],
        NODE,
    )

    outcomes = {e.callid: (e.outcome, e.wait_s) for e in only(result, QueueEntryFact)}
    assert outcomes == {
        "1.1": (Outcome.ANSWERED, 3),
        "1.2": (Outcome.LOST, 19),
        "1.4": (Outcome.LOST, 16),
        "1.5": (Outcome.ABANDONED, 1),
        "1.6": (None, None),
    }
    assert result.stats.lost_on_restart == 3  # two waiting, one in conversation


def test_pause_reason_change_splits_the_interval_and_ends_acw() -> None:
    result = fold_queue_log(
        [
            "100|NONE|NONE|1001|PAUSEALL|acw\n",
            "100|NONE|general|1001|PAUSE|acw\n",
            "150|NONE|general|1001|PAUSE|lunch\n",
            "200|NONE|general|1001|UNPAUSE|\n",
            "201|NONE|general|1001|UNPAUSE|\n",  # not paused: nothing to end
        ],
        NODE,
    )

    pauses = only(result, AgentStateInterval)
    assert [(p.reason, p.started_at, p.ended_at) for p in pauses] == [
        ("acw", 100, 150),
        ("lunch", 150, 200),
    ]
    [acw] = only(result, AcwInterval)
    assert (acw.length_s, acw.ended_by, acw.entry_key) == (50, AcwEnd.REASON_CHANGE, None)


def test_member_added_paused_opens_a_pause_of_unknown_reason() -> None:
    result = fold_queue_log(["100|MANAGER|general|1001|ADDMEMBER|PAUSED\n"], NODE)

    assert only(result, AgentStateInterval) == [
        AgentStateInterval(NODE, "1001", AgentState.PAUSED, "", 100)
    ]


def test_long_open_entries_expire_from_the_state() -> None:
    folder = QueueLogFolder(NODE, retention_s=3600)
    for line in [
        "1000|1.1|general|NONE|ENTERQUEUE||138|1\n",
        "9000|2.2|general|NONE|ENTERQUEUE||139|1\n",
    ]:
        item = next(parse_lines([line]))
        assert not isinstance(item, Malformed)
        folder.feed(item)

    assert [e.callid for e in folder.open_entries] == ["2.2"]
    assert folder.stats.expired == 1

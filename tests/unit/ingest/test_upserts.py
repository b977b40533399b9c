"""Facts → rows, and the in-batch merge that mirrors the SQL upsert."""

from __future__ import annotations

import itertools
from dataclasses import fields, replace

import pytest

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
from callctl.ingest.fact_codec import FactSource
from callctl.ingest.upserts import TABLES, Merge, Row, TableSpec, collapse, merge_rows
from kpi.outcome import Outcome

JOINED = QueueEntryFact(
    node="lab", callid="c1", queue="q", seq=1, entered_at=100, caller_num="138", position=2
)
# Snapshots are cumulative: each carries what the earlier ones knew.
ANSWERED = replace(
    JOINED, outcome=Outcome.ANSWERED, ended_wait_at=110, wait_s=10, agent="a1", ring_attempts=2
)
COMPLETED = replace(ANSWERED, talk_s=60, hangup_side=HangupSide.CALLER, completed_at=170)
# The same entry as rebuilt by a path that knows less (no caller number, fewer rings).
REBUILT = replace(COMPLETED, caller_num=None, position=None, ring_attempts=1)


def rows_of(table: str, result: list[tuple[TableSpec, list[Row]]]) -> list[dict[str, object]]:
    for spec, rows in result:
        if spec.table == table:
            return [dict(zip(spec.column_names, row, strict=True)) for row in rows]
    return []


def test_table_columns_match_the_fact_fields() -> None:
    # A field added to a fact must be written somewhere (or consciously left out).
    for spec in TABLES:
        sources = (Merge.SOURCE, Merge.BEST_SOURCE, Merge.TRUTH_SOURCE)
        written = {c.name for c in spec.columns if c.merge not in sources}
        assert written == {f.name for f in fields(spec.fact_type)}, spec.table


def test_duplicates_in_a_batch_merge_like_the_upsert() -> None:
    result = collapse([(JOINED, "ami"), (ANSWERED, "ami"), (REBUILT, "queue_log")])
    (row,) = rows_of("queue_entries", result)
    assert row == {
        "node": "lab", "callid": "c1", "queue": "q", "seq": 1, "entered_at": 100,
        "caller_num": "138", "position": 2,  # kept from the first snapshot
        "outcome": Outcome.ANSWERED, "ended_wait_at": 110, "wait_s": 10, "agent": "a1",
        "ring_attempts": 2,  # never decreases
        "talk_s": 60, "hangup_side": HangupSide.CALLER, "completed_at": 170,
        "line": None,
        "source": "queue_log",  # the last writer
    }  # fmt: skip


def test_queue_log_values_stand_against_a_later_ami_snapshot() -> None:
    # The follower committed queue_log's entry before the AMI writer's batch landed:
    # AMI's second and wait differ (either side of a second boundary); queue_log's win,
    # and what only AMI knows (caller number, position) still fills the blanks.
    from_queue_log = replace(COMPLETED, entered_at=99, wait_s=11, caller_num=None, position=None)
    late_ami = replace(COMPLETED, talk_s=61, hangup_side=HangupSide.AGENT)
    (row,) = rows_of("queue_entries", collapse([(from_queue_log, "queue_log"), (late_ami, "ami")]))
    assert (row["entered_at"], row["wait_s"], row["talk_s"], row["hangup_side"]) == (
        99,
        11,
        60,
        HangupSide.CALLER,
    )
    assert (row["caller_num"], row["position"], row["source"]) == ("138", 2, "queue_log")


def test_queue_log_corrects_an_earlier_ami_snapshot() -> None:
    from_queue_log = replace(COMPLETED, entered_at=99, wait_s=11)
    (row,) = rows_of("queue_entries", collapse([(COMPLETED, "ami"), (from_queue_log, "queue_log")]))
    assert (row["entered_at"], row["wait_s"], row["source"]) == (99, 11, "queue_log")
    # and a later queue_log snapshot still replaces an earlier queue_log one
    later = replace(from_queue_log, wait_s=12)
    (row,) = rows_of(
        "queue_entries", collapse([(from_queue_log, "queue_log"), (later, "queue_log")])
    )
    assert row["wait_s"] == 12


def test_an_older_partial_snapshot_after_a_complete_one_changes_nothing() -> None:
    complete = collapse([(COMPLETED, "ami")])
    replayed = collapse([(COMPLETED, "ami"), (JOINED, "ami"), (ANSWERED, "ami")])
    assert rows_of("queue_entries", replayed) == rows_of("queue_entries", complete)


def test_merge_is_idempotent() -> None:
    ((spec, (row,)),) = collapse([(COMPLETED, "ami")])
    assert merge_rows(spec, row, row) == row


def test_distinct_keys_and_tables_are_kept_apart() -> None:
    other_seq = replace(JOINED, seq=2)
    facts: list[tuple[Fact, FactSource]] = [
        (JOINED, "ami"),
        (AgentSession("lab", "a1", "q", 50), "ami"),
        (other_seq, "ami"),
        (AgentStateInterval("lab", "a1", AgentState.PAUSED, "lunch", 60), "ami"),
        (AgentStateInterval("lab", "a1", AgentState.PAUSED, "lunch", 60, 90), "ami"),
        (AcwInterval("lab", "a1", 170, 200, AcwEnd.UNPAUSE, "c1", "q", 1), "queue_log"),
    ]
    result = collapse(facts)
    assert [spec.table for spec, _ in result] == [
        "queue_entries", "agent_state_intervals", "agent_sessions", "acw_intervals",
    ]  # fmt: skip
    assert [len(rows) for _, rows in result] == [2, 1, 1, 1]
    (interval,) = rows_of("agent_state_intervals", result)
    assert interval["ended_at"] == 90
    (acw,) = rows_of("acw_intervals", result)
    assert "source" not in acw  # only queue_entries records its source


def test_upsert_sql_merges_and_skips_no_op_updates() -> None:
    (queue_entries,) = [s for s in TABLES if s.table == "queue_entries"]
    sql = queue_entries.upsert_sql()
    assert "ON CONFLICT (node, callid, queue, seq) DO UPDATE" in sql
    # Rows are locked in key order by every writer: no deadlock between two batches.
    assert "FROM callctl_stage_queue_entries ORDER BY node, callid, queue, seq ON CONFLICT" in sql
    assert (
        "agent = CASE WHEN (t.source = 'queue_log' AND EXCLUDED.source = 'ami') "
        "THEN COALESCE(t.agent, EXCLUDED.agent) ELSE COALESCE(EXCLUDED.agent, t.agent) END"
    ) in sql
    assert (
        "entered_at = CASE WHEN (t.source = 'queue_log' AND EXCLUDED.source = 'ami') "
        "THEN t.entered_at ELSE EXCLUDED.entered_at END"
    ) in sql
    assert "ring_attempts = GREATEST(EXCLUDED.ring_attempts, t.ring_attempts)" in sql
    assert "to_timestamp(entered_at)" in sql
    assert "updated_at = now()" in sql
    # source changes with the data, but is not itself a reason to rewrite the row
    where = sql.split(" WHERE ", 1)[1]
    assert "t.source," not in where and "t.source)" not in where
    assert "source = GREATEST(EXCLUDED.source, t.source)" in sql


# One call as each path sees it: AMI at Newchannel and at Hangup, queue_log at ENTERQUEUE.
CALL_STARTED = CallFact("lab", "1795291045.14", 1_795_291_045, "12345", "13812345678", "张三丰")
CALL_ENDED = replace(CALL_STARTED, ended_at=1_795_291_048, hangup_cause=16)
# queue_log: the number as the queue saw it (here rewritten by the dialplan), entered 2 s later.
CALL_FROM_QUEUE_LOG = CallFact("lab", "1795291045.14", 1_795_291_047, caller_num="013812345678")
CALL_ROW = {
    "node": "lab", "linkedid": "1795291045.14", "started_at": 1_795_291_045, "line": "12345",
    "caller_num": "13812345678", "caller_name": "张三丰", "ended_at": 1_795_291_048,
    "hangup_cause": 16, "source": "ami",
}  # fmt: skip


@pytest.mark.parametrize(
    "order",
    list(
        itertools.permutations(
            [(CALL_STARTED, "ami"), (CALL_ENDED, "ami"), (CALL_FROM_QUEUE_LOG, "queue_log")]
        )
    ),
    ids=lambda order: "-".join(f"{f.ended_at is not None:d}{s}" for f, s in order),
)
def test_call_snapshots_merge_to_the_same_row_in_any_order(
    order: tuple[tuple[Fact, FactSource], ...],
) -> None:
    replayed = [*order, *order]  # and twice over
    assert rows_of("calls", collapse(replayed)) == [CALL_ROW]


def test_queue_log_fills_a_call_only_where_ami_knows_nothing() -> None:
    unknown_caller = replace(CALL_ENDED, caller_num=None, caller_name=None, line=None)
    facts: list[tuple[Fact, FactSource]] = [
        (unknown_caller, "ami"),
        (CALL_FROM_QUEUE_LOG, "queue_log"),
    ]
    for order in (facts, facts[::-1]):
        (row,) = rows_of("calls", collapse(order))
        assert row["caller_num"] == "013812345678"
        assert row["caller_name"] is None
        assert row["started_at"] == 1_795_291_045  # the earlier of the two
        assert row["source"] == "ami"


def test_a_call_known_from_queue_log_alone() -> None:
    (row,) = rows_of("calls", collapse([(CALL_FROM_QUEUE_LOG, "queue_log")] * 2))
    assert row == {
        "node": "lab", "linkedid": "1795291045.14", "started_at": 1_795_291_047, "line": None,
        "caller_num": "013812345678", "caller_name": None, "ended_at": None,
        "hangup_cause": None, "source": "queue_log",
    }  # fmt: skip


def test_calls_upsert_sql() -> None:
    (calls,) = [s for s in TABLES if s.table == "calls"]
    sql = calls.upsert_sql()
    assert "ON CONFLICT (node, linkedid) DO UPDATE" in sql
    assert "started_at = LEAST(EXCLUDED.started_at, t.started_at)" in sql
    assert "ended_at = GREATEST(EXCLUDED.ended_at, t.ended_at)" in sql
    assert (
        "caller_num = CASE WHEN EXCLUDED.source = 'ami' "
        "THEN COALESCE(EXCLUDED.caller_num, t.caller_num) "
        "ELSE COALESCE(t.caller_num, EXCLUDED.caller_num) END"
    ) in sql
    assert "source = LEAST(EXCLUDED.source, t.source)" in sql

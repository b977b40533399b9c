"""Stored facts read back as fact objects (verify, live seeding): one column list, one mapping.

Times come back as whole epoch seconds, as the facts carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from callctl.db_types import Record
from callctl.facts.models import AcwEnd, AcwInterval, HangupSide, QueueEntryFact
from kpi.outcome import Outcome

ENTRY_COLUMNS: Final = """
       node, callid, queue, seq,
       floor(extract(epoch FROM entered_at))::bigint AS entered_at,
       caller_num, position, outcome,
       floor(extract(epoch FROM ended_wait_at))::bigint AS ended_wait_at,
       wait_s, agent, ring_attempts, talk_s, hangup_side,
       floor(extract(epoch FROM completed_at))::bigint AS completed_at, line
"""
"""The ``SELECT`` list that :func:`entry_from_row` reads (from ``queue_entries``)."""

ACW_COLUMNS: Final = """
       node, agent,
       floor(extract(epoch FROM started_at))::bigint AS started_at,
       floor(extract(epoch FROM ended_at))::bigint AS ended_at,
       ended_by, callid, queue, seq
"""
"""The ``SELECT`` list that :func:`acw_from_row` reads (from ``acw_intervals``)."""


def entry_from_row(row: Record | Mapping[str, Any]) -> QueueEntryFact:
    return QueueEntryFact(
        node=row["node"],
        callid=row["callid"],
        queue=row["queue"],
        seq=row["seq"],
        entered_at=row["entered_at"],
        caller_num=row["caller_num"],
        position=row["position"],
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        ended_wait_at=row["ended_wait_at"],
        wait_s=row["wait_s"],
        agent=row["agent"],
        ring_attempts=row["ring_attempts"],
        talk_s=row["talk_s"],
        hangup_side=None if row["hangup_side"] is None else HangupSide(row["hangup_side"]),
        completed_at=row["completed_at"],
        line=row["line"],
    )


def acw_from_row(row: Mapping[str, Any]) -> AcwInterval:
    return AcwInterval(
        node=row["node"],
        agent=row["agent"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        ended_by=None if row["ended_by"] is None else AcwEnd(row["ended_by"]),
        callid=row["callid"],
        queue=row["queue"],
        seq=row["seq"],
    )

"""The queue entries behind a figure (every figure is explainable).

Entries are read with the same SQL view as the KPI arithmetic's raw path and
classified in Python with ``kpi.figures.entry_in_figure``, the predicate that
mirrors the counters, so that the entries listed add up to the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callctl.db_types import Connection
from kpi.figures import FIGURE_OUTCOMES, Figure, entry_in_figure
from kpi.inputs import EntryRecord
from kpi.outcome import Outcome
from kpi.query import KpiQuery
from kpi.sql import SqlParams, entry_rows_sql


@dataclass(frozen=True, slots=True)
class DrilledEntry:
    node: str
    callid: str
    queue: str
    seq: int
    line: str | None
    entered_at: datetime
    caller_num: str | None
    outcome: Outcome
    wait_s: int
    agent: str | None
    talk_s: int | None
    acw_s: int | None
    """Capped, as counted."""
    hangup_side: str | None
    system_wait_s: int | None = None
    """Answered, with ``sl_clock`` ``system``: the wait from system entry (what the
    service level counted)."""
    call_wait_s: int | None = None
    """Counted per call: the wait from the call's first queue entry."""


async def drill_down(
    conn: Connection, q: KpiQuery, figure: Figure, *, limit: int, offset: int = 0,
    per_call: bool = False,
) -> list[DrilledEntry]:  # fmt: skip
    """Entries of ``q``'s window and filters that count toward ``figure``, in arrival order;
    ``per_call``: one per call (``kpi.call_corrections``), for the calls first seen in the
    window."""
    if limit < 1 or offset < 0:
        raise ValueError("limit must be >= 1 and offset >= 0")
    p = SqlParams()
    outcomes = sorted(o.value for o in FIGURE_OUTCOMES[figure])
    system = q.params.sl_clock == "system"
    sql = entry_rows_sql(
        (q.start, q.end), q.params.acw_caps, q.entry_filter, outcomes, p, system_clock=system,
        per_call=per_call,
    )  # fmt: skip
    found: list[DrilledEntry] = []
    skipped = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(sql, *p.values, prefetch=500):
            outcome = Outcome(row["outcome"])
            # The service level counts an answered entry by its wait from system entry
            # (sl_clock system), or a call by its wait from its first queue entry.
            counted = row["sys_wait"] if row["sys_wait"] is not None else row["call_wait"]
            record = EntryRecord(outcome, counted, row["talk_s"], row["acw_s"], row["survey"])
            if not entry_in_figure(figure, record, q.params):
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append(
                DrilledEntry(
                    node=row["node"],
                    callid=row["callid"],
                    queue=row["queue"],
                    seq=row["seq"],
                    line=row["line"],
                    entered_at=row["entered_at"],
                    caller_num=row["caller_num"],
                    outcome=outcome,
                    wait_s=row["wait_s"],
                    agent=row["agent"],
                    talk_s=row["talk_s"],
                    acw_s=row["acw_s"],
                    hangup_side=row["hangup_side"],
                    system_wait_s=row["sys_wait"],
                    call_wait_s=row["call_wait"] if per_call else None,
                )
            )
            if len(found) >= limit:
                break
    return found

"""What the forecast reads from the 15-minute rollups (SQL; values as bind parameters)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callctl.db_types import Queryable, fetch_one

OFFERED = (
    "r.answered + r.abandoned + r.timed_out + r.no_agents + r.exited_with_key"
    " + r.transferred + r.lost"
)
"""Entries offered to agents (kpi-definitions: every entry, lost ones included)."""

_OFFERED_BY_INTERVAL = f"""
SELECT r.interval_start, sum({OFFERED})::bigint
FROM kpi_queue_rollups r
WHERE r.line = $1 AND r.interval_start >= $2 AND r.interval_start < $3
GROUP BY r.interval_start
"""

_HANDLING = """
SELECT coalesce(sum(r.n_handle), 0)::bigint, coalesce(sum(r.sum_handle), 0)::bigint,
       coalesce(sum(r.n_talk), 0)::bigint, coalesce(sum(r.sum_talk), 0)::bigint,
       coalesce(sum(r.abandoned), 0)::bigint, coalesce(sum(r.sum_wait_answered), 0)::bigint,
       coalesce(sum((SELECT sum(w.v * (w.i - 1)) FROM unnest(r.abandoned_wait_hist)
                     WITH ORDINALITY AS w(v, i))), 0)::bigint
FROM kpi_queue_rollups r
WHERE r.line = $1 AND r.interval_start >= $2 AND r.interval_start < $3
"""


async def offered_by_interval(
    conn: Queryable, line: str, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Offered entries of ``line`` per interval start in ``[start, end)`` (intervals with any)."""
    rows = await conn.fetch(_OFFERED_BY_INTERVAL, line, start, end)
    return {row[0]: int(row[1]) for row in rows}


MAX_PATIENCE_S = 86_400.0
"""The largest mean patience staffing is computed with (a day)."""


@dataclass(frozen=True, slots=True)
class Handling:
    """Sums over a window of one line's rollups."""

    n_handle: int
    sum_handle_s: int
    n_talk: int
    sum_talk_s: int
    abandoned: int
    sum_wait_answered_s: int
    sum_wait_abandoned_s: int
    """Waits past the histogram's last bucket count as that bucket's seconds."""

    def handle_s(self) -> float | None:
        """Mean handle time (talk + capped ACW), else mean talk time."""
        if self.n_handle:
            return self.sum_handle_s / self.n_handle
        if self.n_talk:
            return self.sum_talk_s / self.n_talk
        return None

    def patience_s(self) -> float | None:
        """Mean patience, the exponential's maximum-likelihood estimate: the time callers
        spent waiting (answered callers' waits are censored patience) over the abandons.
        None without abandons: nobody gave up, Erlang C. At most a day
        (``MAX_PATIENCE_S``): one abandon among weeks of long waits gives estimates in the
        millions of seconds, where Erlang A equals Erlang C to far below a rounded agent,
        and past about 2e7 s Erlang A's sums no longer converge in floating point."""
        if not self.abandoned:
            return None
        exposure = self.sum_wait_answered_s + self.sum_wait_abandoned_s
        return min(MAX_PATIENCE_S, max(1.0, exposure / self.abandoned))


async def handling(conn: Queryable, line: str, start: datetime, end: datetime) -> Handling:
    row = await fetch_one(conn, _HANDLING, line, start, end)
    return Handling(*(int(v) for v in row))

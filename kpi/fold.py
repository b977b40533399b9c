"""Grouped SQL aggregates → ``KpiCounters`` (pure).

The facts are aggregated in SQL by (group, outcome, wait bucket, survey key),
which keeps the result small whatever the number of entries; this module folds
those rows into counters with the same rules as ``kpi.counters``: wait buckets
are ``min(wait_s, MAX_THRESHOLD_S + 1)``, talk/ACW/survey only for answered
entries, handle time where both talk and ACW are known.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from kpi.counters import WAIT_BUCKETS, KpiCounters
from kpi.inputs import SURVEY_KEYS
from kpi.outcome import Outcome

K = TypeVar("K", bound=Hashable)


class EntryAggregate(NamedTuple):
    """One row of the grouped entry aggregate (see ``kpi.sql.ENTRY_AGGREGATES``)."""

    outcome: str
    wait_bucket: int
    survey: int | None
    entries: int
    sum_wait: int
    n_talk: int
    sum_talk: int
    n_acw: int
    sum_acw: int
    n_handle: int
    sum_handle: int


_OUTCOME_FIELD = {
    Outcome.ABANDONED: "abandoned",
    Outcome.TIMEOUT: "timed_out",
    Outcome.EMPTY: "no_agents",
    Outcome.KEY: "exited_with_key",
    Outcome.TRANSFER: "transferred",
    Outcome.LOST: "lost",
}


@dataclass(slots=True)
class _Accumulator:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(_OUTCOME_FIELD.values(), 0)
    )
    answered_waits: list[int] = field(default_factory=lambda: [0] * WAIT_BUCKETS)
    abandoned_waits: list[int] = field(default_factory=lambda: [0] * WAIT_BUCKETS)
    survey: list[int] = field(default_factory=lambda: [0] * len(SURVEY_KEYS))
    sums: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "sum_wait_answered",
                "n_talk",
                "sum_talk",
                "n_acw",
                "sum_acw",
                "n_handle",
                "sum_handle",
            ),
            0,
        )
    )

    def add(self, row: EntryAggregate) -> None:
        outcome = Outcome(row.outcome)
        if not 0 <= row.wait_bucket < WAIT_BUCKETS:
            raise ValueError(f"wait bucket out of range: {row.wait_bucket}")
        if outcome is not Outcome.ANSWERED:
            self.counts[_OUTCOME_FIELD[outcome]] += row.entries
            if outcome is Outcome.ABANDONED:
                self.abandoned_waits[row.wait_bucket] += row.entries
            return
        self.answered_waits[row.wait_bucket] += row.entries
        self.sums["sum_wait_answered"] += row.sum_wait
        self.sums["n_talk"] += row.n_talk
        self.sums["sum_talk"] += row.sum_talk
        self.sums["n_acw"] += row.n_acw
        self.sums["sum_acw"] += row.sum_acw
        self.sums["n_handle"] += row.n_handle
        self.sums["sum_handle"] += row.sum_handle
        if row.survey is not None:
            self.survey[row.survey] += row.entries

    def counters(self) -> KpiCounters:
        return KpiCounters(
            answered=sum(self.answered_waits),
            answered_wait_hist=tuple(self.answered_waits),
            abandoned_wait_hist=tuple(self.abandoned_waits),
            survey_by_key=tuple(self.survey),
            **self.counts,
            **self.sums,
        )


def fold_aggregates(rows: Iterable[tuple[K, EntryAggregate]]) -> dict[K, KpiCounters]:
    """Counters per group key from ``(key, aggregate)`` rows."""
    accumulators: dict[K, _Accumulator] = {}
    for key, row in rows:
        accumulator = accumulators.get(key)
        if accumulator is None:
            accumulator = accumulators[key] = _Accumulator()
        accumulator.add(row)
    return {key: acc.counters() for key, acc in accumulators.items()}

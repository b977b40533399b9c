"""Grouped aggregates fold into the same counters as the entries themselves."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from kpi.counters import counters_from_entries
from kpi.fold import EntryAggregate, fold_aggregates
from kpi.inputs import MAX_THRESHOLD_S, AcwCaps, EntryRecord, KpiParams
from kpi.outcome import Outcome


def _aggregate(records: list[EntryRecord], params: KpiParams) -> list[EntryAggregate]:
    """What the SQL GROUP BY (outcome, wait bucket, survey) computes."""
    groups: dict[tuple[str, int, int | None], list[EntryRecord]] = defaultdict(list)
    for r in records:
        groups[(r.outcome.value, min(r.wait_s, MAX_THRESHOLD_S + 1), r.survey)].append(r)
    rows = []
    for (outcome, bucket, survey), rs in groups.items():
        talks = [r.talk_s for r in rs if r.talk_s is not None]
        caps = params.acw_caps
        acws = [min(r.acw_s, caps.cap_for(r.line)) for r in rs if r.acw_s is not None]
        handles = [
            r.talk_s + min(r.acw_s, caps.cap_for(r.line))
            for r in rs
            if r.talk_s is not None and r.acw_s is not None
        ]
        rows.append(
            EntryAggregate(
                outcome,
                bucket,
                survey,
                len(rs),
                sum(r.wait_s for r in rs),
                len(talks),
                sum(talks),
                len(acws),
                sum(acws),
                len(handles),
                sum(handles),
            )
        )
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_fold_of_grouped_rows_equals_counters_from_entries(seed: int) -> None:
    rng = random.Random(seed)
    params = KpiParams(acw_caps=AcwCaps.of({"12345": 6, "12333": 60}, rng.choice((0, 60, 300))))
    records = []
    for _ in range(300):
        outcome = rng.choice(list(Outcome))
        wait = rng.randrange(120)
        if outcome is Outcome.ANSWERED:
            talk = rng.choice((None, rng.randrange(600)))
            acw = rng.choice((None, 0, rng.randrange(700)))
            survey = rng.choice((None, 1, 2, 3))
            line = rng.choice(("12345", "12333", "12320", None))
            records.append(EntryRecord(outcome, wait, talk, acw, survey, line=line))
        else:
            records.append(EntryRecord(outcome, wait))
    folded = fold_aggregates(("g", row) for row in _aggregate(records, params))
    assert folded == {"g": counters_from_entries(records, params)}


def test_unknown_outcome_or_bucket_is_refused() -> None:
    row = EntryAggregate("answered", MAX_THRESHOLD_S + 2, None, 1, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="wait bucket"):
        fold_aggregates([("g", row)])
    with pytest.raises(ValueError):
        fold_aggregates([("g", row._replace(outcome="vanished", wait_bucket=0))])

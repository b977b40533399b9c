"""``counters_of_entry`` (the live view's builder) equals the general fold of one entry."""

from __future__ import annotations

import itertools

from kpi.counters import KpiCounters, counters_from_entries, counters_of_entry
from kpi.inputs import MAX_THRESHOLD_S, AcwCaps, EntryRecord, KpiParams
from kpi.outcome import Outcome

PARAMS = KpiParams(acw_caps=AcwCaps(by_line=(("12345", 6), ("12366", 120)), default_s=300))
WAITS = (0, 1, 15, MAX_THRESHOLD_S, MAX_THRESHOLD_S + 1, 3_600)


def records() -> list[EntryRecord]:
    made = [EntryRecord(outcome=o, wait_s=w) for o in Outcome for w in WAITS]
    for wait, talk, acw, survey, line in itertools.product(
        WAITS, (None, 0, 95), (None, 0, 7, 500), (None, 0, 9), (None, "12345", "12366", "x")
    ):
        made.append(EntryRecord(Outcome.ANSWERED, wait, talk, acw, survey, line))
    return made


def test_equals_the_fold_of_that_one_entry_for_every_kind_of_record() -> None:
    for record in records():
        built = counters_of_entry(record, PARAMS)
        assert built == counters_from_entries((record,), PARAMS), record
        assert hash(built) == hash(counters_from_entries((record,), PARAMS))


def test_is_a_checked_counters_value_that_adds_and_subtracts() -> None:
    answered = counters_of_entry(EntryRecord(Outcome.ANSWERED, 3, 60, 500, 2, "12345"), PARAMS)
    # Re-building through the constructor runs every check it skipped.
    checked = KpiCounters(**{name: getattr(answered, name) for name in KpiCounters.__slots__})
    assert checked == answered
    assert (answered.answered, answered.sum_acw, answered.sum_handle) == (1, 6, 66)
    abandoned = counters_of_entry(EntryRecord(Outcome.ABANDONED, 100), PARAMS)
    both = answered + abandoned
    assert both.entries == 2 and both.abandoned_wait_hist[MAX_THRESHOLD_S + 1] == 1
    assert both.replaced(abandoned, KpiCounters()) == answered

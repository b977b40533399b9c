"""kpi-definitions.md section 3, reproduced exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from kpi import (
    EntryRecord,
    KpiParams,
    Outcome,
    as_percent,
    as_seconds,
    compute_kpis,
    present_kpis,
)

A, AB, T = Outcome.ANSWERED, Outcome.ABANDONED, Outcome.TIMEOUT

# Queue `general`, one hour, 10 entries: (outcome, wait_s, talk_s, ACW s, survey).
WORKED_EXAMPLE = (
    EntryRecord(A, 3, 120, 30, 1),
    EntryRecord(A, 14, 60, 200, 2),
    EntryRecord(A, 15, 90, 0, 3),
    EntryRecord(A, 16, 45, 60, None),
    EntryRecord(A, 40, 300, 400, 1),  # ACW capped to 300
    EntryRecord(AB, 2),
    EntryRecord(AB, 30),
    EntryRecord(T, 60),
    EntryRecord(A, 0, 10, 10, 1),
    EntryRecord(A, 5, 20, 20, None),  # hung up before the survey
)


def test_default_params_give_the_documented_figures() -> None:
    kpis = compute_kpis(WORKED_EXAMPLE, KpiParams())

    assert (kpis.offered, kpis.answered, kpis.answered_in_sl, kpis.abandoned) == (10, 7, 5, 2)
    assert as_percent(kpis.answer_rate) == Decimal("70.00")
    assert as_percent(kpis.service_level) == Decimal("50.00")
    assert as_percent(kpis.abandon_rate) == Decimal("20.00")
    assert kpis.asa_s == Fraction(93, 7)
    assert as_seconds(kpis.asa_s) == Decimal("13.29")
    assert kpis.avg_acw_s == Fraction(620, 7)
    assert as_seconds(kpis.avg_acw_s) == Decimal("88.57")
    assert (kpis.survey_answers, kpis.survey_satisfied) == (5, 4)
    assert as_percent(kpis.satisfaction) == Decimal("80.00")
    assert as_percent(kpis.survey_take_up) == Decimal("71.43")


def test_talk_and_handle_time_use_the_capped_acw() -> None:
    kpis = compute_kpis(WORKED_EXAMPLE)

    assert kpis.avg_talk_s == Fraction(120 + 60 + 90 + 45 + 300 + 10 + 20, 7)
    assert kpis.avg_handle_s == Fraction(645 + 620, 7)
    assert as_seconds(kpis.avg_handle_s) == Decimal("180.71")


def test_short_abandons_leave_the_denominator() -> None:
    kpis = compute_kpis(WORKED_EXAMPLE, KpiParams(short_abandon_s=5))

    assert kpis.offered == 9
    assert kpis.short_abandoned == 1
    assert as_percent(kpis.answer_rate) == Decimal("77.78")
    assert as_percent(kpis.service_level) == Decimal("55.56")
    # Our choice: a short abandon is not counted as an abandon of an offered call.
    assert kpis.abandoned == 1
    assert as_percent(kpis.abandon_rate) == Decimal("11.11")


def test_short_abandon_threshold_is_strictly_less_than() -> None:
    # #6 waited 2 s: a threshold of 2 s keeps it, 3 s removes it.
    assert compute_kpis(WORKED_EXAMPLE, KpiParams(short_abandon_s=2)).offered == 10
    assert compute_kpis(WORKED_EXAMPLE, KpiParams(short_abandon_s=3)).offered == 9


def test_basically_satisfied_can_be_excluded_by_the_scheme() -> None:
    kpis = compute_kpis(WORKED_EXAMPLE, KpiParams(satisfied_keys=frozenset({1})))

    assert kpis.survey_satisfied == 3
    assert as_percent(kpis.satisfaction) == Decimal("60.00")


def test_present_kpis_shows_every_figure() -> None:
    shown = present_kpis(compute_kpis(WORKED_EXAMPLE))

    assert shown["answer_rate"] == Decimal("70.00")
    assert shown["asa_s"] == Decimal("13.29")
    assert shown["offered"] == 10
    assert str(shown["survey_take_up"]) == "71.43"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Fraction(1, 8), Decimal("12.50")),
        (Fraction(1, 800), Decimal("0.13")),  # exactly 0.125 % rounds half up
        (Fraction(2, 3), Decimal("66.67")),
        (Fraction(1, 1), Decimal("100.00")),
        (Fraction(0, 1), Decimal("0.00")),
    ],
)
def test_as_percent_rounds_half_up(value: Fraction, shown: Decimal) -> None:
    assert as_percent(value) == shown
    assert str(as_percent(value)) == str(shown)

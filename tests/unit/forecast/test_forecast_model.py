"""The seasonal forecast: reference days by the calendar (调休 included), the backtest."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import pytest

from forecast.calendar import DayKind, HolidayCalendar, china_calendar
from forecast.model import INTERVALS_PER_DAY, Method, backtest, forecast_day
from forecast.synth import generate_history

CALENDAR = china_calendar()
OCTOBER = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


def test_china_calendar_knows_holidays_and_swapped_workdays() -> None:
    # State Council notice for 2026: National Day 1-7 October (with Mid-Autumn),
    # worked Sunday 20 September and Saturday 10 October (调休上班).
    assert CALENDAR.kind(date(2026, 10, 1)) is DayKind.HOLIDAY
    assert CALENDAR.kind(date(2026, 10, 10)) is DayKind.SWAPPED_WORKDAY
    assert CALENDAR.kind(date(2026, 9, 20)) is DayKind.SWAPPED_WORKDAY
    assert CALENDAR.kind(date(2026, 10, 11)) is DayKind.WEEKEND
    assert CALENDAR.kind(date(2026, 10, 12)) is DayKind.WORKDAY
    assert CALENDAR.same_holiday_last_year(date(2026, 10, 1)) == date(2025, 10, 1)
    assert CALENDAR.known(date(2026, 12, 31))
    future = date(CALENDAR.last_year + 1, 5, 1)
    assert not CALENDAR.known(future)
    assert CALENDAR.kind(future) in (DayKind.WORKDAY, DayKind.WEEKEND)


def _flat(value: float) -> list[float]:
    return [value] * INTERVALS_PER_DAY


def test_same_weekday_skips_holidays_and_uses_last_year_scaled() -> None:
    calendar = HolidayCalendar(holidays={date(2026, 3, 4): "X"}, first_year=2025, last_year=2026)
    history = {date(2026, 3, 18) - timedelta(weeks=w): _flat(10.0 * w) for w in range(1, 7)}
    forecast = forecast_day(history, calendar, date(2026, 3, 18), weeks=4)
    assert forecast is not None and forecast.method is Method.SAME_WEEKDAY
    # 11 March (w=1), 4 March is a holiday (skipped), 25 Feb, 18 Feb, 11 Feb
    assert forecast.reference_days == (
        date(2026, 3, 11),
        date(2026, 2, 25),
        date(2026, 2, 18),
        date(2026, 2, 11),
    )
    assert forecast.calls[0] == pytest.approx((10 + 30 + 40 + 50) / 4)
    assert forecast.last_year_day is None


def test_a_line_without_history_has_no_forecast() -> None:
    assert forecast_day({}, CALENDAR, date(2026, 10, 12)) is None
    later = {date(2026, 10, 13): _flat(5.0)}  # only days after the target
    assert forecast_day(later, CALENDAR, date(2026, 10, 12)) is None


def test_bad_history_is_refused() -> None:
    with pytest.raises(ValueError, match="intervals"):
        forecast_day({date(2026, 10, 5): [1.0] * 10}, CALENDAR, date(2026, 10, 12))
    with pytest.raises(ValueError, match="weeks"):
        forecast_day({}, CALENDAR, date(2026, 10, 12), weeks=0)


def test_backtest_on_a_generated_month() -> None:
    """October 2026: National Day holidays, a 调休 Saturday, weekends and workdays."""
    synth = generate_history(CALENDAR, date(2025, 8, 1), date(2026, 10, 31))
    errors = backtest(synth.counts, CALENDAR, OCTOBER)
    assert [e.day for e in errors] == OCTOBER
    by_kind: dict[DayKind, list[float]] = {}
    for error in errors:
        assert error.mape is not None and error.total_error is not None
        by_kind.setdefault(error.kind, []).append(abs(error.total_error))
    # The day totals: within a few percent on ordinary days, holidays and 调休 too.
    assert statistics.fmean(by_kind[DayKind.WORKDAY]) < 8
    assert statistics.fmean(by_kind[DayKind.WEEKEND]) < 8
    assert statistics.fmean(by_kind[DayKind.HOLIDAY]) < 12
    assert by_kind[DayKind.SWAPPED_WORKDAY] and max(by_kind[DayKind.SWAPPED_WORKDAY]) < 20
    workday_mape = statistics.fmean(e.mape or 0 for e in errors if e.kind is DayKind.WORKDAY)
    assert workday_mape < 20


def test_the_calendar_is_what_makes_holidays_right() -> None:
    """Without the holiday calendar, 1 October is forecast as an ordinary Thursday."""
    synth = generate_history(CALENDAR, date(2025, 8, 1), date(2026, 10, 31))
    blind = HolidayCalendar()
    with_calendar = backtest(synth.counts, CALENDAR, [date(2026, 10, 1), date(2026, 10, 10)])
    without = backtest(synth.counts, blind, [date(2026, 10, 1), date(2026, 10, 10)])
    assert abs(with_calendar[0].total_error or 0) < 15 < 100 < abs(without[0].total_error or 0)
    assert abs(with_calendar[1].total_error or 0) < 20 < abs(without[1].total_error or 0)

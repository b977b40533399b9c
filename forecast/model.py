"""Calls per 15-minute interval of one day, from the days before it (pure).

A seasonal mean, the method most call centres start from and few improve on
much: the forecast of each interval is the mean of the same interval over
*reference days*, the days that behave like the target day:

- a workday or a weekend day: the same weekday of the last ``weeks`` weeks, of
  the same kind (a holiday or a swapped workday on that weekday is skipped, and
  the search goes back up to twice as far to find ``weeks`` of them);
- a swapped workday (调休上班): the last ``weeks`` ordinary workdays;
- a holiday: the same day of the same holiday last year; without it, the recent
  holidays of the last year; without those, the recent Sundays.

Where last year's same day exists (the day 364 days before, same weekday, or the
same holiday day) and is of the same kind, it is one more reference day, scaled
by the year-over-year trend (the last four weeks' calls over the same four weeks
a year earlier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from forecast.calendar import DayKind, HolidayCalendar

INTERVALS_PER_DAY = 96
YEAR = timedelta(days=364)
"""52 weeks: last year's day of the same weekday."""
TREND_DAYS = 28

DayCounts = Sequence[float]
"""Calls offered in each of a day's 96 intervals (local time, 00:00 first)."""


class Method(StrEnum):
    SAME_WEEKDAY = "same_weekday"
    RECENT_WORKDAYS = "recent_workdays"
    HOLIDAY_LAST_YEAR = "holiday_last_year"
    RECENT_HOLIDAYS = "recent_holidays"
    RECENT_SUNDAYS = "recent_sundays"


@dataclass(frozen=True, slots=True)
class DayForecast:
    day: date
    kind: DayKind
    holiday: str | None
    calendar_known: bool
    method: Method
    reference_days: tuple[date, ...]
    last_year_day: date | None
    """Last year's day used (scaled by ``trend``), if any."""
    trend: float
    calls: tuple[float, ...]
    """Expected calls per interval."""

    @property
    def total(self) -> float:
        return sum(self.calls)


def _recent(
    history: Mapping[date, DayCounts],
    calendar: HolidayCalendar,
    day: date,
    *,
    step: int,
    kind: DayKind,
    want: int,
    horizon_days: int,
) -> list[date]:
    found: list[date] = []
    candidate = day - timedelta(days=step)
    while len(found) < want and (day - candidate).days <= horizon_days:
        if candidate in history and calendar.kind(candidate) is kind:
            found.append(candidate)
        candidate -= timedelta(days=step)
    return found


def year_over_year_trend(history: Mapping[date, DayCounts], day: date) -> float:
    """Calls of the ``TREND_DAYS`` before ``day`` over the same days a year earlier
    (days present in both years only); 1 without such pairs or calls."""
    now = then = 0.0
    for back in range(1, TREND_DAYS + 1):
        recent = day - timedelta(days=back)
        earlier = recent - YEAR
        if recent in history and earlier in history:
            now += sum(history[recent])
            then += sum(history[earlier])
    return now / then if now > 0 and then > 0 else 1.0


def forecast_day(
    history: Mapping[date, DayCounts],
    calendar: HolidayCalendar,
    day: date,
    *,
    weeks: int = 4,
) -> DayForecast | None:
    """The forecast of ``day`` from the days of ``history`` before it; None without any
    reference day (a line with no history)."""
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks}")
    past = {d: c for d, c in history.items() if d < day}
    for d, counts in past.items():
        if len(counts) != INTERVALS_PER_DAY:
            raise ValueError(f"{d}: {len(counts)} intervals, expected {INTERVALS_PER_DAY}")
    kind = calendar.kind(day)
    last_year: date | None = None
    if kind is DayKind.HOLIDAY:
        last_year = calendar.same_holiday_last_year(day)
        if last_year is not None and last_year not in past:
            last_year = None
        references: list[date] = []
        method = Method.HOLIDAY_LAST_YEAR
        if last_year is None:
            method = Method.RECENT_HOLIDAYS
            references = _recent(
                past, calendar, day, step=1, kind=kind, want=weeks, horizon_days=365
            )
            if not references:
                method = Method.RECENT_SUNDAYS
                sunday = day - timedelta(days=(day.weekday() + 1) % 7 or 7)
                references = _recent(
                    past,
                    calendar,
                    sunday + timedelta(days=7),
                    step=7,
                    kind=DayKind.WEEKEND,
                    want=weeks,
                    horizon_days=14 * weeks,
                )
    elif kind is DayKind.SWAPPED_WORKDAY:
        method = Method.RECENT_WORKDAYS
        references = _recent(
            past, calendar, day, step=1, kind=DayKind.WORKDAY, want=weeks, horizon_days=60
        )
    else:
        method = Method.SAME_WEEKDAY
        references = _recent(
            past, calendar, day, step=7, kind=kind, want=weeks, horizon_days=14 * weeks
        )
        candidate = day - YEAR
        if candidate in past and calendar.kind(candidate) is kind:
            last_year = candidate
    if not references and last_year is None:
        return None
    trend = year_over_year_trend(past, day) if last_year is not None else 1.0
    rows: list[Sequence[float]] = [past[d] for d in references]
    if last_year is not None:
        rows.append([trend * c for c in past[last_year]])
    calls = tuple(sum(row[i] for row in rows) / len(rows) for i in range(INTERVALS_PER_DAY))
    return DayForecast(
        day=day,
        kind=kind,
        holiday=calendar.holiday(day),
        calendar_known=calendar.known(day),
        method=method,
        reference_days=tuple(references),
        last_year_day=last_year,
        trend=trend,
        calls=calls,
    )


@dataclass(frozen=True, slots=True)
class DayError:
    day: date
    kind: DayKind
    mape: float | None
    """Mean absolute percentage error over the intervals with calls, %."""
    total_error: float | None
    """Error of the day's total, % of the actual total."""


def day_error(forecast: DayForecast, actual: DayCounts) -> DayError:
    errors = [abs(f - a) / a for f, a in zip(forecast.calls, actual, strict=True) if a > 0]
    total = sum(actual)
    return DayError(
        day=forecast.day,
        kind=forecast.kind,
        mape=100 * sum(errors) / len(errors) if errors else None,
        total_error=100 * (forecast.total - total) / total if total > 0 else None,
    )


def backtest(
    history: Mapping[date, DayCounts],
    calendar: HolidayCalendar,
    days: Sequence[date],
    *,
    weeks: int = 4,
) -> list[DayError]:
    """Forecast each of ``days`` from the history before it and compare with what came."""
    errors = []
    for day in days:
        forecast = forecast_day(history, calendar, day, weeks=weeks)
        if forecast is not None and day in history:
            errors.append(day_error(forecast, history[day]))
    return errors

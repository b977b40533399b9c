"""Which kind of day a date is in mainland China: workday, weekend, holiday, or a
weekend day worked in exchange for a holiday (调休上班).

The dates come from the State Council's yearly notice, as packaged by
``chinese-calendar`` (one table per year; a new release each November). For a
year it does not cover, days are classed by the weekday alone and ``known`` is
false, so a forecast can say that its calendar is a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache


class DayKind(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    """法定节假日 (including the weekend days inside a holiday block)."""
    SWAPPED_WORKDAY = "swapped_workday"
    """调休上班: a Saturday or Sunday worked in exchange for a holiday."""


DAY_KIND_LABELS: Mapping[DayKind, Mapping[str, str]] = {
    DayKind.WORKDAY: {"zh-CN": "工作日", "en": "workday"},
    DayKind.WEEKEND: {"zh-CN": "周末", "en": "weekend"},
    DayKind.HOLIDAY: {"zh-CN": "法定节假日", "en": "public holiday"},
    DayKind.SWAPPED_WORKDAY: {"zh-CN": "调休上班", "en": "swapped workday"},
}


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    holidays: Mapping[date, str] = field(default_factory=dict)
    """Holiday dates → the holiday's name."""
    swapped_workdays: Mapping[date, str] = field(default_factory=dict)
    """Weekend dates worked → the holiday they pay for."""
    first_year: int = 0
    last_year: int = -1

    def known(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def kind(self, day: date) -> DayKind:
        if day in self.holidays:
            return DayKind.HOLIDAY
        if day in self.swapped_workdays:
            return DayKind.SWAPPED_WORKDAY
        return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY

    def holiday(self, day: date) -> str | None:
        return self.holidays.get(day)

    def holiday_days(self, year: int, name: str) -> list[date]:
        """The days of holiday ``name`` in ``year``, in order."""
        return sorted(d for d, n in self.holidays.items() if d.year == year and n == name)

    def same_holiday_last_year(self, day: date) -> date | None:
        """The day of the same holiday last year at the same place in its block
        (the last day when last year's block was shorter)."""
        name = self.holidays.get(day)
        if name is None:
            return None
        this_year = self.holiday_days(day.year, name)
        last_year = self.holiday_days(day.year - 1, name)
        if not last_year:
            return None
        return last_year[min(this_year.index(day), len(last_year) - 1)]


@cache
def china_calendar() -> HolidayCalendar:
    """Mainland China's public holidays and swapped workdays (``chinese-calendar``)."""
    import chinese_calendar

    holidays: dict[date, str] = dict(chinese_calendar.holidays)
    swapped: dict[date, str] = dict(chinese_calendar.workdays)
    years = [d.year for d in holidays]
    return HolidayCalendar(holidays, swapped, min(years), max(years))

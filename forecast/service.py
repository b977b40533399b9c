"""A line's day plan: forecast calls and agents needed per 15-minute interval.

Reads the line's history from the rollups (``forecast.repository``), forecasts
the day (``forecast.model``) and staffs each interval (``forecast.staffing``)
with the handle time and patience observed over the last four weeks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from callctl.db_types import Queryable
from forecast import repository
from forecast.calendar import HolidayCalendar
from forecast.model import INTERVALS_PER_DAY, DayForecast, forecast_day
from forecast.staffing import Demand, Model, Staffing, StaffingTarget, agents_needed

INTERVAL = timedelta(minutes=15)
HISTORY_DAYS = 400
"""How far back the forecast reads: last year's same day and its trend weeks."""
HANDLING_DAYS = 28


@dataclass(frozen=True, slots=True)
class PlanSettings:
    target: StaffingTarget
    weeks: int = 4
    default_handle_s: float = 240.0
    """Used while a line has calls but no answered one to measure."""


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    start: datetime
    end: datetime
    calls: float
    staffing: Staffing


@dataclass(frozen=True, slots=True)
class DayPlan:
    line: str
    day: date
    timezone: str
    forecast: DayForecast
    handle_s: float
    patience_s: float | None
    model: Model
    target: StaffingTarget
    intervals: tuple[IntervalPlan, ...]

    def at(self, moment: datetime) -> IntervalPlan | None:
        for plan in self.intervals:
            if plan.start <= moment < plan.end:
                return plan
        return None


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def history_by_day(
    offered: Mapping[datetime, int], timezone: str, before: date
) -> dict[date, list[float]]:
    """Calls per local day and interval; every day from the first with calls to the day
    before ``before`` is present (a day without calls is a day of zeros)."""
    zone = ZoneInfo(timezone)
    days: dict[date, list[float]] = {}
    for start, calls in offered.items():
        local = start.astimezone(zone)
        index = (local.hour * 60 + local.minute) // 15
        days.setdefault(local.date(), [0.0] * INTERVALS_PER_DAY)[index] += calls
    if days:
        day = min(days)
        while day < before:
            days.setdefault(day, [0.0] * INTERVALS_PER_DAY)
            day += timedelta(days=1)
    return {d: c for d, c in days.items() if d < before}


def staff_day(
    forecast: DayForecast,
    *,
    line: str,
    timezone: str,
    handle_s: float,
    patience_s: float | None,
    target: StaffingTarget,
) -> DayPlan:
    midnight = local_midnight(forecast.day, timezone)
    intervals = []
    for index, calls in enumerate(forecast.calls):
        start = midnight + index * INTERVAL
        demand = Demand(calls, INTERVAL.total_seconds(), handle_s, patience_s)
        intervals.append(
            IntervalPlan(start, start + INTERVAL, calls, agents_needed(demand, target))
        )
    return DayPlan(
        line=line,
        day=forecast.day,
        timezone=timezone,
        forecast=forecast,
        handle_s=handle_s,
        patience_s=patience_s,
        model=Model.ERLANG_C if patience_s is None else Model.ERLANG_A,
        target=target,
        intervals=tuple(intervals),
    )


async def plan_day(
    conn: Queryable,
    calendar: HolidayCalendar,
    settings: PlanSettings,
    *,
    line: str,
    day: date,
    timezone: str,
) -> DayPlan | None:
    """The plan of ``line`` for ``day``; None when the line has no history before it."""
    midnight = local_midnight(day, timezone)
    offered = await repository.offered_by_interval(
        conn, line, midnight - timedelta(days=HISTORY_DAYS), midnight
    )
    history = history_by_day(offered, timezone, day)
    forecast = forecast_day(history, calendar, day, weeks=settings.weeks)
    if forecast is None:
        return None
    handling = await repository.handling(
        conn, line, midnight - timedelta(days=HANDLING_DAYS), midnight
    )
    return staff_day(
        forecast,
        line=line,
        timezone=timezone,
        handle_s=handling.handle_s() or settings.default_handle_s,
        patience_s=handling.patience_s(),
        target=settings.target,
    )

"""``GET /api/v1/forecast?line=&day=``: forecast calls and agents needed per interval.

The target and shrinkage default to the settings (``CALLCTL_FORECAST_*``); a
request may ask for others (percentages). A line without history gets 404
``forecast.no_history``; a target of 100% or more, or a negative shrinkage, 422
naming the field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from callctl.api.deps import Reader, db_pool
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN
from callctl.api.openapi import error_responses
from callctl.settings import Settings
from forecast.calendar import DAY_KIND_LABELS, china_calendar
from forecast.service import DayPlan, IntervalPlan, PlanSettings, plan_day
from forecast.staffing import StaffingInputError, StaffingTarget

router = APIRouter(prefix="/api/v1", tags=["forecast"], responses=error_responses(404))


class IntervalOut(BaseModel):
    start: datetime
    end: datetime
    calls: float = Field(description="forecast calls offered (预测呼入量)")
    agents: int = Field(description="agents on the phones the target needs (所需坐席)")
    scheduled: int = Field(description="agents to schedule with shrinkage (排班人数)")
    service_level: float | None = Field(description="predicted % within the threshold")
    answer_rate: float | None = Field(description="predicted % answered")


class TargetOut(BaseModel):
    service_level: float | None
    service_level_s: float
    answer_rate: float | None
    shrinkage: float


class CalendarOut(BaseModel):
    kind: str
    label: dict[str, str]
    holiday: str | None
    known: bool = Field(description="false: the holiday calendar does not cover the year")


class ForecastOut(BaseModel):
    line: str
    day: date
    timezone: str
    calendar: CalendarOut
    method: str
    reference_days: list[date]
    last_year_day: date | None
    trend: float
    model: str = Field(description="erlang_a (patience observed) or erlang_c")
    handle_s: float
    patience_s: float | None
    target: TargetOut
    total_calls: float
    intervals: list[IntervalOut]


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def _figure(plan: IntervalPlan, name: str) -> float | None:
    figures = plan.staffing.figures
    return None if figures is None else float(getattr(figures, name))


def forecast_out(plan: DayPlan) -> ForecastOut:
    f = plan.forecast
    return ForecastOut(
        line=plan.line,
        day=plan.day,
        timezone=plan.timezone,
        calendar=CalendarOut(
            kind=f.kind.value,
            label=dict(DAY_KIND_LABELS[f.kind]),
            holiday=f.holiday,
            known=f.calendar_known,
        ),
        method=f.method.value,
        reference_days=list(f.reference_days),
        last_year_day=f.last_year_day,
        trend=round(f.trend, 4),
        model=plan.model.value,
        handle_s=round(plan.handle_s, 1),
        patience_s=None if plan.patience_s is None else round(plan.patience_s, 1),
        target=TargetOut(
            service_level=_percent(plan.target.service_level),
            service_level_s=plan.target.threshold_s,
            answer_rate=_percent(plan.target.answer_rate),
            shrinkage=round(plan.target.shrinkage * 100, 2),
        ),
        total_calls=round(f.total, 1),
        intervals=[
            IntervalOut(
                start=i.start,
                end=i.end,
                calls=round(i.calls, 1),
                agents=i.staffing.agents,
                scheduled=i.staffing.scheduled,
                service_level=_percent(_figure(i, "service_level")),
                answer_rate=_percent(_figure(i, "answer_rate")),
            )
            for i in plan.intervals
        ],
    )


def plan_settings(
    settings: Settings,
    *,
    service_level: float | None = None,
    answer_rate: float | None = None,
    shrinkage: float | None = None,
) -> PlanSettings:
    """The settings' target, with what a request overrides (percentages)."""
    target = StaffingTarget.from_percent(
        service_level_pct=settings.forecast_service_level_target
        if service_level is None
        else service_level,
        threshold_s=settings.forecast_service_level_s,
        answer_rate_pct=settings.forecast_answer_rate_target
        if answer_rate is None
        else answer_rate,
        shrinkage_pct=settings.forecast_shrinkage if shrinkage is None else shrinkage,
    )
    return PlanSettings(
        target=target,
        weeks=settings.forecast_weeks,
        default_handle_s=settings.forecast_default_handle_s,
    )


def _parse_day(value: str | None, timezone: str) -> date:
    if value is None:
        return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "request.invalid", f"day: not a date (YYYY-MM-DD): {value!r}", {"field": "day"}
        ) from None


@router.get("/forecast", response_model=ForecastOut, responses=error_responses(404))
async def get_forecast(
    request: Request,
    principal: Reader,
    line: Annotated[str, Query(pattern=ID_PATTERN, description="service line (DNIS)")],
    day: Annotated[
        str | None, Query(max_length=10, description="YYYY-MM-DD (local); default: today")
    ] = None,
    service_level: Annotated[
        float | None, Query(description="target % answered within the threshold")
    ] = None,
    answer_rate: Annotated[float | None, Query(description="target % answered")] = None,
    shrinkage: Annotated[float | None, Query(description="% of time not on the phones")] = None,
) -> Any:
    """话务预测与排班 · Forecast calls and the agents needed per 15-minute interval."""
    settings: Settings = request.app.state.settings
    try:
        params = plan_settings(
            settings, service_level=service_level, answer_rate=answer_rate, shrinkage=shrinkage
        )
    except StaffingInputError as exc:
        raise ApiError(422, "request.invalid", str(exc), {"field": exc.field}) from None
    when = _parse_day(day, settings.timezone)
    async with db_pool(request).acquire() as conn:
        plan = await plan_day(
            conn, china_calendar(), params, line=line, day=when, timezone=settings.timezone
        )
    if plan is None:
        raise ApiError(
            404,
            "forecast.no_history",
            f"no forecast: line {line} has no stored calls before {when.isoformat()}",
            {"line": line, "day": when.isoformat()},
        )
    return forecast_out(plan)

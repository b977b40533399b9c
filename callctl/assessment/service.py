"""The month's assessment: the scheme in force, the figures, exclusions and inputs, evaluated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from callctl.assessment import repository
from callctl.assessment.repository import OutageMark, SchemeVersion
from callctl.db_types import Connection
from kpi.agent_time import AgentTimeCounters
from kpi.assessment.curves import annual_score, tail_loss
from kpi.assessment.evaluate import Assessment, Measured, evaluate
from kpi.assessment.measure import DayCounters, measure_month
from kpi.assessment.query import (
    daily_agent_time,
    daily_counters,
    first_entries_counters,
    local_days,
    month_agent_time,
    month_window,
    same_day_last_year,
)
from kpi.assessment.scheme import CallKpi, ExternalInput, Scheme, check_month
from kpi.assessment.words import annual_words
from kpi.counters import KpiCounters
from kpi.inputs import AcwCaps, KpiParams
from kpi.query import snapshot
from kpi.sql import EntryFilter


class UnknownScheme(LookupError):
    """No stored version and no preset of that name."""


@dataclass(frozen=True, slots=True)
class MonthAssessment:
    version: SchemeVersion
    month: str
    start: datetime
    end: datetime
    line: str | None
    params: KpiParams
    assessment: Assessment
    figures: dict[str, Measured]
    external: dict[ExternalInput, Decimal]
    outages: dict[date, OutageMark]


def scheme_params(scheme: Scheme, acw_caps: AcwCaps) -> KpiParams:
    c = scheme.counting
    return KpiParams(
        service_level_s=c.service_level_s,
        short_abandon_s=c.short_abandon_s,
        acw_caps=acw_caps,
        satisfied_keys=frozenset(c.satisfied_keys),
        sl_clock=c.sl_clock,
    )


async def _surges(
    conn: Connection, scheme: Scheme, month: str, days: dict[date, KpiCounters], params: KpiParams,
    f: EntryFilter, tz: str,
) -> dict[date, tuple[int, KpiCounters]]:  # fmt: skip
    """Days above ``surge_ratio`` × the same day last year: (last year's entries, counters
    of the day's first ⌊ratio × last year⌋ entries)."""
    ratio = scheme.exclusions.surge_ratio
    if ratio is None:
        return {}
    year, number = int(month[:4]) - 1, month[5:7]
    start, end = month_window(f"{year:04d}-{number}", tz)
    last_year = await daily_counters(conn, start, end, params, f, tz, per_call=False)
    surges = {}
    for day, counters in days.items():
        before = last_year.get(same_day_last_year(day))
        if before is None or before.entries == 0:
            continue
        limit = math.floor(ratio * before.entries)
        if counters.entries > limit:
            trimmed = await first_entries_counters(conn, day, limit, params, f, tz)
            surges[day] = (before.entries, trimmed)
    return surges


async def assess_month(
    conn: Connection, name: str, month: str, *, line: str | None, acw_caps: AcwCaps, tz: str
) -> MonthAssessment:
    check_month(month)
    version = await repository.scheme_for_month(conn, name, month)
    if version is None:
        raise UnknownScheme(name)
    scheme = version.scheme
    params = scheme_params(scheme, acw_caps)
    start, end = month_window(month, tz)
    f = EntryFilter(line=line)
    async with snapshot(conn):
        counters = await daily_counters(
            conn, start, end, params, f, tz, per_call=scheme.counting.per_call
        )
        surges = await _surges(conn, scheme, month, counters, params, f, tz)
        marks = await repository.outage_marks(
            conn, local_days(start, end, tz)[0], local_days(start, end, tz)[-1] + timedelta(1)
        )
        outages = repository.active_outages(marks)
        external = await repository.current_inputs(conn, month)
        times: dict[date, AgentTimeCounters] = {}
        month_time = None
        if any(r.kpi is CallKpi.UTILISATION for r in scheme.rules):
            per_day = scheme.counting.monthly_average == "daily_mean" or (
                scheme.exclusions.outage_days and bool(outages)
            )
            if per_day:
                times = await daily_agent_time(conn, local_days(start, end, tz), params, None, tz)
            else:
                month_time = await month_agent_time(conn, start, end, params, None, tz)
    days = []
    for day in local_days(start, end, tz):
        surge = surges.get(day)
        outage = outages.get(day)
        days.append(
            DayCounters(
                day, counters.get(day, KpiCounters()), times.get(day, AgentTimeCounters()),
                outage_reason=None if outage is None else outage.reason,
                surge_counters=None if surge is None else surge[1],
                last_year_entries=None if surge is None else surge[0],
            )
        )  # fmt: skip
    figures = measure_month(days, scheme, params, external, month_time)
    assessment = evaluate(scheme, month, figures, external)
    return MonthAssessment(
        version, month, start, end, line, params, assessment, figures, external, outages
    )


class NoScore(ValueError):
    """The scheme gives no score (no ``base_points``): no annual mean to take."""


@dataclass(frozen=True, slots=True)
class YearAssessment:
    """The year's score (the mean of its months' scores) and the tail payment (Sichuan)."""

    scheme: Scheme
    year: int
    line: str | None
    months: list[MonthAssessment]
    scores: list[tuple[str, Decimal]]
    score: Decimal | None
    tail_loss_pct: Decimal | None
    words: str


def year_months(year: int, through: str | None, today: date) -> list[str]:
    """The months of ``year`` to average: up to ``through`` (a month of that year), and
    never the month of ``today`` or later (not over yet)."""
    last = 12
    if through is not None:
        check_month(through)
        if int(through[:4]) != year:
            raise ValueError(f"through must be a month of {year}, got {through}")
        last = int(through[5:7])
    if year > today.year:
        last = 0
    elif year == today.year:
        last = min(last, today.month - 1)
    return [f"{year:04d}-{m:02d}" for m in range(1, last + 1)]


async def assess_year(
    conn: Connection, name: str, year: int, *, through: str | None, line: str | None,
    acw_caps: AcwCaps, tz: str, today: date,
) -> YearAssessment:  # fmt: skip
    """Each month's assessment, the year's mean score and its tail payment lost, with the
    tail curve of the scheme in force in the last month counted."""
    months = [
        await assess_month(conn, name, month, line=line, acw_caps=acw_caps, tz=tz)
        for month in year_months(year, through, today)
    ]
    version = await repository.scheme_for_month(conn, name, months[-1].month if months
                                                else f"{year:04d}-12")  # fmt: skip
    if version is None:
        raise UnknownScheme(name)
    scheme = version.scheme
    if scheme.base_points is None:
        raise NoScore(name)
    scores = [(m.month, m.assessment.score) for m in months if m.assessment.score is not None]
    score = annual_score([s for _, s in scores])
    loss = None if score is None or not scheme.tail_curve else tail_loss(score, scheme.tail_curve)
    text = annual_words(scores, score, scheme.tail_curve, loss)
    return YearAssessment(scheme, year, line, months, scores, score, loss, text)

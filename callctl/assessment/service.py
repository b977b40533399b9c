"""The month's assessment: the scheme in force, the figures, exclusions and inputs, evaluated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from callctl.assessment import repository
from callctl.assessment.repository import OutageMark, SchemeVersion
from kpi.agent_time import AgentTimeCounters
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
    conn: Any, scheme: Scheme, month: str, days: dict[date, KpiCounters], params: KpiParams,
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
    conn: Any, name: str, month: str, *, line: str | None, acw_caps: AcwCaps, tz: str
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

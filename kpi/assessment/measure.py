"""A month's call figures for a scheme: counting options, 月平均 readings, exclusions.

The input is one ``DayCounters`` per local day (counters already built with the
scheme's counting: per call or per queue entry); the output is one ``Measured`` per
call KPI, in its unit (percent 0-100, seconds). Exclusions are decided per KPI and
per day: a marked outage day (or a surge day's excess) is left out of an indicator
only where that day's own figure misses the indicator's pass line, and each
decision is noted in the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from kpi.agent_time import AgentTimeCounters
from kpi.assessment.evaluate import Measured, evaluate_step, evaluate_tier
from kpi.assessment.scheme import CallKpi, ExternalInput, Scheme, StepRule, TierRule
from kpi.counters import KpiCounters
from kpi.definitions import kpis_from_counters
from kpi.inputs import KpiParams


@dataclass(frozen=True, slots=True)
class DayCounters:
    day: date
    counters: KpiCounters
    agent_time: AgentTimeCounters = field(default_factory=AgentTimeCounters)
    outage_reason: str | None = None
    """Set on a day marked as a platform outage (系统原因、停电)."""
    surge_counters: KpiCounters | None = None
    """For a surge day: the counters of its first ⌊ratio × last year⌋ entries."""
    last_year_entries: int | None = None


Parts = tuple[int, int]
"""(numerator, denominator) of a figure."""


def _parts(kpi: CallKpi, c: KpiCounters, t: AgentTimeCounters, params: KpiParams) -> Parts:
    k = kpis_from_counters(c, params)
    match kpi:
        case CallKpi.ANSWER_RATE:
            return k.answered, k.offered
        case CallKpi.SERVICE_LEVEL:
            return k.answered_in_sl, k.offered
        case CallKpi.ABANDON_RATE:
            return k.abandoned, k.offered
        case CallKpi.AVG_ACW_S:
            return c.sum_acw, c.n_acw
        case CallKpi.SATISFACTION:
            return k.survey_satisfied, k.survey_answers
        case CallKpi.UTILISATION:
            return t.talking_s + t.acw_s, t.logged_in_s


def _value(kpi: CallKpi, parts: Parts) -> Fraction | None:
    numerator, denominator = parts
    if denominator == 0:
        return None
    scale = 1 if kpi is CallKpi.AVG_ACW_S else 100
    return Fraction(numerator * scale, denominator)


def _add(a: Parts, b: Parts, sign: int = 1) -> Parts:
    return a[0] + sign * b[0], a[1] + sign * b[1]


def _passes(
    kpi: CallKpi, scheme: Scheme, value: Fraction | None, external: Mapping[ExternalInput, Decimal]
) -> bool | None:
    """Whether ``value`` meets every rule of ``kpi`` (None: no rule or no value)."""
    results = []
    for rule in scheme.rules:
        if rule.kpi != kpi:
            continue
        measured = Measured(value)
        if isinstance(rule, StepRule):
            results.append(evaluate_step(rule, measured).passed)
        elif isinstance(rule, TierRule):
            results.append(evaluate_tier(rule, measured, external).passed)
    known = [r for r in results if r is not None]
    return None if not known else all(known)


def _pct(value: Fraction | None) -> str:
    return "无" if value is None else f"{float(value):.2f}"


def measure_kpi(
    kpi: CallKpi,
    days: Sequence[DayCounters],
    scheme: Scheme,
    params: KpiParams,
    external: Mapping[ExternalInput, Decimal],
) -> Measured:
    notes: list[str] = []
    kept: list[Parts] = []
    for d in days:
        parts = _parts(kpi, d.counters, d.agent_time, params)
        value = _value(kpi, parts)
        fails = _passes(kpi, scheme, value, external) is False
        label = d.day.isoformat()
        if scheme.exclusions.outage_days and d.outage_reason is not None:
            if fails:
                notes.append(
                    f"{label} 标记为故障日（{d.outage_reason}），当日 {_pct(value)} 未达合格线，"
                    "当天成绩不计入考核"
                )
                continue
            notes.append(
                f"{label} 标记为故障日（{d.outage_reason}），"
                f"当日 {_pct(value)} 已达合格线，照常计入"
            )
        surge = d.surge_counters
        if scheme.exclusions.surge_ratio is not None and surge is not None and fails:
            trimmed = _parts(kpi, surge, d.agent_time, params)
            notes.append(
                f"{label} 话务量超过去年同日 {d.last_year_entries} 的 "
                f"{scheme.exclusions.surge_ratio} 倍，当日 {_pct(value)} 未达合格线，"
                f"只计前 {surge.entries} 个进线：{_pct(_value(kpi, trimmed))}"
            )
            parts = trimmed
        kept.append(parts)
    pooled_parts: Parts = (0, 0)
    for parts in kept:
        pooled_parts = _add(pooled_parts, parts)
    pooled = _value(kpi, pooled_parts)
    daily = [v for v in (_value(kpi, p) for p in kept) if v is not None]
    daily_mean = sum(daily, Fraction(0)) / len(daily) if daily else None
    use_daily = scheme.counting.monthly_average == "daily_mean"
    return Measured(
        value=daily_mean if use_daily else pooled,
        numerator=pooled_parts[0],
        denominator=pooled_parts[1],
        other_reading=pooled if use_daily else daily_mean,
        notes=tuple(notes),
    )


def measure_month(
    days: Sequence[DayCounters],
    scheme: Scheme,
    params: KpiParams,
    external: Mapping[ExternalInput, Decimal],
    month_agent_time: AgentTimeCounters | None = None,
) -> dict[str, Measured]:
    """Every call KPI (and ``answered``, the accepted calls) of the month.

    ``month_agent_time``: the month's agent time in one sum, when no per-day
    utilisation is needed (pooled, and no outage day to weigh): utilisation is read
    from it, with no daily-mean reading beside it."""
    figures = {kpi.value: measure_kpi(kpi, days, scheme, params, external) for kpi in CallKpi}
    if month_agent_time is not None:
        t = month_agent_time
        parts = (t.talking_s + t.acw_s, t.logged_in_s)
        figures[CallKpi.UTILISATION.value] = Measured(
            _value(CallKpi.UTILISATION, parts), parts[0], parts[1]
        )
    answered = sum(d.counters.answered for d in days)
    figures["answered"] = Measured(Fraction(answered), answered, None)
    return figures

"""The core KPIs of kpi-definitions.md sections 1-3, as exact fractions.

Ratios and means are ``fractions.Fraction`` so that no rounding happens before
presentation (``kpi.presentation``) or assessment; an empty denominator gives
``None``, never 0 % or 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from kpi.counters import KpiCounters, counters_from_entries
from kpi.inputs import EntryRecord, KpiParams


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """``numerator / denominator`` exactly, or ``None`` when there is nothing to divide by."""
    if denominator == 0:
        return None
    return Fraction(numerator, denominator)


@dataclass(frozen=True, slots=True)
class KpiSet:
    """The KPIs of one window (queue, line, agent, interval ...) under one scheme's params."""

    offered: int
    """Entries minus short abandons (系统分配给人工坐席的话务量)."""
    answered: int
    answered_in_sl: int
    abandoned: int
    """Abandoned entries that count as offered (short abandons excluded)."""
    short_abandoned: int
    lost: int
    """Entries still waiting when their Asterisk node restarted: offered, never answered."""
    survey_answers: int
    survey_satisfied: int
    answer_rate: Fraction | None
    """人工接通率: answered / offered."""
    service_level: Fraction | None
    """15秒接通率: answered with wait_s <= service_level_s / offered."""
    abandon_rate: Fraction | None
    """放弃率: abandoned / offered."""
    asa_s: Fraction | None
    """平均应答时长: mean wait_s of answered entries."""
    avg_talk_s: Fraction | None
    """平均通话时长: mean talk_s of answered entries whose talk is known."""
    avg_acw_s: Fraction | None
    """平均事后处理时间: mean capped ACW of answered entries whose ACW is known."""
    avg_handle_s: Fraction | None
    """平均处理时长: mean talk_s + capped ACW where both are known."""
    satisfaction: Fraction | None
    """满意率: satisfied answers / survey answers."""
    survey_take_up: Fraction | None
    """参评率: survey answers / answered."""


def kpis_from_counters(counters: KpiCounters, params: KpiParams | None = None) -> KpiSet:
    """Read the KPIs out of counters, applying the scheme's thresholds now.

    ``params.acw_caps`` is not used here: it was applied when the counters were
    built.
    """
    params = params or KpiParams()
    short_abandoned = counters.short_abandoned(params.short_abandon_s)
    # A short abandon leaves the population entirely: it is neither offered
    # nor counted as an abandon of an offered call.
    offered = counters.entries - short_abandoned
    abandoned = counters.abandoned - short_abandoned
    answered_in_sl = counters.answered_within(params.service_level_s)
    survey_answers = counters.survey_answers
    survey_satisfied = counters.survey_answers_in(params.satisfied_keys)
    return KpiSet(
        offered=offered,
        answered=counters.answered,
        answered_in_sl=answered_in_sl,
        abandoned=abandoned,
        short_abandoned=short_abandoned,
        lost=counters.lost,
        survey_answers=survey_answers,
        survey_satisfied=survey_satisfied,
        answer_rate=ratio(counters.answered, offered),
        service_level=ratio(answered_in_sl, offered),
        abandon_rate=ratio(abandoned, offered),
        asa_s=ratio(counters.sum_wait_answered, counters.answered),
        avg_talk_s=ratio(counters.sum_talk, counters.n_talk),
        avg_acw_s=ratio(counters.sum_acw, counters.n_acw),
        avg_handle_s=ratio(counters.sum_handle, counters.n_handle),
        satisfaction=ratio(survey_satisfied, survey_answers),
        survey_take_up=ratio(survey_answers, counters.answered),
    )


def compute_kpis(entries: Iterable[EntryRecord], params: KpiParams | None = None) -> KpiSet:
    """KPIs straight from entries: the same as going through counters, by construction."""
    params = params or KpiParams()
    return kpis_from_counters(counters_from_entries(entries, params), params)

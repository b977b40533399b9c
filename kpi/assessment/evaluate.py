"""A scheme applied to a month's figures: each rule's outcome, the totals with caps, the tier.

Pure: the figures come in as ``Measured`` (exact fractions from the calls, or the
external inputs as entered); every amount is a ``Decimal`` rounded half-up to two
decimals. A figure is compared with its target as reported, i.e. rounded half-up
to two decimals in its unit first (93.994% is 93.99%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from kpi.assessment import words
from kpi.assessment.curves import half_up, payment_share, tail_loss
from kpi.assessment.scheme import (
    CALL_UNITS,
    EXTERNAL_UNITS,
    CallKpi,
    Direction,
    ExternalInput,
    OutcomeUnit,
    Rounding,
    Scheme,
    StepRule,
    TierRule,
    Unit,
)
from kpi.presentation import round_half_up


@dataclass(frozen=True, slots=True)
class Measured:
    """A figure in its unit (percent 0-100, ‰, seconds, count) with its parts."""

    value: Fraction | None
    numerator: int | None = None
    denominator: int | None = None
    other_reading: Fraction | None = None
    """The other 月平均 reading (mean of daily ratios vs pooled), for display."""
    notes: tuple[str, ...] = ()
    """Exclusions applied to this figure, in zh-CN."""


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    label: str
    kpi: str
    unit: Unit
    figure: Decimal | None
    numerator: int | None
    denominator: int | None
    target: str
    passed: bool | None
    """``None`` without data."""
    steps: Decimal
    outcome: Decimal
    outcome_unit: OutcomeUnit
    tier: str | None
    words: str
    other_reading: Decimal | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitTotal:
    unit: OutcomeUnit
    penalties: Decimal
    """Sum of deductions (≤ 0), before the scheme's cap."""
    rewards: Decimal
    penalties_capped: Decimal
    rewards_capped: Decimal
    net: Decimal
    words: str


@dataclass(frozen=True, slots=True)
class Assessment:
    scheme: str
    month: str
    rules: tuple[RuleResult, ...]
    totals: tuple[UnitTotal, ...]
    score: Decimal | None
    """Points: base + rule outcomes (capped) − other deductions + other additions."""
    payment_pct: Decimal | None
    tail_loss_pct: Decimal | None
    """Tail payment lost if the year's mean score were this month's (Sichuan)."""
    contract_money: Decimal | None
    """The net percent-of-contract outcome in yuan, where the contract amount is known."""
    summary: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def _steps(gap: Fraction, step: Decimal, rounding: Rounding) -> Fraction:
    raw = gap / Fraction(step)
    if rounding is Rounding.FLOOR:
        return Fraction(math.floor(raw))
    if rounding is Rounding.CEIL:
        return Fraction(math.ceil(raw))
    return raw


def _amount(steps: Fraction, per_step: Decimal, cap: Decimal | None) -> Decimal:
    amount = round_half_up(steps * Fraction(per_step), 2)
    return amount if cap is None else min(amount, cap)


def _unit_of(kpi: CallKpi | ExternalInput) -> Unit:
    return CALL_UNITS[kpi] if isinstance(kpi, CallKpi) else EXTERNAL_UNITS[kpi]


def _no_data(rule: StepRule | TierRule, measured: Measured | None) -> RuleResult:
    return RuleResult(
        rule.id, rule.label, rule.kpi.value, _unit_of(rule.kpi), None,
        measured.numerator if measured else None, measured.denominator if measured else None,
        words.target_text(rule), None, Decimal(0), Decimal(0), rule.unit, None,
        f"{rule.label}：无数据（分母为 0 或未录入），本项不计。",
    )  # fmt: skip


def _shown(value: Fraction | None) -> Decimal | None:
    return None if value is None else round_half_up(value, 2)


def evaluate_step(rule: StepRule, measured: Measured | None) -> RuleResult:
    if measured is None or measured.value is None:
        return _no_data(rule, measured)
    figure = round_half_up(measured.value, 2)
    allowance: Fraction | None = None
    if rule.cases_per is not None:
        allowance = Fraction(rule.target) * (measured.denominator or 0) / rule.cases_per
        gap = Fraction(figure) - allowance
    elif rule.direction is Direction.AT_LEAST:
        gap = Fraction(rule.target) - Fraction(figure)
    else:
        gap = Fraction(figure) - Fraction(rule.target)
    steps, outcome = Fraction(0), Decimal(0)
    if gap > 0:
        steps = _steps(gap, rule.step, rule.rounding)
        outcome = -_amount(steps, rule.penalty_per_step, rule.penalty_cap)
    elif gap < 0 and rule.reward_per_step:
        steps = _steps(-gap, rule.step, rule.rounding)
        outcome = _amount(steps, rule.reward_per_step, rule.reward_cap)
    shown_steps = round_half_up(steps, 2)
    return RuleResult(
        rule.id, rule.label, rule.kpi.value, _unit_of(rule.kpi), figure,
        measured.numerator, measured.denominator, words.target_text(rule), gap <= 0,
        shown_steps, outcome + 0, rule.unit, None,
        words.step_words(rule, figure, gap, shown_steps, outcome, allowance),
        _shown(measured.other_reading), measured.notes,
    )  # fmt: skip


def tier_threshold(
    at_least: Decimal | ExternalInput | None, external: Mapping[ExternalInput, Decimal]
) -> Decimal | None:
    if isinstance(at_least, ExternalInput):
        return external.get(at_least)
    return at_least


def evaluate_tier(
    rule: TierRule, measured: Measured | None, external: Mapping[ExternalInput, Decimal]
) -> RuleResult:
    if measured is None or measured.value is None:
        return _no_data(rule, measured)
    figure = round_half_up(measured.value, 2)
    names = [t.name for t in rule.tiers]
    index = len(rule.tiers) - 1
    for i, tier in enumerate(rule.tiers):
        threshold = tier_threshold(tier.at_least, external)
        # A threshold still to be entered (a provincial line) cannot be proven missed.
        if threshold is None or figure >= threshold:
            index = i
            break
    pass_index = names.index(rule.pass_tier)
    ranking = external.get(ExternalInput.PROVINCIAL_RANKING)
    demoted = (
        rule.ranking_after is not None
        and ranking is not None
        and ranking > rule.ranking_after
        and index <= pass_index
    )
    if demoted:
        index = pass_index + 1
    tier = rule.tiers[index]
    return RuleResult(
        rule.id, rule.label, rule.kpi.value, _unit_of(rule.kpi), figure,
        measured.numerator, measured.denominator, words.target_text(rule),
        index <= pass_index, Decimal(0), tier.outcome + 0, rule.unit, tier.name,
        words.tier_words(rule, figure, tier, demoted, ranking, external),
        _shown(measured.other_reading), measured.notes,
    )  # fmt: skip


def _totals(scheme: Scheme, results: list[RuleResult]) -> list[UnitTotal]:
    totals = []
    for unit in OutcomeUnit:
        mine = [r.outcome for r in results if r.outcome_unit is unit]
        if not mine:
            continue
        penalties = sum((o for o in mine if o < 0), Decimal(0))
        rewards = sum((o for o in mine if o > 0), Decimal(0))
        p_cap, r_cap = scheme.penalty_caps.get(unit), scheme.reward_caps.get(unit)
        penalties_capped = penalties if p_cap is None else max(penalties, -p_cap)
        rewards_capped = rewards if r_cap is None else min(rewards, r_cap)
        net = half_up(penalties_capped + rewards_capped)
        totals.append(
            UnitTotal(
                unit, penalties, rewards, penalties_capped, rewards_capped, net,
                words.total_words(unit, penalties, rewards, p_cap, r_cap, net),
            )
        )  # fmt: skip
    return totals


def evaluate(
    scheme: Scheme,
    month: str,
    figures: Mapping[str, Measured],
    external: Mapping[ExternalInput, Decimal],
) -> Assessment:
    """Apply ``scheme`` to ``figures`` (call KPIs by name) and ``external`` inputs."""
    results: list[RuleResult] = []
    for rule in scheme.rules:
        measured = _measured(rule.kpi, rule, figures, external)
        if isinstance(rule, StepRule):
            results.append(evaluate_step(rule, measured))
        else:
            results.append(evaluate_tier(rule, measured, external))
    totals = _totals(scheme, results)
    by_unit = {t.unit: t for t in totals}
    score = payment = tail = money = None
    if scheme.base_points is not None:
        points = by_unit.get(OutcomeUnit.POINTS)
        score = scheme.base_points + (points.net if points else Decimal(0))
        score -= external.get(ExternalInput.OTHER_DEDUCTIONS, Decimal(0))
        score += external.get(ExternalInput.OTHER_ADDITIONS, Decimal(0))
        score = half_up(max(score, Decimal(0)))
        if scheme.payment_tiers:
            payment = payment_share(score, scheme.payment_tiers)
        if scheme.tail_curve:
            tail = tail_loss(score, scheme.tail_curve)
    contract = by_unit.get(OutcomeUnit.CONTRACT_PCT)
    amount = external.get(ExternalInput.CONTRACT_AMOUNT)
    if contract is not None and amount is not None:
        money = half_up(amount * contract.net / 100)
    summary = words.summary_words(scheme, score, payment, tail, by_unit, money, external)
    return Assessment(
        scheme.name, month, tuple(results), tuple(totals), score, payment, tail, money, summary
    )


def _measured(
    kpi: CallKpi | ExternalInput,
    rule: StepRule | TierRule,
    figures: Mapping[str, Measured],
    external: Mapping[ExternalInput, Decimal],
) -> Measured | None:
    if isinstance(kpi, CallKpi):
        return figures.get(kpi.value)
    value = external.get(kpi)
    if value is None:
        return None
    if isinstance(rule, StepRule) and rule.cases_per is not None:
        entered = external.get(ExternalInput.ACCEPTED_ORDERS)
        answered = figures.get("answered")
        if entered is not None:
            accepted = int(entered)
        elif answered is not None and answered.numerator is not None:
            accepted = answered.numerator
        else:
            return None
        return Measured(Fraction(value), int(value), accepted)
    return Measured(Fraction(value))

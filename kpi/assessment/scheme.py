"""Assessment schemes (考核方案) as data: rules, caps, payment tiers and curves, exclusions.

A scheme is plain data (validated pydantic models, stored as JSON and versioned by
month); ``kpi.assessment.evaluate`` applies it to a month's figures. Nothing here
does I/O.

Amounts are ``Decimal``. Where a contract does not say how to round, the shortfall
counts in proportion (``Rounding.EXACT``) and every amount is rounded half-up to two
decimals (docs/assessment.md).
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def check_month(value: str) -> str:
    """``YYYY-MM`` with a real month (``2026-13`` is refused)."""
    if not MONTH_RE.fullmatch(value):
        raise ValueError(f"month must be YYYY-MM with a month 01-12, got {value[:20]!r}")
    return value


class Direction(StrEnum):
    AT_LEAST = "ge"
    """Higher is better: the target is a floor (接通率 ≥ 95%)."""
    AT_MOST = "le"
    """Lower is better: the target is a ceiling (事后处理 ≤ 180 s)."""


class Rounding(StrEnum):
    FLOOR = "floor"
    """向下取整: only whole steps count (87.5% is 2 points below 90%)."""
    CEIL = "ceil"
    """向上取整: every started step counts."""
    EXACT = "exact"
    """In proportion (the contract is silent); the amount is then rounded half-up."""


class OutcomeUnit(StrEnum):
    POINTS = "points"
    YUAN = "yuan"
    CONTRACT_PCT = "contract_pct"
    """Percent of the contract's amount (Shenyang)."""


class Unit(StrEnum):
    PERCENT = "percent"
    PERMILLE = "permille"
    SECONDS = "seconds"
    COUNT = "count"


class CallKpi(StrEnum):
    """Figures computed from the calls."""

    ANSWER_RATE = "answer_rate"
    SERVICE_LEVEL = "service_level"
    ABANDON_RATE = "abandon_rate"
    AVG_ACW_S = "avg_acw_s"
    SATISFACTION = "satisfaction"
    UTILISATION = "utilisation"


class ExternalInput(StrEnum):
    """Figures the calls do not give, entered per month through the API (each ≥ 0)."""

    QA_ERROR_RATE = "qa_error_rate"
    """受理质量差错率, ‰."""
    COMPLAINTS = "complaints"
    """效能投诉 (有责投诉) cases."""
    ACCEPTED_ORDERS = "accepted_orders"
    """月受理总量; the answered calls when not entered."""
    RETURNED_ORDER_RATE = "returned_order_rate"
    """交办单退回率, ‰."""
    PROVINCIAL_RANKING = "provincial_ranking"
    """全省排名 (1 = first)."""
    PROVINCIAL_SATISFACTION_LINE = "provincial_satisfaction_line"
    """省考指标 for satisfaction, %."""
    DISPATCH_ACCURACY = "dispatch_accuracy"
    """派单准确率, %."""
    CALLBACK_RATE = "callback_rate"
    """回访率, %."""
    REVIEW_ERROR_RATE = "review_error_rate"
    """工单初审差错率, %."""
    INSTANT_TRANSFER_RATE = "instant_transfer_rate"
    """即时转办率, %."""
    ON_TIME_FEEDBACK_RATE = "on_time_feedback_rate"
    """按时反馈率, %."""
    OTHER_DEDUCTIONS = "other_deductions"
    """Points deducted by the scheme's items that are judged by hand."""
    OTHER_ADDITIONS = "other_additions"
    """Points added by the scheme's items that are judged by hand."""
    CONTRACT_AMOUNT = "contract_amount"
    """The contract's amount (yuan), for percent-of-contract outcomes."""


EXTERNAL_UNITS: dict[ExternalInput, Unit] = {
    ExternalInput.QA_ERROR_RATE: Unit.PERMILLE,
    ExternalInput.COMPLAINTS: Unit.COUNT,
    ExternalInput.ACCEPTED_ORDERS: Unit.COUNT,
    ExternalInput.RETURNED_ORDER_RATE: Unit.PERMILLE,
    ExternalInput.PROVINCIAL_RANKING: Unit.COUNT,
    ExternalInput.PROVINCIAL_SATISFACTION_LINE: Unit.PERCENT,
    ExternalInput.DISPATCH_ACCURACY: Unit.PERCENT,
    ExternalInput.CALLBACK_RATE: Unit.PERCENT,
    ExternalInput.REVIEW_ERROR_RATE: Unit.PERCENT,
    ExternalInput.INSTANT_TRANSFER_RATE: Unit.PERCENT,
    ExternalInput.ON_TIME_FEEDBACK_RATE: Unit.PERCENT,
    ExternalInput.OTHER_DEDUCTIONS: Unit.COUNT,
    ExternalInput.OTHER_ADDITIONS: Unit.COUNT,
    ExternalInput.CONTRACT_AMOUNT: Unit.COUNT,
}
CALL_UNITS: dict[CallKpi, Unit] = {
    CallKpi.ANSWER_RATE: Unit.PERCENT,
    CallKpi.SERVICE_LEVEL: Unit.PERCENT,
    CallKpi.ABANDON_RATE: Unit.PERCENT,
    CallKpi.AVG_ACW_S: Unit.SECONDS,
    CallKpi.SATISFACTION: Unit.PERCENT,
    CallKpi.UTILISATION: Unit.PERCENT,
}
PERCENT_LIMITED = frozenset(
    {
        ExternalInput.DISPATCH_ACCURACY,
        ExternalInput.CALLBACK_RATE,
        ExternalInput.REVIEW_ERROR_RATE,
        ExternalInput.PROVINCIAL_SATISFACTION_LINE,
        ExternalInput.INSTANT_TRANSFER_RATE,
        ExternalInput.ON_TIME_FEEDBACK_RATE,
    }
)
"""Inputs that are percentages (0-100)."""

Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepRule(_Frozen):
    """``{kpi, target, direction, step, rounding, per_step, cap}``: so much per step off target.

    ``per_call_cases``: the target is a rate per ``per`` of the denominator (效能投诉率
    ≤ 1 per 10,000 accepted) and each case above the allowance is a step.
    """

    kind: Literal["step"] = "step"
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=60)
    kpi: CallKpi | ExternalInput
    target: Amount
    direction: Direction
    step: Amount = Field(gt=0)
    rounding: Rounding = Rounding.EXACT
    unit: OutcomeUnit
    penalty_per_step: Amount = Decimal(0)
    penalty_cap: Amount | None = None
    """Largest deduction of this rule (an item worth 13 points deducts at most 13)."""
    reward_per_step: Amount = Decimal(0)
    reward_cap: Amount | None = None
    cases_per: int | None = Field(default=None, gt=0)
    """Set for a case-count target: allowance = target × denominator / cases_per."""


class Tier(_Frozen):
    name: str = Field(pattern=r"^[a-z_]{1,20}$")
    label: str = Field(min_length=1, max_length=20)
    at_least: Amount | ExternalInput | None
    """The tier holds from this figure up (a number, or an external input such as the
    provincial line); ``None``: the bottom tier."""
    outcome: Decimal = Field(max_digits=10, decimal_places=4)
    """Signed: +0.5 earns, −0.5 costs."""


class TierRule(_Frozen):
    """The figure falls into the first tier (best first) whose threshold it reaches."""

    kind: Literal["tier"] = "tier"
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=60)
    kpi: CallKpi | ExternalInput
    tiers: tuple[Tier, ...] = Field(min_length=2)
    pass_tier: str
    """The lowest tier that passes (合格): an exclusion applies only below it."""
    unit: OutcomeUnit
    ranking_after: int | None = Field(default=None, gt=0)
    """A provincial ranking worse than this (全省排名第 7 名以后) is at best the tier
    just below ``pass_tier``."""

    @model_validator(mode="after")
    def _pass_tier_known(self) -> TierRule:
        names = [t.name for t in self.tiers]
        if self.pass_tier not in names:
            raise ValueError(f"pass_tier {self.pass_tier!r} is not one of {names}")
        if self.tiers[-1].at_least is not None:
            raise ValueError("the last tier must have at_least null (everything below)")
        return self


Rule = Annotated[StepRule | TierRule, Field(discriminator="kind")]


class PaymentTier(_Frozen):
    min_points: Amount
    pay_pct: Amount = Field(le=100)


class CurveBand(_Frozen):
    """Between ``below`` and ``down_to`` points, each point lost costs ``pct_per_point``."""

    below: Amount
    down_to: Amount
    pct_per_point: Amount


class Counting(_Frozen):
    """The counting options a contract fixes (shown in every report)."""

    per_call: bool = False
    """Count a caller once even if overflow moved them to another queue (Haikou)."""
    service_level_s: int = Field(default=15, ge=0, le=60)
    sl_clock: Literal["queue", "system"] = "queue"
    """``system``: from the call's first entry into the system (IVR time counts)."""
    short_abandon_s: int = Field(default=0, ge=0, le=60)
    satisfied_keys: tuple[int, ...] = (1, 2)
    monthly_average: Literal["pooled", "daily_mean"] = "pooled"
    """月平均: the month's pooled ratio, or the mean of the daily ratios."""


class Exclusions(_Frozen):
    outage_days: bool = False
    """Leave out a marked outage day, for an indicator the day pushed below its pass line."""
    surge_ratio: Decimal | None = Field(default=None, gt=1, max_digits=6, decimal_places=3)
    """On a day above ``surge_ratio`` × the same day last year, only the first
    ⌊ratio × last year⌋ entries count (again only where the day failed)."""


class Scheme(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    label: str = Field(min_length=1, max_length=60)
    label_en: str = Field(min_length=1, max_length=60)
    valid_from: str = "2000-01"
    counting: Counting = Counting()
    rules: tuple[Rule, ...] = Field(min_length=1)
    base_points: Amount | None = None
    """Points before deductions (the score's full marks); ``None``: no score."""
    penalty_caps: dict[OutcomeUnit, Amount] = Field(default_factory=dict)
    """Largest total deduction per outcome unit, on its own."""
    reward_caps: dict[OutcomeUnit, Amount] = Field(default_factory=dict)
    """Largest total reward per outcome unit, on its own (not netted with penalties)."""
    payment_tiers: tuple[PaymentTier, ...] = ()
    """The month's points → share of the fee paid (highest ``min_points`` first)."""
    tail_curve: tuple[CurveBand, ...] = ()
    """Annual score → tail payment lost, progressive like tax brackets."""
    exclusions: Exclusions = Exclusions()

    @property
    def requires_survey(self) -> bool:
        """A rule scores satisfaction (满意率): a line assessed by this scheme needs its
        post-call survey on (the routing config's ``line.survey_required``)."""
        return any(rule.kpi is CallKpi.SATISFACTION for rule in self.rules)

    @model_validator(mode="after")
    def _consistent(self) -> Scheme:
        check_month(self.valid_from)
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids must be unique: {ids}")
        mins = [t.min_points for t in self.payment_tiers]
        if mins != sorted(mins, reverse=True):
            raise ValueError("payment_tiers must be ordered by min_points, highest first")
        for band in self.tail_curve:
            if band.down_to >= band.below:
                raise ValueError("a tail_curve band must have down_to < below")
        uses_points = any(r.unit is OutcomeUnit.POINTS for r in self.rules)
        if uses_points and self.base_points is None:
            raise ValueError("a scheme with point rules needs base_points")
        return self

"""Wire models of the assessment API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kpi.assessment.scheme import PERCENT_LIMITED, ExternalInput


class CountingOut(BaseModel):
    per_call: bool = Field(description="a caller counted once across overflow queues")
    service_level_s: int
    sl_clock: str = Field(
        description="system: from the call's entry into the system (its first queue entry "
        "minus the IVR's since_start_s at its queue step; no IVR step: its first queue "
        "entry); queue: from each queue entry"
    )
    short_abandon_s: int
    satisfied_keys: list[int]
    monthly_average: str
    acw_max_s: dict[str, int]
    acw_max_s_default: int


class RuleOut(BaseModel):
    id: str
    label: str
    kpi: str
    unit: str
    figure: Decimal | None
    numerator: int | None
    denominator: int | None
    target: str
    passed: bool | None
    steps: Decimal
    outcome: Decimal
    outcome_unit: str
    tier: str | None
    words: str = Field(description="the arithmetic in words (zh-CN)")
    other_reading: Decimal | None = Field(
        description="the other 月平均 reading (pooled vs mean of daily ratios)"
    )
    exclusions: list[str]
    entries: dict[str, str] = Field(
        default_factory=dict, description="drill-down: the entries behind numerator/denominator"
    )


class TotalOut(BaseModel):
    unit: str
    penalties: Decimal
    rewards: Decimal
    penalties_capped: Decimal
    rewards_capped: Decimal
    net: Decimal
    words: str


class OutageOut(BaseModel):
    day: date
    reason: str
    active: bool
    marked_by: str
    marked_at: datetime


class AssessmentOut(BaseModel):
    scheme: str
    label: str
    month: str
    version_valid_from: str
    version_created_by: str | None
    start: datetime
    end: datetime
    line: str | None
    counting: CountingOut
    rules: list[RuleOut]
    totals: list[TotalOut]
    score: Decimal | None
    payment_pct: Decimal | None
    tail_loss_pct: Decimal | None
    contract_money: Decimal | None
    summary: str
    inputs: dict[str, Decimal]
    outage_days: list[OutageOut]


class MonthScoreOut(BaseModel):
    month: str
    score: Decimal
    link: str = Field(description="the month's assessment")


class TailBandOut(BaseModel):
    below: Decimal
    down_to: Decimal
    pct_per_point: Decimal


class AnnualOut(BaseModel):
    """年度得分与尾款: the mean of the months' scores and the tail payment it costs."""

    scheme: str
    label: str
    year: int
    line: str | None
    months: list[MonthScoreOut] = Field(description="the months counted (ended ones only)")
    annual_score: Decimal | None
    tail_curve: list[TailBandOut]
    tail_loss_pct: Decimal | None = Field(description="percent of the tail payment lost")
    tail_paid_pct: Decimal | None
    words: str


class InputsIn(BaseModel):
    """Figures of a month; ``null`` withdraws one. Each ≥ 0; percentages ≤ 100."""

    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped

    values: dict[ExternalInput, Decimal | None] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _in_range(
        cls, values: dict[ExternalInput, Decimal | None]
    ) -> dict[ExternalInput, Decimal | None]:
        for key, value in values.items():
            if value is None:
                continue
            if not value.is_finite() or value < 0:
                raise ValueError(f"{key.value} must be a number >= 0, got {value}")
            if key in PERCENT_LIMITED and value > 100:
                raise ValueError(f"{key.value} is a percentage (0-100), got {value}")
            if value > Decimal("1e12"):
                raise ValueError(f"{key.value} is too large: {value}")
        return values


class InputEntryOut(BaseModel):
    key: str
    value: Decimal | None
    entered_by: str
    entered_at: datetime


class InputsOut(BaseModel):
    month: str
    current: dict[str, Decimal]
    history: list[InputEntryOut]


class OutageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    reason: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class GapDayOut(BaseModel):
    day: datetime
    node: str
    reason: str
    seconds: int
    gaps: int


class OutagesOut(BaseModel):
    month: str
    active: list[OutageOut]
    history: list[OutageOut]
    proposals: list[GapDayOut] = Field(
        description="days on which callctl saw gaps of its own (AMI cut, Asterisk or callctl down)"
    )

"""The schemes of the seed contracts (kpi-definitions.md section 4), shipped as presets.

A stored scheme of the same name replaces a preset from its ``valid_from`` month on.
"""

from __future__ import annotations

from decimal import Decimal as D

from kpi.assessment.scheme import (
    CallKpi,
    Counting,
    CurveBand,
    Direction,
    Exclusions,
    ExternalInput,
    OutcomeUnit,
    PaymentTier,
    Rounding,
    Scheme,
    StepRule,
    Tier,
    TierRule,
)

GE, LE = Direction.AT_LEAST, Direction.AT_MOST
YUAN, POINTS, PCT = OutcomeUnit.YUAN, OutcomeUnit.POINTS, OutcomeUnit.CONTRACT_PCT

XIAOSHAN = Scheme(
    name="xiaoshan",
    label="萧山区12345月度考核",
    label_en="Xiaoshan monthly assessment",
    counting=Counting(sl_clock="system", monthly_average="pooled"),
    rules=(
        StepRule(id="answer_rate", label="人工接通率", kpi=CallKpi.ANSWER_RATE, target=D(90),
                 direction=GE, step=D(1), unit=YUAN, penalty_per_step=D(1000)),
        StepRule(id="service_level", label="15秒接通率", kpi=CallKpi.SERVICE_LEVEL, target=D(90),
                 direction=GE, step=D(1), unit=YUAN, penalty_per_step=D(500)),
        # "每超过180秒，扣减300元": each started 180 s above the target costs ¥300.
        StepRule(id="avg_acw", label="平均事后处理时间", kpi=CallKpi.AVG_ACW_S, target=D(180),
                 direction=LE, step=D(180), rounding=Rounding.CEIL, unit=YUAN,
                 penalty_per_step=D(300)),
        StepRule(id="qa_error_rate", label="受理质量差错率", kpi=ExternalInput.QA_ERROR_RATE,
                 target=D(2), direction=LE, step=D(1), unit=YUAN, penalty_per_step=D(300)),
        StepRule(id="complaints", label="效能投诉率", kpi=ExternalInput.COMPLAINTS, target=D(1),
                 direction=LE, step=D(1), rounding=Rounding.CEIL, unit=YUAN,
                 penalty_per_step=D(500), cases_per=10_000),
        StepRule(id="returned_orders", label="交办单退回率",
                 kpi=ExternalInput.RETURNED_ORDER_RATE, target=D(2), direction=LE, step=D(1),
                 unit=YUAN, penalty_per_step=D(300)),
        StepRule(id="satisfaction", label="受理质量满意率", kpi=CallKpi.SATISFACTION,
                 target=D(97), direction=GE, step=D(1), unit=YUAN),
    ),
)  # fmt: skip

HAIKOU = Scheme(
    name="haikou",
    label="海口12345月度考核",
    label_en="Haikou monthly assessment",
    counting=Counting(per_call=True),
    base_points=D(100),
    rules=(
        StepRule(id="answer_rate", label="接通率", kpi=CallKpi.ANSWER_RATE, target=D(95),
                 direction=GE, step=D(1), unit=POINTS, penalty_per_step=D(1),
                 penalty_cap=D(13)),
        StepRule(id="utilisation", label="工时有效利用率", kpi=CallKpi.UTILISATION, target=D(70),
                 direction=GE, step=D(1), unit=POINTS, penalty_per_step=D("0.2"),
                 penalty_cap=D(2)),
        StepRule(id="satisfaction", label="热线员服务满意度", kpi=CallKpi.SATISFACTION,
                 target=D(95), direction=GE, step=D(1), unit=POINTS,
                 penalty_per_step=D("0.5"), penalty_cap=D(2), reward_per_step=D("0.2"),
                 reward_cap=D(1)),
    ),
    payment_tiers=(
        PaymentTier(min_points=D(90), pay_pct=D(100)),
        PaymentTier(min_points=D(80), pay_pct=D(85)),
        PaymentTier(min_points=D(70), pay_pct=D(70)),
        PaymentTier(min_points=D(60), pay_pct=D(50)),
    ),
)  # fmt: skip


def _rate_tiers(excellent: D | None, passing: D) -> tuple[Tier, ...]:
    tiers = [] if excellent is None else [
        Tier(name="excellent", label="优异", at_least=excellent, outcome=D("0.5"))
    ]  # fmt: skip
    tiers.append(Tier(name="pass", label="合格", at_least=passing, outcome=D(0)))
    tiers.append(Tier(name="fail", label="不合格", at_least=None, outcome=D("-0.5")))
    return tuple(tiers)


SHENYANG = Scheme(
    name="shenyang",
    label="沈阳12345核心服务指标月度考核",
    label_en="Shenyang monthly assessment",
    rules=(
        TierRule(id="answer_rate", label="接通率", kpi=CallKpi.ANSWER_RATE, unit=PCT,
                 pass_tier="pass", tiers=(
                     Tier(name="pass", label="合格", at_least=D(97), outcome=D(0)),
                     Tier(name="fail", label="不合格", at_least=D(95), outcome=D("-0.5")),
                     Tier(name="severe", label="严重不合格", at_least=None, outcome=D(-1)),
                 )),
        TierRule(id="satisfaction", label="话务好评率", kpi=CallKpi.SATISFACTION, unit=PCT,
                 pass_tier="pass", ranking_after=7, tiers=(
                     Tier(name="excellent", label="优异", at_least=D(99), outcome=D("0.5")),
                     Tier(name="pass", label="合格", at_least=D(98), outcome=D(0)),
                     Tier(name="fail", label="不合格",
                          at_least=ExternalInput.PROVINCIAL_SATISFACTION_LINE,
                          outcome=D("-0.5")),
                     Tier(name="severe", label="严重不合格", at_least=None, outcome=D(-1)),
                 )),
        TierRule(id="instant_transfer", label="即时转办率",
                 kpi=ExternalInput.INSTANT_TRANSFER_RATE, unit=PCT, pass_tier="pass",
                 ranking_after=7, tiers=_rate_tiers(D(100), D(99))),
        TierRule(id="on_time_feedback", label="按时反馈率",
                 kpi=ExternalInput.ON_TIME_FEEDBACK_RATE, unit=PCT, pass_tier="pass",
                 ranking_after=7, tiers=_rate_tiers(D(100), D(99))),
    ),
    penalty_caps={PCT: D("1.5")},
    reward_caps={PCT: D("1.5")},
    exclusions=Exclusions(outage_days=True, surge_ratio=D("1.2")),
)  # fmt: skip

SICHUAN = Scheme(
    name="sichuan",
    label="四川12345月度考核",
    label_en="Sichuan monthly assessment",
    base_points=D(100),
    rules=(
        StepRule(id="review_error_rate", label="工单初审差错率",
                 kpi=ExternalInput.REVIEW_ERROR_RATE, target=D(3), direction=LE, step=D(1),
                 rounding=Rounding.CEIL, unit=POINTS, penalty_per_step=D("0.5"),
                 penalty_cap=D(10)),
        StepRule(id="dispatch_accuracy", label="派单准确率",
                 kpi=ExternalInput.DISPATCH_ACCURACY, target=D(97), direction=GE, step=D(1),
                 rounding=Rounding.FLOOR, unit=POINTS, penalty_per_step=D(1),
                 penalty_cap=D(10)),
        StepRule(id="callback_rate", label="回访率", kpi=ExternalInput.CALLBACK_RATE,
                 target=D(90), direction=GE, step=D(1), rounding=Rounding.FLOOR, unit=POINTS,
                 penalty_per_step=D("0.2"), penalty_cap=D(10)),
    ),
    tail_curve=(
        CurveBand(below=D(90), down_to=D(80), pct_per_point=D(1)),
        CurveBand(below=D(80), down_to=D(70), pct_per_point=D(3)),
        CurveBand(below=D(70), down_to=D(60), pct_per_point=D(6)),
    ),
)  # fmt: skip

PRESETS: dict[str, Scheme] = {s.name: s for s in (XIAOSHAN, HAIKOU, SHENYANG, SICHUAN)}

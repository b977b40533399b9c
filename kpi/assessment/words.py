"""The arithmetic of an assessment in words (zh-CN), so that a figure can be checked by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from kpi.assessment.scheme import (
    CALL_UNITS,
    EXTERNAL_UNITS,
    CallKpi,
    CurveBand,
    Direction,
    ExternalInput,
    OutcomeUnit,
    Rounding,
    Scheme,
    StepRule,
    Tier,
    TierRule,
    Unit,
)

UNIT_SUFFIX = {Unit.PERCENT: "%", Unit.PERMILLE: "‰", Unit.SECONDS: " 秒", Unit.COUNT: ""}
STEP_NAME = {Unit.PERCENT: "个百分点", Unit.PERMILLE: "‰", Unit.SECONDS: " 秒", Unit.COUNT: " 件"}
OUTCOME_NAME = {
    OutcomeUnit.POINTS: "分",
    OutcomeUnit.YUAN: "元",
    OutcomeUnit.CONTRACT_PCT: "%（占合同总金额）",
}
ROUNDING_NAME = {
    Rounding.FLOOR: "不足一档不计（向下取整）",
    Rounding.CEIL: "不足一档按一档计（向上取整）",
    Rounding.EXACT: "按实际比例计，结果四舍五入保留两位小数",
}


def _unit(rule: StepRule | TierRule) -> Unit:
    kpi = rule.kpi
    return CALL_UNITS[kpi] if isinstance(kpi, CallKpi) else EXTERNAL_UNITS[kpi]


def num(value: Decimal | Fraction) -> str:
    """A number as written: trailing zeros of the decimals dropped (1.50 → 1.5, 13.00 → 13)."""
    d = value if isinstance(value, Decimal) else Decimal(value.numerator) / value.denominator
    text = f"{d.quantize(Decimal('0.0001')):f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fig(value: Decimal, unit: Unit) -> str:
    return f"{value:.2f}{UNIT_SUFFIX[unit]}"


def target_text(rule: StepRule | TierRule) -> str:
    unit = _unit(rule)
    if isinstance(rule, TierRule):
        parts = []
        for tier in rule.tiers:
            if tier.at_least is None:
                parts.append(f"{tier.label}：以下")
            elif isinstance(tier.at_least, ExternalInput):
                parts.append(f"{tier.label}：≥{tier.at_least.value}（录入）")
            else:
                parts.append(f"{tier.label}：≥{fig(tier.at_least, unit)}")
        return "；".join(parts)
    if rule.cases_per is not None:
        return f"≤ 每 {rule.cases_per:,} 件 {num(rule.target)} 件"
    sign = "≥" if rule.direction is Direction.AT_LEAST else "≤"
    return f"{sign}{fig(rule.target, unit)}"


def step_words(
    rule: StepRule,
    figure: Decimal,
    gap: Fraction,
    steps: Decimal,
    outcome: Decimal,
    allowance: Fraction | None,
) -> str:
    unit = _unit(rule)
    what = OUTCOME_NAME[rule.unit]
    if allowance is not None:
        head = (
            f"{rule.label}：{num(figure)} 件，允许 {num(allowance)} 件"
            f"（{num(rule.target)}/{rule.cases_per:,} × 分母）"
        )
        step_name = " 件"
    else:
        head = f"{rule.label}：{fig(figure, unit)}，目标 {target_text(rule)}"
        step_name = STEP_NAME[unit]
    if gap == 0 or (gap < 0 and not rule.reward_per_step):
        return f"{head}，达标，不扣{'' if not rule.reward_per_step else '不奖'}。"
    if gap < 0:
        cap = "" if rule.reward_cap is None else f"，最多加 {num(rule.reward_cap)} {what}"
        return (
            f"{head}，高于目标 {num(-gap)}{step_name}；每高 {num(rule.step)}{step_name}"
            f"加 {num(rule.reward_per_step)} {what}（{ROUNDING_NAME[rule.rounding]}）："
            f"{num(steps)} × {num(rule.reward_per_step)} = 加 {num(outcome)} {what}{cap}。"
        )
    side = "超出" if allowance is not None or rule.direction is Direction.AT_MOST else "低于目标"
    each = "每多" if allowance is not None or rule.direction is Direction.AT_MOST else "每低"
    cap = "" if rule.penalty_cap is None else f"，本项最多扣 {num(rule.penalty_cap)} {what}"
    return (
        f"{head}，{side} {num(gap)}{step_name}；{each} {num(rule.step)}{step_name}"
        f"扣 {num(rule.penalty_per_step)} {what}（{ROUNDING_NAME[rule.rounding]}）："
        f"{num(steps)} × {num(rule.penalty_per_step)}，扣 {num(-outcome)} {what}{cap}。"
    )


def tier_words(
    rule: TierRule,
    figure: Decimal,
    tier: Tier,
    demoted: bool,
    ranking: Decimal | None,
    external: Mapping[ExternalInput, Decimal],
) -> str:
    unit = _unit(rule)
    what = OUTCOME_NAME[rule.unit]
    text = f"{rule.label}：{fig(figure, unit)}，档位标准 {target_text(rule)}；评为「{tier.label}」"
    if demoted and ranking is not None:
        text += f"（全省排名第 {num(ranking)} 名，在第 {rule.ranking_after} 名以后，不高于不合格）"
    missing = [
        t.label
        for t in rule.tiers
        if isinstance(t.at_least, ExternalInput) and t.at_least not in external
    ]
    if missing:
        text += f"（{'、'.join(missing)}的标准未录入，该档不评）"
    if tier.outcome > 0:
        return f"{text}，奖励 {num(tier.outcome)} {what}。"
    if tier.outcome < 0:
        return f"{text}，扣罚 {num(-tier.outcome)} {what}。"
    return f"{text}，不奖不扣。"


def total_words(
    unit: OutcomeUnit,
    penalties: Decimal,
    rewards: Decimal,
    penalty_cap: Decimal | None,
    reward_cap: Decimal | None,
    net: Decimal,
) -> str:
    what = OUTCOME_NAME[unit]
    text = f"扣罚合计 {num(-penalties)} {what}"
    if penalty_cap is not None:
        capped = "，超出上限，按上限计" if -penalties > penalty_cap else ""
        text += f"（上限 {num(penalty_cap)} {what}{capped}）"
    text += f"，奖励合计 {num(rewards)} {what}"
    if reward_cap is not None:
        capped = "，超出上限，按上限计" if rewards > reward_cap else ""
        text += f"（上限 {num(reward_cap)} {what}{capped}）"
    return f"{text}；扣罚与奖励分别封顶，净额 {num(net)} {what}。"


def summary_words(
    scheme: Scheme,
    score: Decimal | None,
    payment: Decimal | None,
    tail: Decimal | None,
    totals: Mapping[OutcomeUnit, object],
    money: Decimal | None,
    external: Mapping[ExternalInput, Decimal],
) -> str:
    parts = [f"{scheme.label}"]
    if score is not None:
        other = external.get(ExternalInput.OTHER_DEDUCTIONS, Decimal(0))
        added = external.get(ExternalInput.OTHER_ADDITIONS, Decimal(0))
        parts.append(
            f"得分 {num(score)} 分（基础分 {num(scheme.base_points or Decimal(0))}，"
            f"人工评定项扣 {num(other)} 分、加 {num(added)} 分）"
        )
    if payment is not None:
        parts.append(f"当月服务费支付比例 {num(payment)}%")
    if tail is not None:
        parts.append(f"若全年平均分同此，合同尾款扣减 {num(tail)}%")
    if money is not None:
        parts.append(f"按合同总金额折合 {num(money)} 元")
    return "；".join(parts) + "。"


def annual_words(
    scores: Sequence[tuple[str, Decimal]], score: Decimal | None, bands: Sequence[CurveBand],
    loss: Decimal | None,
) -> str:  # fmt: skip
    """The year's score and the tail payment lost, band by band (Sichuan)."""
    if score is None:
        return "本年度尚无已结束月份的得分，年度得分与尾款无法计算。"
    listed = " + ".join(num(s) for _, s in scores)
    text = (
        f"年度得分 = 各月得分的算术平均 = ({listed}) ÷ {len(scores)} = {num(score)} 分"
        "（四舍五入保留两位小数）"
    )
    if loss is None:
        return text + "；本方案无尾款曲线。"
    lowest = min((b.down_to for b in bands), default=Decimal(0))
    if score < lowest:
        return text + f"；低于 {num(lowest)} 分，尾款全部扣除（扣减 100%，支付 0%）。"
    parts = []
    for band in bands:
        points = band.below - min(band.below, max(band.down_to, score))
        if points > 0:
            parts.append(
                f"{num(band.below)}–{num(band.down_to)} 分段 {num(points)} 分 × "
                f"{num(band.pct_per_point)}% = {num(points * band.pct_per_point)}%"
            )
    if not parts:
        return text + f"；不低于 {num(max(b.below for b in bands))} 分，尾款全额支付（扣减 0%）。"
    return (
        text + "；尾款按分段累进扣减：" + "，".join(parts)
        + f"，合计扣减 {num(loss)}%，支付 {num(Decimal(100) - loss)}%。"
    )  # fmt: skip

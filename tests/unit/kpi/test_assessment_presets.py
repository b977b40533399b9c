"""Each preset's arithmetic (kpi-definitions.md section 4) on hand-made months, with boundaries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from kpi.agent_time import AgentTimeCounters
from kpi.assessment.curves import annual_score, tail_loss
from kpi.assessment.evaluate import Assessment, RuleResult, evaluate
from kpi.assessment.measure import DayCounters, measure_month
from kpi.assessment.presets import HAIKOU, SHENYANG, SICHUAN, XIAOSHAN
from kpi.assessment.scheme import ExternalInput, OutcomeUnit, Scheme
from kpi.counters import WAIT_BUCKETS, KpiCounters
from kpi.inputs import KpiParams

X = ExternalInput


def counters(
    answered: int,
    offered: int,
    *,
    slow: int = 0,
    acw: tuple[int, int] = (0, 0),
    survey: tuple[int, int] = (0, 0),
) -> KpiCounters:
    """``answered`` of ``offered`` (the rest timed out); ``slow`` answered after 30 s;
    ``acw`` = (answered with ACW known, their summed ACW);
    ``survey`` = (satisfied, dissatisfied)."""
    hist = [0] * WAIT_BUCKETS
    hist[0], hist[30] = answered - slow, slow
    keys = [0] * 10
    keys[1], keys[3] = survey
    return KpiCounters(
        answered=answered, timed_out=offered - answered, answered_wait_hist=tuple(hist),
        n_acw=acw[0], sum_acw=acw[1], survey_by_key=tuple(keys),
    )  # fmt: skip


def day(n: int, c: KpiCounters, **extra: object) -> DayCounters:
    return DayCounters(date(2026, 3, n), c, **extra)  # type: ignore[arg-type]


def assess(
    scheme: Scheme, days: list[DayCounters], external: dict[ExternalInput, D] | None = None
) -> Assessment:
    external = external or {}
    figures = measure_month(days, scheme, KpiParams(), external)
    return evaluate(scheme, "2026-03", figures, external)


def rule(result: Assessment, rule_id: str) -> RuleResult:
    return next(r for r in result.rules if r.rule_id == rule_id)


def total(result: Assessment, unit: OutcomeUnit) -> D:
    return next(t.net for t in result.totals if t.unit is unit)


# --- Haikou -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answered", "figure", "outcome"),
    [
        (9500, D("95.00"), D(0)),
        (9400, D("94.00"), D("-1.00")),
        (9399, D("93.99"), D("-1.01")),  # the contract is silent: in proportion, half-up
        (8000, D("80.00"), D("-13")),  # 15 points below, the item is worth 13
    ],
)
def test_haikou_answer_rate_boundaries(answered: int, figure: D, outcome: D) -> None:
    result = assess(HAIKOU, [day(1, counters(answered, 10_000))])
    r = rule(result, "answer_rate")
    assert (r.figure, r.outcome, r.numerator, r.denominator) == (figure, outcome, answered, 10_000)
    assert r.passed is (outcome == 0)
    assert result.score == D(100) + outcome


@pytest.mark.parametrize(
    ("satisfied", "outcome"),
    [(950, D(0)), (970, D("0.4")), (1000, D(1)), (930, D("-1")), (900, D("-2"))],
)
def test_haikou_satisfaction_reward_and_penalty_caps(satisfied: int, outcome: D) -> None:
    c = counters(1000, 1000, survey=(satisfied, 1000 - satisfied))
    r = rule(assess(HAIKOU, [day(1, c)]), "satisfaction")
    assert r.outcome == outcome


def test_haikou_utilisation_and_payment_tiers() -> None:
    time = AgentTimeCounters(logged_in_s=10_000, talking_s=6_000, acw_s=850)  # 68.50%
    c = counters(9000, 10_000, survey=(950, 50))  # answer rate 90%: −5
    result = assess(HAIKOU, [day(1, c, agent_time=time)])
    assert rule(result, "utilisation").outcome == D("-0.30")
    assert result.score == D("94.70")
    assert result.payment_pct == D(100)
    for deductions, pay in (
        ("4.70", 100),
        ("4.71", 85),
        ("14.71", 70),
        ("24.70", 70),
        ("24.71", 50),
        ("34.71", 0),
    ):
        r = assess(HAIKOU, [day(1, c, agent_time=time)], {X.OTHER_DEDUCTIONS: D(deductions)})
        assert r.payment_pct == D(pay), deductions
    assert "得分" in result.summary and "支付比例 100%" in result.summary


# --- Xiaoshan ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acw_sum", "outcome"), [(180_000, 0), (181_000, -300), (360_000, -300), (361_000, -600)]
)
def test_xiaoshan_acw_180_vs_181(acw_sum: int, outcome: int) -> None:
    c = counters(1000, 1000, acw=(1000, acw_sum), survey=(97, 3))
    r = rule(assess(XIAOSHAN, [day(1, c)]), "avg_acw")
    assert r.outcome == D(outcome)
    assert r.figure == D(acw_sum) / 1000


def test_xiaoshan_money_rules_and_inputs() -> None:
    c = counters(885, 1000, slow=14, acw=(885, 885 * 100), survey=(96, 4))
    external = {
        X.QA_ERROR_RATE: D("2.5"), X.COMPLAINTS: D(3), X.ACCEPTED_ORDERS: D(25_000),
        X.RETURNED_ORDER_RATE: D(2),
    }  # fmt: skip
    result = assess(XIAOSHAN, [day(1, c)], external)
    outcomes = {r.rule_id: r.outcome for r in result.rules}
    assert outcomes == {
        "answer_rate": D(-1500),  # 88.50%: 1.5 points below × ¥1,000
        "service_level": D(-1450),  # 87.10%: 2.9 points below × ¥500
        "avg_acw": D(0),
        "qa_error_rate": D(-150),  # 2.5‰: 0.5‰ above × ¥300
        "complaints": D(-500),  # 3 cases, 2.5 allowed: each further (started) case ¥500
        "returned_orders": D(0),
        "satisfaction": D(0),  # 96% misses 97% but carries no money
    }
    assert rule(result, "satisfaction").passed is False
    assert total(result, OutcomeUnit.YUAN) == D(-3600)
    assert "扣 1500 元" in rule(result, "answer_rate").words


def test_xiaoshan_pooled_by_default_daily_mean_shown_beside() -> None:
    days = [day(1, counters(50, 100)), day(2, counters(990, 1000))]
    r = rule(assess(XIAOSHAN, days), "answer_rate")
    assert (r.figure, r.other_reading) == (D("94.55"), D("74.50"))
    daily = XIAOSHAN.model_copy(
        update={"counting": XIAOSHAN.counting.model_copy(update={"monthly_average": "daily_mean"})}
    )
    r = rule(assess(daily, days), "answer_rate")
    assert (r.figure, r.other_reading, r.outcome) == (D("74.50"), D("94.55"), D(-15500))


# --- Shenyang ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answered", "tier", "outcome"),
    [(9700, "pass", 0), (9699, "fail", D("-0.5")), (9500, "fail", D("-0.5")),
     (9499, "severe", -1)],
)  # fmt: skip
def test_shenyang_answer_rate_tiers(answered: int, tier: str, outcome: D) -> None:
    r = rule(assess(SHENYANG, [day(1, counters(answered, 10_000))]), "answer_rate")
    assert (r.tier, r.outcome) == (tier, outcome)


def test_shenyang_penalties_over_cap_rewards_under_capped_separately() -> None:
    c = counters(940, 1000, survey=(995, 5))  # answer rate severe −1, satisfaction excellent +0.5
    external = {
        X.INSTANT_TRANSFER_RATE: D(98), X.ON_TIME_FEEDBACK_RATE: D("98.5"),  # fail, fail
        X.CONTRACT_AMOUNT: D(10_000_000),
    }  # fmt: skip
    result = assess(SHENYANG, [day(1, c)], external)
    t = next(t for t in result.totals if t.unit is OutcomeUnit.CONTRACT_PCT)
    assert (t.penalties, t.penalties_capped) == (D(-2), D("-1.5"))
    assert (t.rewards, t.rewards_capped) == (D("0.5"), D("0.5"))
    assert t.net == D("-1.00")  # not max(-1.5, -2 + 0.5)
    assert result.contract_money == D(-100_000)
    assert "按上限计" in t.words


def test_shenyang_rewards_over_cap() -> None:
    c = counters(980, 1000, survey=(995, 5))
    external = {X.INSTANT_TRANSFER_RATE: D(100), X.ON_TIME_FEEDBACK_RATE: D(100)}
    t = assess(SHENYANG, [day(1, c)], external).totals[0]
    assert (t.rewards, t.rewards_capped, t.net) == (D("1.5"), D("1.5"), D("1.50"))
    more = SHENYANG.model_copy(update={"reward_caps": {OutcomeUnit.CONTRACT_PCT: D(1)}})
    t = assess(more, [day(1, c)], external).totals[0]
    assert (t.rewards_capped, t.net) == (D(1), D("1.00"))


def test_shenyang_ranking_after_seventh_demotes_and_provincial_line() -> None:
    c = counters(980, 1000, survey=(995, 5))
    r = rule(assess(SHENYANG, [day(1, c)], {X.PROVINCIAL_RANKING: D(8)}), "satisfaction")
    assert (r.tier, r.outcome) == ("fail", D("-0.5"))
    r = rule(assess(SHENYANG, [day(1, c)], {X.PROVINCIAL_RANKING: D(7)}), "satisfaction")
    assert r.tier == "excellent"
    low = counters(980, 1000, survey=(960, 40))  # 96%
    r = rule(assess(SHENYANG, [day(1, low)]), "satisfaction")
    assert r.tier == "fail" and "未录入" in r.words
    r = rule(
        assess(SHENYANG, [day(1, low)], {X.PROVINCIAL_SATISFACTION_LINE: D(97)}), "satisfaction"
    )
    assert (r.tier, r.outcome) == ("severe", D(-1))


def test_shenyang_outage_day_dropped_only_where_it_failed() -> None:
    good = counters(990, 1000)
    outage_bad = day(2, counters(500, 1000), outage_reason="停电")
    month = [day(1, good), outage_bad, day(3, good)]
    r = rule(assess(SHENYANG, month), "answer_rate")
    assert (r.numerator, r.denominator, r.tier) == (1980, 2000, "pass")
    assert any("不计入考核" in n for n in r.notes)
    outage_ok = day(2, counters(980, 1000), outage_reason="系统原因")
    r = rule(assess(SHENYANG, [day(1, good), outage_ok]), "answer_rate")
    assert (r.numerator, r.denominator) == (1970, 2000)
    assert any("照常计入" in n for n in r.notes)
    # Xiaoshan has no such exclusion: the outage day counts.
    r = rule(assess(XIAOSHAN, month), "answer_rate")
    assert (r.numerator, r.denominator) == (2480, 3000)


def test_shenyang_surge_day_counts_its_first_entries_only_where_it_failed() -> None:
    surge = day(1, counters(900, 1300), surge_counters=counters(1170, 1200), last_year_entries=1000)
    r = rule(assess(SHENYANG, [surge]), "answer_rate")
    assert (r.numerator, r.denominator) == (1170, 1200)
    assert any("只计前 1200 个进线" in n for n in r.notes)
    fine = day(1, counters(1290, 1300), surge_counters=counters(1195, 1200), last_year_entries=1000)
    r = rule(assess(SHENYANG, [fine]), "answer_rate")
    assert (r.numerator, r.denominator) == (1290, 1300)


# --- Sichuan ----------------------------------------------------------------------------


def test_sichuan_floor_and_ceil() -> None:
    external = {X.CALLBACK_RATE: D("87.5"), X.DISPATCH_ACCURACY: D("95.5"),
                X.REVIEW_ERROR_RATE: D("3.2")}  # fmt: skip
    result = assess(SICHUAN, [day(1, counters(1, 1))], external)
    outcomes = {r.rule_id: r.outcome for r in result.rules}
    assert outcomes == {
        "callback_rate": D("-0.4"),  # 2.5 below, floor: 2 × 0.2
        "dispatch_accuracy": D(-1),  # 1.5 below, floor: 1 × 1
        "review_error_rate": D("-0.5"),  # 0.2 above, ceil: 1 × 0.5
    }
    assert result.score == D("98.10")
    assert result.tail_loss_pct == D(0)
    exact = {X.CALLBACK_RATE: D(90), X.DISPATCH_ACCURACY: D(97), X.REVIEW_ERROR_RATE: D(3)}
    assert assess(SICHUAN, [day(1, counters(1, 1))], exact).score == D(100)


@pytest.mark.parametrize(
    ("score", "lost"),
    [("95", "0"), ("90", "0"), ("85.5", "4.5"), ("80", "10"), ("75", "25"), ("70", "40"),
     ("65", "70"), ("60", "100"), ("59.99", "100"), ("0", "100")],
)  # fmt: skip
def test_sichuan_tail_curve_is_progressive(score: str, lost: str) -> None:
    assert tail_loss(D(score), SICHUAN.tail_curve) == D(lost)


def test_sichuan_annual_score_is_the_mean() -> None:
    assert annual_score([D(80), D(70), D("75.5")]) == D("75.17")
    assert annual_score([]) is None

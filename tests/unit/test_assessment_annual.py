"""The year's score and tail payment (Sichuan): which months count, and the words."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from callctl.assessment.service import year_months
from kpi.assessment.curves import annual_score, tail_loss
from kpi.assessment.presets import SICHUAN
from kpi.assessment.words import annual_words
from kpi.inputs import KpiParams


def test_the_months_of_an_ended_year_all_count() -> None:
    assert year_months(2025, None, date(2026, 3, 4)) == [f"2025-{m:02d}" for m in range(1, 13)]


def test_the_current_month_is_not_over_and_does_not_count() -> None:
    assert year_months(2026, None, date(2026, 3, 4)) == ["2026-01", "2026-02"]
    assert year_months(2026, "2026-12", date(2026, 3, 4)) == ["2026-01", "2026-02"]
    assert year_months(2027, None, date(2026, 3, 4)) == []


def test_through_stops_the_year_early_and_must_be_a_month_of_it() -> None:
    assert year_months(2025, "2025-03", date(2026, 3, 4)) == ["2025-01", "2025-02", "2025-03"]
    with pytest.raises(ValueError, match="a month of 2025"):
        year_months(2025, "2024-03", date(2026, 3, 4))
    with pytest.raises(ValueError):
        year_months(2025, "2025-13", date(2026, 3, 4))


def test_words_show_each_band_of_the_progressive_tail_loss() -> None:
    scores = [("2025-01", D(80)), ("2025-02", D(75)), ("2025-03", D(70))]
    score = annual_score([s for _, s in scores])
    assert score == D(75)
    loss = tail_loss(D(75), SICHUAN.tail_curve)
    text = annual_words(scores, score, SICHUAN.tail_curve, loss)
    assert "(80 + 75 + 70) ÷ 3 = 75 分" in text
    assert "90–80 分段 10 分 × 1% = 10%" in text
    assert "80–70 分段 5 分 × 3% = 15%" in text
    assert "合计扣减 25%，支付 75%" in text


def test_words_at_the_ends_of_the_curve() -> None:
    full = annual_words([("2025-01", D(95))], D(95), SICHUAN.tail_curve, D(0))
    assert "尾款全额支付" in full
    low = annual_words([("2025-01", D(50))], D(50), SICHUAN.tail_curve, D(100))
    assert "尾款全部扣除" in low
    assert "尚无已结束月份" in annual_words([], None, SICHUAN.tail_curve, None)


def test_sl_clock_is_queue_or_system() -> None:
    assert KpiParams().sl_clock == "queue"
    assert KpiParams(sl_clock="system").sl_clock == "system"
    with pytest.raises(ValueError, match="sl_clock"):
        KpiParams(sl_clock="wall")  # type: ignore[arg-type]

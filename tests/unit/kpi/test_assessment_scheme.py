"""Schemes as data: JSON round trip, refusals, and the arithmetic in words."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError

from kpi.assessment.evaluate import Measured, evaluate_step
from kpi.assessment.presets import HAIKOU, PRESETS, XIAOSHAN
from kpi.assessment.scheme import Scheme, StepRule, check_month


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name: str) -> None:
    scheme = PRESETS[name]
    assert Scheme.model_validate_json(scheme.model_dump_json()) == scheme


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-01", "2026-1", "2026-01-01"])
def test_bad_months_are_refused(month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        check_month(month)
    assert check_month("2026-12") == "2026-12"


def test_bad_schemes_are_refused() -> None:
    data = HAIKOU.model_dump(mode="json")
    data["rules"] = [data["rules"][0], data["rules"][0]]
    with pytest.raises(ValidationError, match="unique"):
        Scheme.model_validate(data)
    data = HAIKOU.model_dump(mode="json")
    data["base_points"] = None
    with pytest.raises(ValidationError, match="base_points"):
        Scheme.model_validate(data)
    data = XIAOSHAN.model_dump(mode="json")
    data["rules"][0]["target"] = "-1"
    with pytest.raises(ValidationError):
        Scheme.model_validate(data)
    data["rules"][0]["target"] = "90"
    data["rules"][0]["kpi"] = "nonsense"
    with pytest.raises(ValidationError):
        Scheme.model_validate(data)


def test_words_carry_the_arithmetic() -> None:
    rule = HAIKOU.rules[0]
    assert isinstance(rule, StepRule)

    result = evaluate_step(rule, Measured(Fraction(9399, 100), 9399, 10_000))
    assert result.words == (
        "接通率：93.99%，目标 ≥95.00%，低于目标 1.01个百分点；每低 1个百分点扣 1 分"
        "（按实际比例计，金额四舍五入保留两位小数）：1.01 × 1，扣 1.01 分，本项最多扣 13 分。"
    )
    met = evaluate_step(rule, Measured(Fraction(95), 95, 100))
    assert met.words.endswith("达标，不扣。") and met.outcome == Decimal(0)

"""Payment tiers (Haikou) and the progressive tail-payment curve (Sichuan)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from kpi.assessment.scheme import CurveBand, PaymentTier

CENT = Decimal("0.01")


def half_up(value: Decimal) -> Decimal:
    """Two decimals, halves away from zero: the default where a contract is silent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def payment_share(points: Decimal, tiers: Sequence[PaymentTier]) -> Decimal:
    """The share of the fee (percent) the month's points earn: the first tier reached."""
    for tier in tiers:
        if points >= tier.min_points:
            return tier.pay_pct
    return Decimal(0)


def tail_loss(score: Decimal, bands: Sequence[CurveBand]) -> Decimal:
    """Percent of the tail payment lost at ``score``, band by band like tax brackets.

    Sichuan: 75 loses 10 × 1% + 5 × 3% = 25%; 60 loses 10 + 30 + 60 = 100%; below the
    lowest band everything is lost. Never more than 100%.
    """
    if not bands:
        return Decimal(0)
    lost = Decimal(0)
    for band in bands:
        points = min(band.below, max(band.down_to, score))
        lost += (band.below - points) * band.pct_per_point
    if score < min(b.down_to for b in bands):
        lost = Decimal(100)
    return half_up(min(lost, Decimal(100)))


def annual_score(monthly: Sequence[Decimal]) -> Decimal | None:
    """The year's score: the arithmetic mean of the monthly scores (half-up, 2 decimals)."""
    if not monthly:
        return None
    return half_up(sum(monthly, Decimal(0)) / len(monthly))

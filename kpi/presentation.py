"""Exact fractions to the two-decimal figures shown in reports.

Rounding is done in integer arithmetic on the exact fraction, so a value that
sits exactly on a half (e.g. 1/8 = 12.5 %) always rounds up and nothing is
rounded twice (a Decimal division would first round to 28 digits).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from kpi.definitions import KpiSet

_PERCENT_FIELDS = ("answer_rate", "service_level", "abandon_rate", "satisfaction", "survey_take_up")
_SECONDS_FIELDS = ("asa_s", "avg_talk_s", "avg_acw_s", "avg_handle_s")
_COUNT_FIELDS = (
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "short_abandoned",
    "lost",
    "survey_answers",
    "survey_satisfied",
)


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """``value`` rounded to ``places`` decimals, halves away from zero (ROUND_HALF_UP)."""
    return _round_ratio_half_up(value.numerator, value.denominator, places)


def _round_ratio_half_up(numerator: int, denominator: int, places: int) -> Decimal:
    """``numerator / denominator`` (denominator > 0) as ``round_half_up`` rounds it; the
    ratio need not be in lowest terms (quotient and half test do not depend on that)."""
    quotient, remainder = divmod(abs(numerator) * 10**places, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return Decimal(-quotient if numerator < 0 else quotient).scaleb(-places)


def as_percent(value: Fraction | None) -> Decimal | None:
    """A ratio as a percentage with two decimals: 7/10 -> Decimal('70.00')."""
    # Scaled by 100 in integers: a Fraction product would reduce by a gcd for nothing.
    return (
        None if value is None else _round_ratio_half_up(value.numerator * 100, value.denominator, 2)
    )


def as_seconds(value: Fraction | None) -> Decimal | None:
    """A mean duration in seconds with two decimals: 93/7 -> Decimal('13.29')."""
    return None if value is None else round_half_up(value)


def present_kpis(kpis: KpiSet) -> dict[str, int | Decimal | None]:
    """All figures of a ``KpiSet`` as shown: counts, percentages, seconds."""
    shown: dict[str, int | Decimal | None] = {name: getattr(kpis, name) for name in _COUNT_FIELDS}
    shown.update({name: as_percent(getattr(kpis, name)) for name in _PERCENT_FIELDS})
    shown.update({name: as_seconds(getattr(kpis, name)) for name in _SECONDS_FIELDS})
    return shown

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
    return Decimal(_scaled_half_up(value.numerator, value.denominator, places)).scaleb(-places)


def _scaled_half_up(numerator: int, denominator: int, places: int) -> int:
    """``numerator / denominator`` (denominator > 0) times ``10**places``, rounded half
    away from zero to an integer; the ratio need not be in lowest terms (the quotient
    and the half test do not depend on that)."""
    scale: int = 10**places
    quotient, remainder = divmod(abs(numerator) * scale, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


def _percent_hundredths(value: Fraction) -> int:
    # Scaled by 100 in integers: a Fraction product would reduce by a gcd for nothing.
    return _scaled_half_up(value.numerator * 100, value.denominator, 2)


def _seconds_hundredths(value: Fraction) -> int:
    return _scaled_half_up(value.numerator, value.denominator, 2)


def as_percent(value: Fraction | None) -> Decimal | None:
    """A ratio as a percentage with two decimals: 7/10 -> Decimal('70.00')."""
    return None if value is None else Decimal(_percent_hundredths(value)).scaleb(-2)


def as_seconds(value: Fraction | None) -> Decimal | None:
    """A mean duration in seconds with two decimals: 93/7 -> Decimal('13.29')."""
    return None if value is None else Decimal(_seconds_hundredths(value)).scaleb(-2)


def present_kpis(kpis: KpiSet) -> dict[str, int | Decimal | None]:
    """All figures of a ``KpiSet`` as shown: counts, percentages, seconds."""
    shown: dict[str, int | Decimal | None] = {name: getattr(kpis, name) for name in _COUNT_FIELDS}
    shown.update({name: as_percent(getattr(kpis, name)) for name in _PERCENT_FIELDS})
    shown.update({name: as_seconds(getattr(kpis, name)) for name in _SECONDS_FIELDS})
    return shown


def present_kpis_as_numbers(kpis: KpiSet) -> dict[str, int | float | None]:
    """``present_kpis`` with each two-decimal figure as a JSON number (the live view).

    ``hundredths / 100`` is the double nearest the exact two-decimal value, which is
    what ``float()`` of the shown ``Decimal`` gives, without building the Decimal.
    """
    shown: dict[str, int | float | None] = {name: getattr(kpis, name) for name in _COUNT_FIELDS}
    for name in _PERCENT_FIELDS:
        value = getattr(kpis, name)
        shown[name] = None if value is None else _percent_hundredths(value) / 100
    for name in _SECONDS_FIELDS:
        value = getattr(kpis, name)
        shown[name] = None if value is None else _seconds_hundredths(value) / 100
    return shown
